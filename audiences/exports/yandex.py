"""Yandex Audiences CRM segment: plain external_id, SHA-256 phone (digits only) and email.

Uploaded with hashing_alg=SHA256; Yandex stopped taking MD5 for new uploads in January 2025.
"""

from .base import Platform
from .normalize import emails_sha256, phones_sha256


class Yandex(Platform):
    name = "yandex"
    label = "Yandex Audiences"
    min_audience = 100
    columns = {"audience": (("external_id", "external_id"), ("phone", "phone"), ("email", "email"))}
    reads = ("external_id", "email", "phone", "country")

    def identifier_columns(self, fields):
        return {
            "external_id": fields["external_id"],
            "phone": phones_sha256(fields["phone"], fields["country"]),
            "email": emails_sha256(fields["email"]),
        }
