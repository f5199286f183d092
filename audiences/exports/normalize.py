"""How client identifiers are normalised before an ad platform matches them, and the hash they share.

Pure functions, no database. Every function returns "" when the value normalises to nothing: ""
means "no identifier" everywhere in the exports, and the empty string is never hashed.

They run for every client of a segment, millions of times per export, so the common case (clean
data as the importer stores it) takes a fast path and the general rule runs only when it has to;
`crm.parsing` already stores phones in E.164, so phonenumbers is rarely called here. The
`*_sha256` functions and `HashCache` at the end are what the platforms' batch formatters call per
client: the rule above them and the hash in one call, or a remembered hash for values that repeat.
"""

import contextlib
import hashlib
import re
import unicodedata
from functools import lru_cache

import phonenumbers

try:  # the fast path of the batch functions below, in C (native/audience_speedups); optional
    from audience_speedups import sha256_hex_batch as _native_batch
except ImportError:  # pragma: no cover - the package's build is optional; Python gives the same results
    _native_batch = None

_sha256 = hashlib.sha256
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_GMAIL_SUFFIXES = tuple(f"@{domain}" for domain in sorted(_GMAIL_DOMAINS))
_E164 = phonenumbers.PhoneNumberFormat.E164
# `+`, then 8 to 15 ASCII digits, the first not 0. [0-9] rather than \d, which takes any script's digits.
_is_e164 = re.compile(r"\+[1-9][0-9]{7,14}").fullmatch
# Unicode categories a name keeps: Letters, Marks (combining accents, Devanagari vowel signs...)
# and Numbers. Punctuation, symbols, spaces and control characters go.
_NAME_CATEGORIES = frozenset("LMN")
# Names and cities repeat a lot across clients (a few thousand first names and cities cover most
# of a country), so their hashes are remembered. Bounded: ~10 MB at most, whatever the segment.
_NAME_CACHE_SIZE = 1 << 15


def sha256_hex(value: str) -> str:
    """SHA-256 of the UTF-8 bytes, lowercase hex; "" stays "" (no identifier is not a hash)."""
    return _sha256(value.encode()).hexdigest() if value else ""


def email(value: str, *, google: bool = False) -> str:
    """Strip and lowercase. Google only: a gmail.com / googlemail.com address loses every `.` and
    any `+tag` of its local part, as Google does itself before matching.

    A value without `@` and something on either side of it cannot match anybody: "".
    """
    address = value.strip().lower()
    at = address.rfind("@")
    if at < 1 or at == len(address) - 1:
        return ""
    if google and address[at + 1:] in _GMAIL_DOMAINS:
        local = address[:at].partition("+")[0].replace(".", "")
        return f"{local}{address[at:]}" if local else ""
    return address


def phone(value: str, country: str = "", *, plus: bool = False) -> str:
    """Digits with the country code in front: `79123456789`, or `+79123456789` with `plus=True`.

    A number written without its country code is read in `country` (the client's ISO code), so
    `8 912 345-67-89` in RU gives `79123456789`. Without a country such a number is ambiguous and
    gives "" rather than a guess; so does anything phonenumbers cannot read as a possible number.
    """
    if _is_e164(value):  # fast path: the form the importer stores
        return value if plus else value[1:]
    if not value.strip():
        return ""
    try:
        number = phonenumbers.parse(value, _iso_country(country).upper() or None)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(number):
        return ""
    formatted = phonenumbers.format_number(number, _E164)
    return formatted if plus else formatted[1:]


def name(value: str) -> str:
    """First name, last name or city: strip, lowercase, remove punctuation and spaces inside.

    Any script's letters stay (`Иван` -> `иван`, `Анна-Мария` -> `аннамария`); Meta's SDK keeps
    a-z only and would turn Cyrillic names into "". Text is composed to NFC first so that a `й`
    typed as `и` + combining breve hashes like the usual `й`.
    """
    text = value.strip().lower()
    if text.isalpha() and unicodedata.is_normalized("NFC", text):  # the usual case: nothing to do
        return text
    text = unicodedata.normalize("NFC", text)
    return "".join([char for char in text if unicodedata.category(char)[0] in _NAME_CATEGORIES])


@lru_cache(maxsize=_NAME_CACHE_SIZE)
def name_sha256(value: str) -> str:
    """`sha256_hex(name(value))`, remembered by raw value (see _NAME_CACHE_SIZE)."""
    return sha256_hex(name(value))


def country(value: str, *, lower: bool = False) -> str:
    """ISO 3166-1 alpha-2: `RU` (Google's form), or `ru` with `lower=True` (Meta's form)."""
    code = _iso_country(value)
    return code.lower() if lower else code.upper()


def postal_code(value: str, country_code: str = "") -> str:
    """Lowercase without spaces (`SW1A 1AA` -> `sw1a1aa`); a US ZIP+4 keeps its first five digits.

    This is Meta's rule; Google takes the zip as written, stripped.
    """
    code = "".join(value.split()).lower()
    return code[:5] if country_code.upper() == "US" else code


def _iso_country(value: str) -> str:
    """Two ASCII letters in the case given, or "" for anything else (`RUS`, `Russia`, `R1`)."""
    code = value.strip()
    return code if len(code) == 2 and code.isascii() and code.isalpha() else ""


# --- per client, in the platforms' batch formatters ----------------------------------------------
# One call per identifier and client: each is the rule above and sha256_hex, with the usual case
# (what the importer stores) first and the rule itself for anything else, so the result is the
# same by construction; tests/audiences/test_normalize.py checks them against the rules anyway.


def email_sha256(value: str) -> str:
    """`sha256_hex(email(value))`."""
    if not value:
        return ""
    address = value.strip().lower()
    at = address.rfind("@")
    if at < 1 or at == len(address) - 1:
        return ""
    return _sha256(address.encode()).hexdigest()


def google_email_sha256(value: str) -> str:
    """`sha256_hex(email(value, google=True))`."""
    if not value:
        return ""
    address = value.strip().lower()
    at = address.rfind("@")
    if at < 1 or at == len(address) - 1:
        return ""
    # The domain is what follows the last "@", so it is gmail.com exactly when this suffix matches.
    if address.endswith(_GMAIL_SUFFIXES):
        local = address[:at].partition("+")[0].replace(".", "")
        return _sha256(f"{local}{address[at:]}".encode()).hexdigest() if local else ""
    return _sha256(address.encode()).hexdigest()


def phone_sha256(value: str, country: str = "") -> str:
    """`sha256_hex(phone(value, country))`: digits without `+`."""
    if not value:
        return ""
    if _is_e164(value):
        return _sha256(value[1:].encode()).hexdigest()
    return sha256_hex(phone(value, country))


def phone_plus_sha256(value: str, country: str = "") -> str:
    """`sha256_hex(phone(value, country, plus=True))`: E.164 with `+`."""
    if not value:
        return ""
    if _is_e164(value):
        return _sha256(value.encode()).hexdigest()
    return sha256_hex(phone(value, country, plus=True))


# --- a batch's column at a time ------------------------------------------------------------------
# The functions above, for every value of a column (a tuple or list of a batch's values). With the
# native module the common case (an ASCII email, an E.164 phone) is normalised and hashed in C; it
# answers None for anything else, which goes through the function above: the rules stay here.

_EMAIL, _GOOGLE_EMAIL, _PHONE, _PHONE_PLUS = range(4)  # the native module's kinds


def emails_sha256(values, *, google: bool = False) -> list[str]:
    """`email_sha256` (`google_email_sha256` with `google=True`) of each value."""
    rule = google_email_sha256 if google else email_sha256
    if _native_batch is None:
        return list(map(rule, values))
    return rest_by_rule(_native_batch(values, _GOOGLE_EMAIL if google else _EMAIL), rule, values)


def phones_sha256(values, countries, *, plus: bool = False) -> list[str]:
    """`phone_sha256(value, country)` (`phone_plus_sha256` with `plus=True`) of each pair."""
    rule = phone_plus_sha256 if plus else phone_sha256
    if _native_batch is None:
        return list(map(rule, values, countries))
    return rest_by_rule(_native_batch(values, _PHONE_PLUS if plus else _PHONE), rule, values, countries)


def rest_by_rule(results: list, rule, *columns) -> list:
    """`results` (of the native module, per row of `columns`) with each None, a row it left to the
    rule, replaced by `rule(*row)`. list.index finds them, so a batch without any costs one C-level
    scan, not a loop per client."""
    index = -1
    with contextlib.suppress(ValueError):  # no None left
        while True:
            index = results.index(None, index + 1)
            results[index] = rule(*(column[index] for column in columns))
    return results


class HashCache(dict):
    """`cache[value]` is `function(value)`, remembered: for values that repeat across clients (names,
    cities, zips, countries, birth dates), whose hash then costs a dict lookup instead of a rule and
    a SHA-256. Bounded: emptied when it holds `limit` values, so memory stays flat whatever the
    segment (a few MB at most); results are the same either way, only the speed changes.
    """

    def __init__(self, function, limit: int = 1 << 16):
        super().__init__()
        self.function, self.limit = function, limit

    def __missing__(self, value):
        if len(self) >= self.limit:
            self.clear()
        result = self[value] = self.function(value)
        return result
