from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from crm import parsing


class JSONParser(parsers.JSONParser):
    """DRF's parser, reading JSON by the importer's rule (crm.parsing.json_loads): a number no JSON
    column can hold (NaN, Infinity, 1e999) is refused wherever it is in the body, naming where, as is
    JSON nested deeper than Python's parser can follow."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            return parsing.json_loads(stream.read().decode(encoding))
        except RecursionError:
            raise ParseError(_("JSON parse error - nested too deeply")) from None
        except ValueError as exc:  # bad JSON, bad bytes for the charset, a number refused
            raise ParseError(_("JSON parse error - %(reason)s") % {"reason": exc}) from None
