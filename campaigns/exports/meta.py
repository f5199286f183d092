"""Meta Custom Audiences: everything hashed but extern_id; country lower case, doby YYYY, gen m/f."""

from functools import lru_cache

from .base import ClientRow, Platform
from .normalize import country, email, name_sha256, phone, postal_code, sha256_hex

# Gender, birth year and country take a handful of values: hash each once, not once per client.
_GENDER_SHA256 = {gender: sha256_hex(gender) for gender in ("m", "f")}


@lru_cache(maxsize=512)
def _country_sha256(value: str) -> str:
    return sha256_hex(country(value, lower=True))


@lru_cache(maxsize=512)
def _year_sha256(year: int) -> str:
    return sha256_hex(f"{year:04d}")


# Postal codes repeat too (Russia has ~43,000, the US ~42,000 ZIPs): remembered, by (zip, country).
# Measured: 0.8 us less per client, a sixth of Meta's formatting. Bounded: ~21 MB when full.
@lru_cache(maxsize=1 << 16)
def _zip_sha256(value: str, country_code: str) -> str:
    return sha256_hex(postal_code(value, country_code))


class Meta(Platform):
    name = "meta"
    label = "Meta Custom Audiences"
    min_audience = 100
    columns = {"audience": (
        ("email", "email"), ("phone", "phone"), ("fn", "first_name"), ("ln", "last_name"), ("ct", "city"),
        ("zip", "zip"), ("country", "country"), ("doby", "birth_year"), ("gen", "gender"),
        ("extern_id", "external_id"),
    )}

    def identifier_values(self, client: ClientRow) -> dict[str, str]:
        birth_date = client.birth_date
        return {
            "email": sha256_hex(email(client.email)),
            "phone": sha256_hex(phone(client.phone, client.country)),
            "first_name": name_sha256(client.first_name),
            "last_name": name_sha256(client.last_name),
            "city": name_sha256(client.city),
            "zip": _zip_sha256(client.zip, client.country),
            "country": _country_sha256(client.country),
            "birth_year": _year_sha256(birth_date.year) if birth_date else "",
            "gender": _GENDER_SHA256.get(client.gender, ""),
            "external_id": client.external_id,
        }
