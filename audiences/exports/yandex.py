"""Yandex Audiences CRM segment: plain external_id, SHA-256 phone (digits only) and email.

Uploaded with hashing_alg=SHA256; Yandex stopped taking MD5 for new uploads in January 2025.
"""

from .base import ClientRow, Lines, Platform, csv_lines, kept_lines
from .normalize import email, emails_sha256, phone, phones_sha256, sha256_hex


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
        # identifier_values, a column of the batch at a time (see Platform and meta.py).
        if not records:
            return kept_lines("audience", [], (), ())
        client_ids, external_ids, emails, phones, countries = zip(*records)
        email_hashes, phone_hashes = emails_sha256(emails), phones_sha256(phones, countries)
        lines = csv_lines(external_ids, phone_hashes, email_hashes)
        return kept_lines("audience", lines, client_ids, map(any, zip(email_hashes, phone_hashes)))
