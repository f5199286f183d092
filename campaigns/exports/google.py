"""Google Ads Customer Match: hashed email, phone (E.164 with `+`) and names; plain country and zip."""

from .base import ClientRow, Platform
from .normalize import country, email, name_sha256, phone, sha256_hex


class Google(Platform):
    name = "google"
    label = "Google Ads Customer Match"
    min_audience = 100
    columns = {"audience": (
        ("Email", "email"), ("Phone", "phone"), ("First Name", "first_name"), ("Last Name", "last_name"),
        ("Country", "country"), ("Zip", "zip"),
    )}
    # Google matches a mailing address only as a whole: first name, last name, country and zip
    # together. identifier_values fills the four only when all are known (a partial address cannot
    # match, and we would rather not send it), so a first name stands for a complete address.
    match_keys = ("email", "phone", "first_name")

    def identifier_values(self, client: ClientRow) -> dict[str, str]:
        first, last = name_sha256(client.first_name), name_sha256(client.last_name)
        country_code, zip_code = country(client.country), client.zip.strip()
        if not (first and last and country_code and zip_code):
            first = last = country_code = zip_code = ""
        return {
            "email": sha256_hex(email(client.email, google=True)),
            "phone": sha256_hex(phone(client.phone, client.country, plus=True)),
            "first_name": first,
            "last_name": last,
            "country": country_code,
            "zip": zip_code,
        }
