import csv
import datetime as dt
import io
import re

import pytest

from audiences.exports import PLATFORMS, ClientRow, Lines, Platform, get_platform, normalize
from audiences.exports.normalize import sha256_hex

HEX64 = re.compile(r"[0-9a-f]{64}")
IVAN = ClientRow(
    external_id="C0000001", email="  Ivan.Petrov+shop@GMail.com ", phone="+79123456789", first_name=" Иван ",
    last_name="Иванов", city="Москва", country="RU", zip="123456", birth_date=dt.date(1990, 5, 17), gender="m",
)
# Spec vectors (specs/audiences.md) for IVAN's values.
IVAN_FIRST = "74f46a588dd2b0d94ec4067f21fc7127c16ba0f1af96ece7a7ebfefe3ddedc92"
IVAN_LAST = "918d04eb5d3eeab4305518c541c9734f993d780039bdb6b89a40d96a1b02365b"
MOSCOW = "4ed0608556890f1debeb0947b33bff409c18a80755422c362f4daa5cd5ce0749"
RU_LOWER = "ed5ad332c106043712705210b4f3d1179e49c5cf426520c74cb8ec48b22b1961"
PHONE_PLUS = "694e8de862e4f3198b67f7a4aa9f4dfb123c5b78b0a72460ce882c405b111e63"  # +79123456789
PHONE_DIGITS = "dbae582ee1f37b15623829ece40b66a8eb5162337ab0a8b7cf1b86cb300391bc"  # 79123456789
EMAIL = sha256_hex("ivan.petrov+shop@gmail.com")
EMAIL_GOOGLE = sha256_hex("ivanpetrov@gmail.com")
NOBODY = ClientRow(external_id="C0000002", first_name="Анна", last_name="Смирнова", city="Казань", country="RU",
                   zip="420000", birth_date=dt.date(1985, 1, 1), gender="f")


def test_it_registers_one_platform_per_slug():
    assert list(PLATFORMS) == ["google", "meta", "yandex", "vk", "tiktok"]
    for slug, platform in PLATFORMS.items():
        assert isinstance(platform, Platform)
        assert platform.name == slug and platform.label
    assert get_platform("meta") is PLATFORMS["meta"]


def test_it_names_the_known_slugs_for_an_unknown_one():
    with pytest.raises(ValueError, match="'facebook'.*google, meta, yandex, vk, tiktok"):
        get_platform("facebook")


def test_it_has_the_spec_minimum_audiences():
    assert {slug: p.min_audience for slug, p in PLATFORMS.items()} == {
        "google": 100, "meta": 100, "yandex": 100, "vk": 2000, "tiktok": 1000}


@pytest.mark.parametrize(("slug", "files"), [
    ("google", {"audience": ("Email", "Phone", "First Name", "Last Name", "Country", "Zip")}),
    ("meta", {"audience": ("email", "phone", "fn", "ln", "ct", "zip", "country", "doby", "gen", "extern_id")}),
    ("yandex", {"audience": ("external_id", "phone", "email")}),
    ("vk", {"emails": ("id",), "phones": ("id",)}),
    ("tiktok", {"audience": ("Email_SHA256", "Phone_SHA256")}),
])
def test_it_declares_the_spec_headers_in_order(slug, files):
    assert get_platform(slug).files == files
    assert list(get_platform(slug).files) == list(files)


def test_google_hashes_email_phone_and_names_and_keeps_country_and_zip_plain():
    assert get_platform("google").rows(IVAN) == {
        "audience": (EMAIL_GOOGLE, PHONE_PLUS, IVAN_FIRST, IVAN_LAST, "RU", "123456")}


def test_google_sends_an_address_only_when_it_is_complete():
    google = get_platform("google")
    no_zip = IVAN._replace(zip="")
    assert google.rows(no_zip) == {"audience": (EMAIL_GOOGLE, PHONE_PLUS, "", "", "", "")}
    # A complete address is enough on its own...
    assert google.rows(NOBODY)["audience"][:2] == ("", "")
    assert google.rows(NOBODY)["audience"][4:] == ("RU", "420000")
    # ...an incomplete one is not.
    assert google.rows(NOBODY._replace(zip=" ")) == {}
    assert google.rows(NOBODY._replace(country="Russia")) == {}


def test_meta_hashes_all_but_extern_id():
    birth_year, gender = sha256_hex("1990"), sha256_hex("m")
    assert get_platform("meta").rows(IVAN) == {"audience": (
        EMAIL, PHONE_DIGITS, IVAN_FIRST, IVAN_LAST, MOSCOW, sha256_hex("123456"), RU_LOWER, birth_year, gender,
        "C0000001")}


def test_meta_leaves_unknown_values_empty_rather_than_hashing_nothing():
    sparse = ClientRow(external_id="C9", email="a@b.ru", gender="x")
    assert get_platform("meta").rows(sparse) == {"audience": (sha256_hex("a@b.ru"), "", "", "", "", "", "", "", "",
                                                              "C9")}


def test_yandex_hashes_phone_and_email_and_keeps_its_id():
    assert get_platform("yandex").rows(IVAN) == {"audience": ("C0000001", PHONE_DIGITS, EMAIL)}


def test_vk_writes_plain_email_and_phone_to_their_own_files():
    vk = get_platform("vk")
    assert vk.rows(IVAN) == {"emails": ("ivan.petrov+shop@gmail.com",), "phones": ("79123456789",)}
    assert vk.rows(IVAN._replace(phone="")) == {"emails": ("ivan.petrov+shop@gmail.com",)}
    assert vk.rows(IVAN._replace(email="bad")) == {"phones": ("79123456789",)}


def test_tiktok_hashes_both():
    assert get_platform("tiktok").rows(IVAN) == {"audience": (EMAIL, PHONE_DIGITS)}


@pytest.mark.parametrize("slug", ["meta", "yandex", "vk", "tiktok"])
def test_it_skips_a_client_without_email_or_phone(slug):
    platform = get_platform(slug)
    assert platform.identifiers(NOBODY) == {}
    assert platform.rows(NOBODY) == {}
    assert platform.rows(NOBODY._replace(email="not an email", phone="12")) == {}


@pytest.mark.parametrize("slug", list(PLATFORMS))
def test_a_phone_alone_is_enough(slug):
    alone = ClientRow(external_id="C3", phone="8 (912) 345-67-89", country="RU")
    assert get_platform(slug).rows(alone)


@pytest.mark.parametrize(("slug", "phone_cell"), [
    ("google", PHONE_PLUS), ("meta", PHONE_DIGITS), ("yandex", PHONE_DIGITS), ("vk", "79123456789"),
    ("tiktok", PHONE_DIGITS),
])
def test_it_puts_each_platforms_phone_form_in_the_phone_column(slug, phone_cell):
    platform = get_platform(slug)
    legacy = ClientRow(external_id="C4", phone="8 912 345-67-89", country="RU")
    for client in (IVAN._replace(email=""), legacy):
        ((key, row),) = platform.rows(client).items()
        header = platform.files[key]
        column = "id" if slug == "vk" else next(h for h in header if h.lower().startswith("phone"))
        assert row[header.index(column)] == phone_cell


@pytest.mark.parametrize(("slug", "hashed"), [
    ("google", {"Email", "Phone", "First Name", "Last Name"}),
    ("meta", {"email", "phone", "fn", "ln", "ct", "zip", "country", "doby", "gen"}),
    ("yandex", {"phone", "email"}),
    ("tiktok", {"Email_SHA256", "Phone_SHA256"}),
])
def test_it_hashes_exactly_the_spec_columns(slug, hashed):
    platform = get_platform(slug)
    header, row = platform.files["audience"], platform.rows(IVAN)["audience"]
    assert len(row) == len(header)
    assert {column for column, cell in zip(header, row) if HEX64.fullmatch(cell)} == hashed


def test_identifiers_are_the_rows_values_under_neutral_keys():
    # What an API push would send: the same normalised, hashed values the files hold.
    meta = get_platform("meta").identifiers(IVAN)
    assert meta["email"] == EMAIL and meta["first_name"] == IVAN_FIRST and meta["external_id"] == "C0000001"
    assert get_platform("google").identifiers(IVAN)["phone"] == PHONE_PLUS
    assert get_platform("vk").identifiers(IVAN) == {"email": "ivan.petrov+shop@gmail.com", "phone": "79123456789"}


# The oracle for the exports' fast path: each platform's lines through its batch formatter (the
# rules over whole columns, the C module's common case, csv_lines) must be exactly the lines of this
# reference, which takes one client at a time, in Python only, and writes each row with the csv module.
AWKWARD = {
    "external_id": ["C1", 'odd,"id"', "line\nbreak", "cr\rhere", "tab\there", "back\\slash", "Клиент-7", ""],
    "email": ["", "a@b.ru", "  John.Doe@Example.com ", "John.Doe+promo@GMail.com", "+tag@gmail.com",
              "no-at-sign", "\u00a0Ann@Mail.RU\u2003", "İlker@Example.com", '"a,b"@example.com', "x@",
              'q"uote@example.com'],
    "phone": ["", "+79123456789", "8 912 345-67-89", "89123456789", "+0123456789", "123", "+٧٩١٢٣٤٥٦٧٨٩",
              "+442012345678"],
    "first_name": ["", " Иван ", "Анна-Мария", "Фе\u0308доров", " - . ", "Louis XIV", "O'Brien"],
    "last_name": ["", "Иванов", "Smith", "a,b", "राम"],
    "city": ["", "Москва", "Нижний Новгород", "São Paulo", '"Quoted"'],
    "country": ["", "RU", "ru", " RU ", "US", "us", "u\u017f", "Russia", "R1", "DE"],
    "zip": ["", "123456", " 190000 ", "94105-1234", "SW1A 1AA", "a,b", 'x"y', "  "],
    "birth_date": [None, dt.date(1990, 5, 17), dt.date(999, 1, 1), dt.date(2001, 12, 31)],
    "gender": ["", "m", "f", "x", "M"],
}


def awkward_records(platform, count=3000, seed=5):
    """Every awkward value of every field at least once, in random company."""
    import random

    rng = random.Random(seed)
    records = []
    for number in range(count):
        values = [AWKWARD[name][number] if number < len(AWKWARD[name]) else rng.choice(AWKWARD[name])
                  for name in platform.reads]
        records.append((number, *values))
    return records


def reference_lines(platform, records):
    """The oracle: `Lines` of the records, client by client through `rows`, with the C module off."""
    lines = {key: [] for key in platform.files}
    ids = {key: [] for key in platform.files}
    skipped = 0
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(normalize, "_native_batch", None)
        for client_id, *values in records:
            rows = platform.rows(ClientRow(external_id="")._replace(**dict(zip(platform.reads, values, strict=True))))
            skipped += not rows
            for key, row in rows.items():
                out = io.StringIO()
                csv.writer(out, lineterminator="\n").writerow(row)
                lines[key].append(out.getvalue())
                ids[key].append(client_id)
    return Lines(lines, ids, skipped)


@pytest.mark.parametrize("slug", list(PLATFORMS))
def test_the_batch_formatter_gives_exactly_the_reference_lines(slug, speedups):
    platform = get_platform(slug)
    assert set(platform.reads) <= set(ClientRow._fields)
    records = awkward_records(platform)
    fast, reference = platform.format_batch(records), reference_lines(platform, records)
    assert fast == reference
    assert reference.skipped and all(reference.lines.values())  # the data does exercise both


@pytest.mark.parametrize("slug", list(PLATFORMS))
def test_reads_names_every_field_the_platform_uses(slug):
    # The export selects only the columns in `reads`: blanking every other field changes nothing.
    platform = get_platform(slug)
    others = {name: None if name == "birth_date" else "" for name in ClientRow._fields if name not in platform.reads}
    assert platform.rows(IVAN._replace(**others)) == platform.rows(IVAN)


@pytest.mark.parametrize("slug", list(PLATFORMS))
def test_the_batch_formatter_takes_an_empty_batch(slug, speedups):
    platform = get_platform(slug)
    assert platform.format_batch([]) == Lines({key: [] for key in platform.files}, {key: [] for key in platform.files}, 0)
