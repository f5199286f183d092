"""Meta Custom Audiences: everything hashed but extern_id; country lower case, doby YYYY, gen m/f."""

from .base import Platform
from .normalize import (
    NAMES_SHA256,
    HashCache,
    birth_year,
    country,
    emails_sha256,
    gender,
    phones_sha256,
    postal_code,
    sha256_hex,
)

# The fields that repeat across clients, each distinct value normalised and hashed once. Russia
# has about as many postal codes as the US has ZIPs (some tens of thousands), and the zip's rule
# reads the country, so that cache, by (zip, country), holds 2^17; a century of birth dates fits in 2^16.
_COUNTRIES = HashCache(lambda value: sha256_hex(country(value, lower=True)), limit=1024)
_ZIPS = HashCache(lambda zip_and_country: sha256_hex(postal_code(*zip_and_country)), limit=1 << 17)
_BIRTH_YEARS = HashCache(lambda date: sha256_hex(birth_year(date)))
_GENDERS = HashCache(lambda value: sha256_hex(gender(value)), limit=1024)


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

    def identifier_columns(self, fields):
        return {
            "email": emails_sha256(fields["email"]),
            "phone": phones_sha256(fields["phone"], fields["country"]),
            "first_name": NAMES_SHA256.column(fields["first_name"]),
            "last_name": NAMES_SHA256.column(fields["last_name"]),
            "city": NAMES_SHA256.column(fields["city"]),
            "zip": _ZIPS.column(fields["zip"], fields["country"]),
            "country": _COUNTRIES.column(fields["country"]),
            "birth_year": _BIRTH_YEARS.column(fields["birth_date"]),
            "gender": _GENDERS.column(fields["gender"]),
            "external_id": fields["external_id"],
        }
