"""Meta Custom Audiences: everything hashed but extern_id; country lower case, doby YYYY, gen m/f."""

from .base import ClientRow, Lines, Platform, csv_line, needs_quotes
from .normalize import (
    HashCache,
    country,
    email,
    email_sha256,
    name_sha256,
    phone,
    phone_sha256,
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
_BIRTH_YEARS = HashCache(lambda year: sha256_hex(f"{year:04d}"), limit=1024)
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
        # identifier_values, for a batch at a time (see Platform). Only extern_id may need quoting:
        # one scan of the batch's ids says whether any does, not one per client.
        lines, ids = [], []
        add, note = lines.append, ids.append
        names, countries, years, genders, is_us, zips, us_zips = (
            _NAMES, _COUNTRIES, _BIRTH_YEARS, _GENDER_SHA256, _IS_US, _ZIPS, _US_ZIPS)
        plain = not needs_quotes("".join([record[1] for record in records]))
        for (client_id, external_id, email_value, phone_value, first_name, last_name, city, country_value,
             zip_value, birth_date, gender) in records:
            email_hash, phone_hash = email_sha256(email_value), phone_sha256(phone_value, country_value)
            if not (email_hash or phone_hash):
                continue
            cells = (email_hash, phone_hash, names[first_name], names[last_name], names[city],
                     (us_zips if is_us[country_value] else zips)[zip_value], countries[country_value],
                     years[birth_date.year] if birth_date else "", genders.get(gender, ""), external_id)
            add(f"{','.join(cells)}\n" if plain or not needs_quotes(external_id) else csv_line(cells))
            note(client_id)
        return Lines({"audience": lines}, {"audience": ids}, len(records) - len(ids))
