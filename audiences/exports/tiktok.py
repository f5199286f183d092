"""TikTok Ads custom audience: SHA-256 email and phone (digits only, no `+`)."""

from .base import ClientRow, Lines, Platform, csv_lines, kept_lines
from .normalize import email, emails_sha256, phone, phones_sha256, sha256_hex


class TikTok(Platform):
    name = "tiktok"
    label = "TikTok Ads"
    min_audience = 1000
    columns = {"audience": (("Email_SHA256", "email"), ("Phone_SHA256", "phone"))}
    reads = ("email", "phone", "country")

    def identifier_values(self, client: ClientRow) -> dict[str, str]:
        return {"email": sha256_hex(email(client.email)), "phone": sha256_hex(phone(client.phone, client.country))}

    def format_batch(self, records) -> Lines:
        # identifier_values, a column of the batch at a time (see Platform and meta.py).
        if not records:
            return kept_lines("audience", [], (), ())
        client_ids, emails, phones, countries = zip(*records)
        email_hashes, phone_hashes = emails_sha256(emails), phones_sha256(phones, countries)
        lines = csv_lines(email_hashes, phone_hashes)
        return kept_lines("audience", lines, client_ids, map(any, zip(email_hashes, phone_hashes)))
