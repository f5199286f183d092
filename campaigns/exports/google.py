"""Google Ads Customer Match: hashed email, phone (E.164 with `+`) and names; plain country and zip."""

from .base import ClientRow, Lines, Platform, csv_line, needs_quotes
from .normalize import (
    HashCache,
    country,
    email,
    google_email_sha256,
    name_sha256,
    phone,
    phone_plus_sha256,
    sha256_hex,
)

# Names and countries repeat across clients: each distinct raw value is normalised and hashed once.
_NAMES = HashCache(name_sha256)
_COUNTRIES = HashCache(country, limit=1024)


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
    reads = ("email", "phone", "first_name", "last_name", "country", "zip")

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

    def format_batch(self, records) -> Lines:
        # identifier_values, for a batch at a time (see Platform); the zip may need quoting, the
        # country (two letters) and the digests never do.
        lines, ids = [], []
        add, note = lines.append, ids.append
        names, countries = _NAMES, _COUNTRIES
        for client_id, email_value, phone_value, first_name, last_name, country_value, zip_value in records:
            email_hash = google_email_sha256(email_value)
            phone_hash = phone_plus_sha256(phone_value, country_value)
            first, last, country_code, zip_code = (
                names[first_name], names[last_name], countries[country_value], zip_value.strip())
            if not (first and last and country_code and zip_code):
                if not (email_hash or phone_hash):
                    continue
                add(f"{email_hash},{phone_hash},,,,\n")
            elif needs_quotes(zip_code):
                add(csv_line((email_hash, phone_hash, first, last, country_code, zip_code)))
            else:
                add(f"{email_hash},{phone_hash},{first},{last},{country_code},{zip_code}\n")
            note(client_id)
        return Lines({"audience": lines}, {"audience": ids}, len(records) - len(ids))
