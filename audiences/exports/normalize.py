"""How client identifiers are normalised before an ad platform matches them, and the hash they share.

Pure functions, no database. Each rule is stated once, for one value: every function returns ""
when the value normalises to nothing ("" means "no identifier" everywhere in the exports, and
the empty string is never hashed). The platforms apply them to a batch's columns with the helpers
at the end: `emails_sha256` and `phones_sha256` (the rule and the hash of each value, the common
case in C when native/audience_speedups is installed) and `HashCache` (the rule once per distinct
value, for values that repeat across clients).
"""

import contextlib
import hashlib
import re
import unicodedata

import phonenumbers

try:  # the common case of emails_sha256 and phones_sha256 in C (native/audience_speedups); optional
    from audience_speedups import sha256_hex_batch as _native_batch
except ImportError:  # pragma: no cover - the package's build is optional; Python gives the same results
    _native_batch = None

_sha256 = hashlib.sha256
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_E164 = phonenumbers.PhoneNumberFormat.E164
# `+`, then 8 to 15 ASCII digits, the first not 0. [0-9] rather than \d, which takes any script's digits.
_is_e164 = re.compile(r"\+[1-9][0-9]{7,14}").fullmatch
# Unicode categories a name keeps: Letters, Marks (combining accents, Devanagari vowel signs...)
# and Numbers. Punctuation, symbols, spaces and control characters go.
_NAME_CATEGORIES = frozenset("LMN")


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
    if _is_e164(value):  # the form the importer stores, taken as it is
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
    text = unicodedata.normalize("NFC", value.strip().lower())
    return "".join([char for char in text if unicodedata.category(char)[0] in _NAME_CATEGORIES])


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


def birth_year(value) -> str:
    """The year of a birth date as four digits (`1990`); "" for no date."""
    return f"{value.year:04d}" if value else ""


def gender(value: str) -> str:
    """`m` or `f` as stored; anything else is no identifier."""
    return value if value in ("m", "f") else ""


def _iso_country(value: str) -> str:
    """Two ASCII letters in the case given, or "" for anything else (`RUS`, `Russia`, `R1`)."""
    code = value.strip()
    return code if len(code) == 2 and code.isascii() and code.isalpha() else ""


# --- the rules over a batch's columns ------------------------------------------------------------


def emails_sha256(values, *, google: bool = False) -> list[str]:
    """`sha256_hex(email(value, google=google))` of each value of a column."""

    def rule(value):
        return sha256_hex(email(value, google=google))

    if _native_batch is None:
        return list(map(rule, values))
    return rest_by_rule(_native_batch(values, _GOOGLE_EMAIL if google else _EMAIL), rule, values)


def phones_sha256(values, countries, *, plus: bool = False) -> list[str]:
    """`sha256_hex(phone(value, country, plus=plus))` of each (value, country) of two columns."""

    def rule(value, country_code):
        return sha256_hex(phone(value, country_code, plus=plus))

    if _native_batch is None:
        return list(map(rule, values, countries))
    return rest_by_rule(_native_batch(values, _PHONE_PLUS if plus else _PHONE), rule, values, countries)


_EMAIL, _GOOGLE_EMAIL, _PHONE, _PHONE_PLUS = range(4)  # the native module's kinds


def rest_by_rule(results: list, rule, *columns) -> list:
    """The native module's `results` (one per row of `columns`) with each None, a value it left to
    the rule (not the common case), replaced by `rule(*row)`. list.index finds them: a batch
    without any costs one C-level scan, not a loop per client."""
    index = -1
    with contextlib.suppress(ValueError):  # no None left
        while True:
            index = results.index(None, index + 1)
            results[index] = rule(*(column[index] for column in columns))
    return results


class HashCache(dict):
    """`cache[value]` is `function(value)`, remembered: for values that repeat across clients (names,
    cities, zips, countries, birth dates), so that the rule and the hash run once per distinct value
    instead of once per client. Bounded: emptied when it holds `limit` values, so memory stays flat
    whatever the segment; results are the same either way, only the speed changes. Make the limit
    larger than the distinct values of real data (a country's postal codes), or it helps nothing.
    """

    def __init__(self, function, limit: int = 1 << 16):
        super().__init__()
        self.function, self.limit = function, limit

    def __missing__(self, value):
        if len(self) >= self.limit:
            self.clear()
        result = self[value] = self.function(value)
        return result

    def column(self, *columns) -> list:
        """`function` of each value of a column, or of each row (a tuple) of several columns."""
        return list(map(self.__getitem__, columns[0] if len(columns) == 1 else zip(*columns)))


# Names and cities, shared by the platforms that hash them: a few thousand cover most of a country.
NAMES_SHA256 = HashCache(lambda value: sha256_hex(name(value)))
