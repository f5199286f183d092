"""Pure parsers for imported values: each takes the raw text of a cell and returns the value to
store, or raises ValueError with a reason a person can act on. Shared by the CSV importer and
anything else that takes the same values."""

import datetime as dt
import json
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

_TRUE = {"1", "true", "yes", "y", "t", "да", "д"}
_FALSE = {"0", "false", "no", "n", "f", "нет", "н", ""}
_GENDERS = {"m": "m", "male": "m", "м": "m", "муж": "m", "f": "f", "female": "f", "ж": "f", "жен": "f"}
_SPACES = re.compile(r"[\s\u00a0\u202f]")


@lru_cache(maxsize=1)
def iso_countries():
    # The tz database ships the ISO 3166-1 alpha-2 table; no need to keep our own copy.
    text = resources.files("tzdata").joinpath("zoneinfo/iso3166.tab").read_text(encoding="utf-8")
    return frozenset(line.split("\t", 1)[0] for line in text.splitlines() if line and not line.startswith("#"))


def text(value, max_length, required=False):
    value = value.strip()
    if required and not value:
        raise ValueError(_("required, but empty"))
    if len(value) > max_length:
        raise ValueError(_("too long (%(length)d characters, at most %(max)d)")
                         % {"length": len(value), "max": max_length})
    return value


def boolean(value):
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(_("%(value)s is not yes/no (use 1/0, true/false, yes/no)") % {"value": repr(value)})


def decimal(value, max_digits, decimal_places, minimum=Decimal(0), allow_zero=True):
    cleaned = _SPACES.sub("", value)
    if "," in cleaned and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")  # decimal comma, as spreadsheets in Russia write it
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(_("%(value)s is not a number") % {"value": repr(value)}) from None
    if not number.is_finite():
        raise ValueError(_("%(value)s is not a number") % {"value": repr(value)})
    if number < minimum or (number == 0 and not allow_zero):
        message = (_("%(value)s must be at least %(minimum)s") if allow_zero
                   else _("%(value)s must be more than %(minimum)s"))
        raise ValueError(message % {"value": repr(value), "minimum": minimum})
    if -number.as_tuple().exponent > decimal_places:
        raise ValueError(_("%(value)s has more than %(places)d decimal places") % {"value": repr(value),
                                                                                 "places": decimal_places})
    if abs(number) >= Decimal(10) ** (max_digits - decimal_places):
        raise ValueError(_("%(value)s is too large") % {"value": repr(value)})
    return number


def date(value):
    try:
        parsed = dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(_("%(value)s is not a date (use YYYY-MM-DD)") % {"value": repr(value)}) from None
    if parsed.year < 1900:
        raise ValueError(_("%(value)s is before 1900") % {"value": repr(value)})
    return parsed


def datetime(value, tz, now=None):
    """ISO 8601 date or datetime; a date or naive datetime is read in `tz`. Not in the future."""
    raw = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(_("%(value)s is not an ISO 8601 date or date and time") % {"value": repr(raw)}) from None
    if parsed.year < 1900:
        raise ValueError(_("%(value)s is before 1900") % {"value": repr(raw)})
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    if now is not None and parsed > now:
        raise ValueError(_("%(value)s is in the future") % {"value": repr(raw)})
    return parsed


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
        parsed = json.loads(raw, parse_constant=_not_json_constant)
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


def _not_json_constant(name):
    # Python's json reads NaN and Infinity, but they are not JSON and PostgreSQL's jsonb refuses them.
    raise ValueError(_("%(value)s is not a JSON value") % {"value": name})


def integer(value, minimum, maximum):
    raw = value.strip()
    if not re.fullmatch(r"[+-]?[0-9]{1,9}", raw):
        raise ValueError(_("%(value)s is not a whole number") % {"value": repr(value)})
    number = int(raw)
    if not minimum <= number <= maximum:
        raise ValueError(_("%(value)s is not between %(minimum)s and %(maximum)s")
                         % {"value": repr(value), "minimum": minimum, "maximum": maximum})
    return number
