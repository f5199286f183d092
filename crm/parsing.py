"""Pure parsers for imported values: each takes the raw text of a cell and returns the value to
store, or raises ValueError with a reason a person can act on. Shared by the CSV importer and
anything else that takes the same values.

Each rule is stated once. Text, decimals and date-times, the columns every large file has, are
stated over a column (`texts`, `decimals`, `datetimes`: the importer parses a file a batch's column
at a time, and a check over the whole column runs at C speed through map(), min() and max());
the per-cell parser is that rule over a column of one. A column that breaks a rule gives the
message of its first cell that does.
"""

import datetime as dt
import json
import math
import re
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from itertools import repeat
from operator import attrgetter

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

_TRUE = {"1", "true", "yes", "y", "t", "да", "д"}
_FALSE = {"0", "false", "no", "n", "f", "нет", "н", ""}
_GENDERS = {"m": "m", "male": "m", "м": "m", "муж": "m", "f": "f", "female": "f", "ж": "f", "жен": "f"}
_SPACES = re.compile(r"[\s\u00a0\u202f]")
_year = attrgetter("year")
_tzinfo = attrgetter("tzinfo")
_exponent = attrgetter("exponent")


@lru_cache(maxsize=1)
def iso_countries():
    # The tz database ships the ISO 3166-1 alpha-2 table; no need to keep our own copy.
    text = resources.files("tzdata").joinpath("zoneinfo/iso3166.tab").read_text(encoding="utf-8")
    return frozenset(line.split("\t", 1)[0] for line in text.splitlines() if line and not line.startswith("#"))


def text(value, max_length, required=False):
    return texts((value,), max_length, required)[0]


def texts(values, max_length, required=False):
    """`text` of each value of a column: stripped; not empty if `required`; at most `max_length` long."""
    stripped = list(map(str.strip, values))
    _refuse_first(stripped, stripped, lambda column: required and not all(column),
                  lambda value: _("required, but empty"))
    _refuse_first(stripped, stripped, lambda column: max(map(len, column)) > max_length,
                  lambda value: _("too long (%(length)d characters, at most %(max)d)")
                  % {"length": len(value), "max": max_length})
    return stripped


def boolean(value):
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(_("%(value)s is not yes/no (use 1/0, true/false, yes/no)") % {"value": repr(value)})


def decimal(value, max_digits, decimal_places, minimum=Decimal(0), allow_zero=True):
    return decimals((value,), max_digits, decimal_places, minimum, allow_zero)[0]


def decimals(values, max_digits, decimal_places, minimum=Decimal(0), allow_zero=True):
    """`decimal` of each value of a column: a number as spreadsheets write it (spaces between the
    thousands, a decimal comma), at least `minimum` (more than 0 unless `allow_zero`), with at
    most `decimal_places` places and `max_digits` digits in all."""
    joined = "".join(values)
    cleaned = list(map(_SPACES.sub, repeat(""), values)) if _SPACES.search(joined) else values
    if "," in joined:
        cleaned = list(map(_decimal_point, cleaned))
    numbers = _each(Decimal, cleaned, values, lambda value: _("%(value)s is not a number") % {"value": repr(value)})
    _refuse_first(values, numbers, lambda column: not all(map(Decimal.is_finite, column)),
                  lambda value: _("%(value)s is not a number") % {"value": repr(value)})
    below = _("%(value)s must be at least %(minimum)s") if allow_zero else _("%(value)s must be more than %(minimum)s")
    _refuse_first(values, numbers, lambda column: min(column) < minimum or (not allow_zero and 0 in column),
                  lambda value: below % {"value": repr(value), "minimum": minimum})
    _refuse_first(values, numbers,
                  lambda column: min(map(_exponent, map(Decimal.as_tuple, column))) < -decimal_places,
                  lambda value: _("%(value)s has more than %(places)d decimal places")
                  % {"value": repr(value), "places": decimal_places})
    limit = Decimal(10) ** (max_digits - decimal_places)
    _refuse_first(values, numbers, lambda column: max(map(abs, column)) >= limit,
                  lambda value: _("%(value)s is too large") % {"value": repr(value)})
    return numbers


def _decimal_point(text):
    """A decimal comma, as spreadsheets in Russia write it, becomes a point."""
    return text.replace(",", ".") if "," in text and "." not in text else text


def date(value):
    try:
        parsed = dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(_("%(value)s is not a date (use YYYY-MM-DD)") % {"value": repr(value)}) from None
    if parsed.year < 1900:
        raise ValueError(_("%(value)s is before 1900") % {"value": repr(value)})
    return parsed


def birth_date(value, today):
    """A date of birth: a `date`, and not after `today` (nobody is born in the future; such a date is a
    typo, and would make the client's age negative in every segment rule on age)."""
    parsed = date(value)
    if parsed > today:
        raise ValueError(_("%(value)s is in the future") % {"value": repr(value)})
    return parsed


def datetime(value, tz, now=None):
    """ISO 8601 date or datetime; a date or naive datetime is read in `tz`. Not in the future."""
    return datetimes((value,), tz, now)[0]


def datetimes(values, tz, now=None):
    """`datetime` of each value of a column: ISO 8601, from 1900 on, read in `tz` when it has no
    offset, not after `now` (when given)."""
    raws = list(map(str.strip, values))
    parsed = _each(dt.datetime.fromisoformat, raws, raws,
                   lambda raw: _("%(value)s is not an ISO 8601 date or date and time") % {"value": repr(raw)})
    _refuse_first(raws, parsed, lambda column: min(map(_year, column)) < 1900,
                  lambda raw: _("%(value)s is before 1900") % {"value": repr(raw)})
    if None in set(map(_tzinfo, parsed)):
        parsed = [value if value.tzinfo is not None else value.replace(tzinfo=tz) for value in parsed]
    if now is not None:
        _refuse_first(raws, parsed, lambda column: max(column) > now,
                      lambda raw: _("%(value)s is in the future") % {"value": repr(raw)})
    return parsed


def _each(function, items, values, message):
    """`function` of each item; ValueError(message(value)) for the value of the first item it refuses."""
    try:
        return list(map(function, items))
    except (ValueError, ArithmeticError):
        for item, value in zip(items, values):
            try:
                function(item)
            except (ValueError, ArithmeticError):
                raise ValueError(message(value)) from None
        raise


def _refuse_first(values, items, fails, message):
    """If the column of `items` (the parsed `values`) `fails` a test, such as `min(items) < 1900`,
    ValueError(message(value)) for the first value whose item fails it on its own."""
    if items and fails(items):
        for value, item in zip(values, items):
            if fails((item,)):
                raise ValueError(message(value))


def country(value):
    code = value.strip().upper()
    if code and code not in iso_countries():
        raise ValueError(_("%(value)s is not an ISO 3166-1 alpha-2 country code (e.g. RU, DE)")
                         % {"value": repr(value)})
    return code


def email(value):
    address = value.strip()
    if not address:
        return ""
    if len(address) > 254:
        raise ValueError(_("too long for an email address"))
    try:
        validate_email(address)
    except ValidationError:
        raise ValueError(_("%(value)s is not an email address") % {"value": repr(address)}) from None
    return address


def phone(value, region):
    """Stored in E.164 (+79123456789). A national number is read in the client's country."""
    raw = value.strip()
    if not raw:
        return ""
    try:
        number = phonenumbers.parse(raw, region or None)
    except phonenumbers.NumberParseException:
        raise ValueError(_("%(value)s is not a phone number") % {"value": repr(value)}) from None
    if not phonenumbers.is_possible_number(number):
        raise ValueError(_("%(value)s is not a possible phone number") % {"value": repr(value)})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def gender(value):
    lowered = value.strip().lower()
    if not lowered:
        return ""
    try:
        return _GENDERS[lowered]
    except KeyError:
        raise ValueError(_("%(value)s is not a gender (use m or f, or leave empty)") % {"value": repr(value)}) from None


def choice(value, choices, default):
    lowered = value.strip().lower()
    if not lowered:
        return default
    if lowered not in choices:
        raise ValueError(_("%(value)s is not one of: %(choices)s")
                         % {"value": repr(value), "choices": ", ".join(choices)})
    return lowered


def currency(value, default):
    code = value.strip().upper()
    if not code:
        return default
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise ValueError(_("%(value)s is not a currency code (e.g. RUB, EUR)") % {"value": repr(value)})
    return code


def json_object(value):
    raw = value.strip()
    if not raw:
        return {}
    try:
        parsed = json_loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(_("not valid JSON (%(reason)s at character %(position)d)") % {"reason": exc.msg,
                                                                              "position": exc.pos + 1}) from None
    except RecursionError:
        raise ValueError(_("JSON nested too deeply")) from None
    if "\\u0000" in raw:
        # PostgreSQL's jsonb cannot hold the NUL character; refuse it here rather than fail the batch there.
        raise ValueError(_("the NUL character (\\u0000) is not allowed"))
    if not isinstance(parsed, dict):
        raise ValueError(_("must be a JSON object such as {\"lesson\": 3}"))
    return parsed


def json_loads(text):
    """JSON as PostgreSQL's jsonb holds it, for a JSON column of a file and for the API's request bodies.

    Python's json reads NaN and Infinity, which are not JSON, and turns a number too large for a float
    (1e999) into infinity; jsonb refuses all three. They are refused here, by a ValueError naming the
    value and where it is (e.g. `events[3].properties.price`), rather than failing in the database.
    """
    try:
        return json.loads(text, parse_constant=_refuse_number, parse_float=_finite)
    except _NotStorable as exc:
        path = _where_first_refused(text)
        if not path:  # the whole text is that number
            raise ValueError(exc.args[0]) from None
        raise ValueError(_("%(problem)s (at %(path)s)") % {"problem": exc.args[0], "path": path}) from None


class _NotStorable(ValueError):
    pass


def _refuse_number(name):
    raise _NotStorable(_("%(value)s is not a JSON value") % {"value": name})


def _finite(text):
    number = float(text)
    if math.isinf(number):  # NaN is only ever a constant in JSON text, refused above
        shown = text if len(text) <= 20 else text[:20] + "..."
        raise _NotStorable(_("%(value)s is too large a number") % {"value": shown})
    return number


_REFUSED = object()


def _marking(parse):
    """`parse`, giving _REFUSED for a value it refuses."""

    def mark(raw):
        try:
            return parse(raw)
        except _NotStorable:
            return _REFUSED

    return mark


def _where_first_refused(text):
    """The path (`a.b[2]`) of the first value json_loads refuses in `text`, found by a second parse
    that marks it: only on the way to an error, so valid input is parsed once."""
    marked = json.loads(text, parse_constant=_marking(_refuse_number), parse_float=_marking(_finite))
    pending = [("", marked)]  # by hand rather than recursion: the value may be nested deeply
    while pending:
        path, value = pending.pop()
        if value is _REFUSED:
            return path
        if isinstance(value, dict):
            pending += reversed([(f"{path}.{key}" if path else key, item) for key, item in value.items()])
        elif isinstance(value, list):
            pending += reversed([(f"{path}[{index}]", item) for index, item in enumerate(value)])
    return ""


def integer(value, minimum, maximum):
    raw = value.strip()
    if not re.fullmatch(r"[+-]?[0-9]{1,9}", raw):
        raise ValueError(_("%(value)s is not a whole number") % {"value": repr(value)})
    number = int(raw)
    if not minimum <= number <= maximum:
        raise ValueError(_("%(value)s is not between %(minimum)s and %(maximum)s")
                         % {"value": repr(value), "minimum": minimum, "maximum": maximum})
    return number
