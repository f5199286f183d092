"""Google Ads Customer Match: hashed email, phone (E.164 with `+`) and names; plain country and zip."""

from operator import mul

from .base import ClientRow, Lines, Platform, csv_lines, kept_lines
from .normalize import (
    HashCache,
    country,
    email,
    emails_sha256,
    name_sha256,
    phone,
    phones_sha256,
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
        # identifier_values, a column of the batch at a time (see Platform and meta.py). An address
        # is sent whole or not at all: `complete` per client, and str * bool keeps a cell ("x" * True)
        # or empties it ("x" * False) in C-level map() instead of a Python loop.
        if not records:
            return kept_lines("audience", [], (), ())
        client_ids, emails, phones, first_names, last_names, countries, zips = zip(*records)
        email_hashes = emails_sha256(emails, google=True)
        phone_hashes = phones_sha256(phones, countries, plus=True)
        names = _NAMES.__getitem__
        address = (list(map(names, first_names)), list(map(names, last_names)),
                   list(map(_COUNTRIES.__getitem__, countries)), list(map(str.strip, zips)))
        complete = list(map(all, zip(*address)))
        if not all(complete):
            address = [list(map(mul, column, complete)) for column in address]
        lines = csv_lines(email_hashes, phone_hashes, *address)
        # A client needs an email, a phone or a whole address (its first name stands for it).
        return kept_lines("audience", lines, client_ids, map(any, zip(email_hashes, phone_hashes, address[0])))
