import pytest

from audiences.exports import normalize
from audiences.exports.normalize import country, email, name, phone, postal_code, sha256_hex

# The spec's test vectors (specs/audiences.md, "Test vectors"): input, normalised, SHA-256.
VECTORS = [
    (lambda: email("  John.Doe@Example.com "), "john.doe@example.com",
     "836f82db99121b3481011f16b49dfa5fbc714a0d1b1b9f784a1ebbbf5b39577f"),
    (lambda: email("John.Doe+promo@GMail.com", google=True), "johndoe@gmail.com",
     "06a240d11cc201676da976f7b49341181fd180da37cbe40a77432c0a366c80c3"),
    (lambda: phone("+7 (912) 345-67-89", plus=True), "+79123456789",
     "694e8de862e4f3198b67f7a4aa9f4dfb123c5b78b0a72460ce882c405b111e63"),
    (lambda: phone("8 912 345-67-89", "RU"), "79123456789",
     "dbae582ee1f37b15623829ece40b66a8eb5162337ab0a8b7cf1b86cb300391bc"),
    (lambda: name(" Иван "), "иван", "74f46a588dd2b0d94ec4067f21fc7127c16ba0f1af96ece7a7ebfefe3ddedc92"),
    (lambda: name("Иванов"), "иванов", "918d04eb5d3eeab4305518c541c9734f993d780039bdb6b89a40d96a1b02365b"),
    (lambda: name("Москва"), "москва", "4ed0608556890f1debeb0947b33bff409c18a80755422c362f4daa5cd5ce0749"),
    (lambda: country("RU", lower=True), "ru", "ed5ad332c106043712705210b4f3d1179e49c5cf426520c74cb8ec48b22b1961"),
]


@pytest.mark.parametrize(("normalized", "expected", "digest"), VECTORS,
                         ids=["email", "gmail", "phone-google", "phone-ru-national", "first", "last", "city", "country"])
def test_it_matches_the_spec_vectors(normalized, expected, digest):
    assert normalized() == expected
    assert sha256_hex(expected) == digest


def test_it_matches_the_platforms_published_checks():
    assert sha256_hex(name("Mary")).startswith("6915771b")  # Meta's example
    assert sha256_hex(phone("+70123456789")).startswith("8f0dd3d3")  # Yandex's example


def test_it_never_hashes_the_empty_string():
    assert sha256_hex("") == ""


def test_it_applies_the_gmail_rule_for_google_and_gmail_only():
    assert email("J.Doe+x@googlemail.com", google=True) == "jdoe@googlemail.com"
    assert email("J.Doe+x@gmail.com") == "j.doe+x@gmail.com"
    assert email("J.Doe+x@example.com", google=True) == "j.doe+x@example.com"
    assert email("+tag@gmail.com", google=True) == ""


@pytest.mark.parametrize("value", ["", "   ", "no-at-sign", "@example.com", "john@"])
def test_it_gives_nothing_for_what_is_not_an_email(value):
    assert email(value) == ""
    assert email(value, google=True) == ""


def test_it_takes_stored_e164_phones_as_they_are():
    assert phone("+79123456789") == "79123456789"
    assert phone("+79123456789", plus=True) == "+79123456789"
    assert phone("+442012345678", "RU", plus=True) == "+442012345678"  # the country only reads national numbers


def test_it_reads_national_and_formatted_numbers_in_the_clients_country():
    assert phone("89123456789", "RU") == "79123456789"
    assert phone("9123456789", "ru") == "79123456789"
    assert phone(" 030 1234567 ", "DE", plus=True) == "+49301234567"
    assert phone("+7 912 345 67 89") == "79123456789"


@pytest.mark.parametrize(("value", "region"), [
    ("", "RU"), ("   ", "RU"),
    ("89123456789", ""),  # national, and no country to read it in: not a guess
    ("89123456789", "Russia"),
    ("not a phone", "RU"),
    ("123", "RU"),
    ("+0123456789", ""),  # no country code starts with 0
])
def test_it_gives_nothing_for_what_is_not_a_phone(value, region):
    assert phone(value, region) == ""
    assert phone(value, region, plus=True) == ""


def test_it_takes_no_other_scripts_digits_on_the_fast_path():
    # "\d" would accept Arabic-Indic digits; phonenumbers converts them properly instead.
    assert phone("+٧٩١٢٣٤٥٦٧٨٩") == "79123456789"


@pytest.mark.parametrize(("value", "expected"), [
    ("Mary", "mary"),
    ("  Anna-Maria ", "annamaria"),
    ("O'Brien", "obrien"),
    ("Нижний Новгород", "нижнийновгород"),
    ("Ростов-на-Дону", "ростовнадону"),
    ("Фёдоров", "фёдоров"),
    ("Фе\u0308доров", "фёдоров"),  # ё typed as е + combining diaeresis: composed first
    ("Йошкар-Ола", "йошкарола"),
    ("राम", "राम"),  # the vowel sign is a mark, not punctuation: it stays
    ("São Paulo", "sãopaulo"),
    ("Louis XIV", "louisxiv"),
    ("", ""), (" - . ", ""),
])
def test_it_keeps_every_scripts_letters_in_names(value, expected):
    assert name(value) == expected


@pytest.mark.parametrize(("value", "upper", "lower"), [
    ("RU", "RU", "ru"), (" ru ", "RU", "ru"), ("Ru", "RU", "ru"),
    ("", "", ""), ("RUS", "", ""), ("Russia", "", ""), ("R1", "", ""), ("ру", "", ""),
])
def test_it_keeps_only_alpha2_countries(value, upper, lower):
    assert country(value) == upper
    assert country(value, lower=True) == lower


def test_it_writes_postal_codes_as_meta_wants_them():
    assert postal_code(" 123 456 ", "RU") == "123456"
    assert postal_code("SW1A 1AA", "GB") == "sw1a1aa"
    assert postal_code("94105-1234", "us") == "94105"
    assert postal_code("00-950", "PL") == "00-950"
    assert postal_code("", "US") == ""


# The rules over a batch's columns, with the C module and without it (the `speedups` fixture),
# must give exactly what the rules give value by value: the C module takes only the common case.
AWKWARD_EMAILS = [
    "", " ", "a@b.ru", "  John.Doe@Example.com ", "John.Doe+promo@GMail.com", "J.Doe+x@googlemail.com",
    "+tag@gmail.com", ".@gmail.com", "a.b@gmail.com.ru", "x@notgmail.com", "a@b@gmail.com", "@gmail.com",
    "john@", "@example.com", "no-at-sign", "\u00a0Ann@Mail.RU\u2003", "\tTab@Example.com\n", "ÄNNE@BEISPIEL.DE",
    "İlker@Example.com", "Иван@Почта.рф", '"a,b"@example.com', "a@ ", " @b",
    # ASCII whitespace str.strip() takes and the native module must too; the native buffer's edge
    # (512 characters after stripping are hashed in C, 513 go to the rule).
    "\x1cA@B.ru\x1f", "\x0ba@b.ru\x0c", "a" * 507 + "@b.ru", " " + "A" * 507 + "@b.ru ", "a" * 508 + "@b.ru",
    "x." * 250 + "y+z@GMAIL.com", "A@GMAIL.COM", "a.b+c@googlemail.com ", "a@gmail.co",
]
AWKWARD_PHONES = [
    ("", "RU"), ("+79123456789", ""), ("+79123456789", "RU"), ("8 912 345-67-89", "RU"), ("89123456789", ""),
    ("9123456789", "ru"), ("+0123456789", ""), ("+1234567", ""), ("+12345678", ""), ("+123456789012345", ""),
    ("+1234567890123456", ""), ("+٧٩١٢٣٤٥٦٧٨٩", ""), (" +79123456789", ""), ("+79123456789 ", ""),
    ("+7 912 345 67 89", "RU"), ("not a phone", "RU"), ("030 1234567", "DE"), ("89123456789", "Russia"),
]


def test_the_email_column_hashes_follow_the_rule(speedups):
    # The awkward values among plain ones, in a tuple as the platforms pass a batch's column.
    emails = tuple(AWKWARD_EMAILS + [f"client.{number}@Example.com" for number in range(50)])
    assert normalize.emails_sha256(emails) == [sha256_hex(email(value)) for value in emails]
    assert normalize.emails_sha256(emails, google=True) == [sha256_hex(email(value, google=True)) for value in emails]


def test_the_phone_column_hashes_follow_the_rule(speedups):
    phones = tuple([value for value, _ in AWKWARD_PHONES] + [f"+7912{number:07d}" for number in range(50)])
    regions = tuple([region for _, region in AWKWARD_PHONES] + ["RU"] * 50)
    assert normalize.phones_sha256(phones, regions) == [sha256_hex(phone(value, region))
                                                        for value, region in zip(phones, regions)]
    assert normalize.phones_sha256(phones, regions, plus=True) == [sha256_hex(phone(value, region, plus=True))
                                                                   for value, region in zip(phones, regions)]


def test_the_native_module_leaves_what_is_not_the_common_case_to_the_rules():
    native = pytest.importorskip("audience_speedups")
    digests = native.sha256_hex_batch(["Ann@Mail.RU", "Иван@почта.рф", "", None, "x" * 600 + "@a.ru"], 0)
    assert digests == [sha256_hex("ann@mail.ru"), None, "", None, None]
    assert native.sha256_hex_batch(["+79123456789", "8 912 345-67-89", "+7912345678901234"], 2) == [
        sha256_hex("79123456789"), None, None]
    with pytest.raises(ValueError, match="unknown kind"):
        native.sha256_hex_batch([], 4)

    class Address(str):  # a str subclass may strip or lower its own way: the rule decides
        pass

    assert native.sha256_hex_batch([Address("a@b.ru")], 0) == [None]


def test_a_hash_cache_remembers_and_stays_bounded():
    calls = []
    cache = normalize.HashCache(lambda value: calls.append(value) or sha256_hex(value), limit=2)
    assert cache["a"] == cache["a"] == sha256_hex("a") and calls == ["a"]
    cache["b"], cache["c"]
    assert len(cache) <= 2 and cache["c"] == sha256_hex("c")


def test_a_hash_cache_applies_its_rule_to_a_column_or_to_rows_of_columns():
    names = normalize.NAMES_SHA256
    assert names.column((" Иван ", "", "Иван")) == [sha256_hex("иван"), "", sha256_hex("иван")]
    zips = normalize.HashCache(lambda pair: postal_code(*pair))
    assert zips.column(("94105-1234", "94105-1234"), ("US", "RU")) == ["94105", "94105-1234"]
