"""Google Ads Customer Match: hashed email, phone (E.164 with `+`) and names; plain country and zip."""

from operator import mul

from .base import Platform
from .normalize import NAMES_SHA256, HashCache, country, emails_sha256, phones_sha256

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
    # together. identifier_columns fills the four only when all are known (a partial address cannot
    # match, and we would rather not send it), so a first name stands for a complete address.
    match_keys = ("email", "phone", "first_name")
    reads = ("email", "phone", "first_name", "last_name", "country", "zip")

    def identifier_columns(self, fields):
        address = [NAMES_SHA256.column(fields["first_name"]), NAMES_SHA256.column(fields["last_name"]),
                   _COUNTRIES.column(fields["country"]), list(map(str.strip, fields["zip"]))]
        # An address is sent whole or not at all. str * bool keeps a cell ("x" * True) or empties
        # it ("x" * False), in map() rather than a Python loop.
        complete = list(map(all, zip(*address)))
        if not all(complete):
            address = [list(map(mul, column, complete)) for column in address]
        first_names, last_names, countries, zips = address
        return {
            "email": emails_sha256(fields["email"], google=True),
            "phone": phones_sha256(fields["phone"], fields["country"], plus=True),
            "first_name": first_names,
            "last_name": last_names,
            "country": countries,
            "zip": zips,
        }
