"""Yandex Audiences CRM segment: plain external_id, SHA-256 phone (digits only) and email.

Uploaded with hashing_alg=SHA256; Yandex stopped taking MD5 for new uploads in January 2025.
"""

from .base import ClientRow, Platform
from .normalize import email, phone, sha256_hex


class Yandex(Platform):
    name = "yandex"
    label = "Yandex Audiences"
    min_audience = 100
    columns = {"audience": (("external_id", "external_id"), ("phone", "phone"), ("email", "email"))}

    def identifier_values(self, client: ClientRow) -> dict[str, str]:
        return {
            "external_id": client.external_id,
            "phone": sha256_hex(phone(client.phone, client.country)),
            "email": sha256_hex(email(client.email)),
        }
