"""Meta Custom Audiences: everything hashed but extern_id; country lower case, doby YYYY, gen m/f."""

from itertools import repeat

from .base import ClientRow, Lines, Platform, csv_lines, kept_lines
from .normalize import (
    HashCache,
    country,
    email,
    emails_sha256,
    name_sha256,
    phone,
    phones_sha256,
    postal_code,
    sha256_hex,
)

# Gender, birth year, country, names, cities and postal codes repeat across clients: each distinct
# raw value is normalised and hashed once (bounded caches, see HashCache). Russia has ~43,000
# postal codes and the US ~42,000 ZIPs, so those caches hold 2^17 (~30 MB when full): one that
# is too small for the data is emptied again and again and helps nothing. A million clients have
# a few thousand names and cities.
_GENDER_SHA256 = {gender: sha256_hex(gender) for gender in ("m", "f")}
_COUNTRIES = HashCache(lambda value: sha256_hex(country(value, lower=True)), limit=1024)
# By birth date (None when unknown): a century of dates is ~36,500 values, each hashed once.
_BIRTH_YEARS = HashCache(lambda date: sha256_hex(f"{date.year:04d}") if date else "", limit=1 << 16)
# The zip's rule depends on the country only through "is it the US" (a ZIP+4 is cut to five
# digits), so the zips are remembered by raw value, in one cache for the US and one for the rest.
_IS_US = HashCache(lambda value: value.upper() == "US", limit=1024)
_US_ZIPS = HashCache(lambda value: sha256_hex(postal_code(value, "US")), limit=1 << 17)
_ZIPS = HashCache(lambda value: sha256_hex(postal_code(value)), limit=1 << 17)
_NAMES = HashCache(name_sha256)


class Meta(Platform):
    name = "meta"
    label = "Meta Custom Audiences"
    min_audience = 100
    columns = {"audience": (
        ("email", "email"), ("phone", "phone"), ("fn", "first_name"), ("ln", "last_name"), ("ct", "city"),
        ("zip", "zip"), ("country", "country"), ("doby", "birth_year"), ("gen", "gender"),
        ("extern_id", "external_id"),
    )}
    reads = ("external_id", "email", "phone", "first_name", "last_name", "city", "country", "zip", "birth_date",
             "gender")

    def identifier_values(self, client: ClientRow) -> dict[str, str]:
        birth_date = client.birth_date
        return {
            "email": sha256_hex(email(client.email)),
            "phone": sha256_hex(phone(client.phone, client.country)),
            "first_name": name_sha256(client.first_name),
            "last_name": name_sha256(client.last_name),
            "city": name_sha256(client.city),
            "zip": sha256_hex(postal_code(client.zip, client.country)),
            "country": sha256_hex(country(client.country, lower=True)),
            "birth_year": sha256_hex(f"{birth_date.year:04d}") if birth_date else "",
            "gender": _GENDER_SHA256.get(client.gender, ""),
            "external_id": client.external_id,
        }

    def format_batch(self, records) -> Lines:
        # identifier_values, a column of the batch at a time (see Platform): the email and phone
        # hashes by the batch (normalize), the cached cells through map() over the columns, the
        # lines by csv_lines: no Python code runs per client in the usual case.
        if not records:
            return kept_lines("audience", [], (), ())
        (client_ids, external_ids, emails, phones, first_names, last_names, cities, countries, zips, birth_dates,
         genders) = zip(*records)
        email_hashes, phone_hashes = emails_sha256(emails), phones_sha256(phones, countries)
        names = _NAMES.__getitem__
        if any(map(_IS_US.__getitem__, set(countries))):
            zip_hashes = [(_US_ZIPS if _IS_US[country] else _ZIPS)[zip_value]
                          for country, zip_value in zip(countries, zips)]
        else:
            zip_hashes = list(map(_ZIPS.__getitem__, zips))
        lines = csv_lines(email_hashes, phone_hashes, list(map(names, first_names)), list(map(names, last_names)),
                          list(map(names, cities)), zip_hashes, list(map(_COUNTRIES.__getitem__, countries)),
                          list(map(_BIRTH_YEARS.__getitem__, birth_dates)),
                          list(map(_GENDER_SHA256.get, genders, repeat(""))), external_ids)
        # A client needs an email or a phone.
        return kept_lines("audience", lines, client_ids, map(any, zip(email_hashes, phone_hashes)))
