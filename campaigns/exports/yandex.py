"""Yandex Audiences CRM segment: plain external_id, SHA-256 phone (digits only) and email.

Uploaded with hashing_alg=SHA256; Yandex stopped taking MD5 for new uploads in January 2025.
"""

from .base import ClientRow, Lines, Platform, csv_line, needs_quotes
from .normalize import email, email_sha256, phone, phone_sha256, sha256_hex


class Yandex(Platform):
    name = "yandex"
    label = "Yandex Audiences"
    min_audience = 100
    columns = {"audience": (("external_id", "external_id"), ("phone", "phone"), ("email", "email"))}
    reads = ("external_id", "email", "phone", "country")

    def identifier_values(self, client: ClientRow) -> dict[str, str]:
        return {
            "external_id": client.external_id,
            "phone": sha256_hex(phone(client.phone, client.country)),
            "email": sha256_hex(email(client.email)),
        }

    def format_batch(self, records) -> Lines:
        # identifier_values, for a batch at a time (see Platform); only the id may need quoting.
        lines, ids = [], []
        add, note = lines.append, ids.append
        for client_id, external_id, email_value, phone_value, country in records:
            email_hash, phone_hash = email_sha256(email_value), phone_sha256(phone_value, country)
            if email_hash or phone_hash:
                if needs_quotes(external_id):
                    add(csv_line((external_id, phone_hash, email_hash)))
                else:
                    add(f"{external_id},{phone_hash},{email_hash}\n")
                note(client_id)
        return Lines({"audience": lines}, {"audience": ids}, len(records) - len(ids))
