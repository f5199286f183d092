"""TikTok Ads custom audience: SHA-256 email and phone (digits only, no `+`)."""

from .base import ClientRow, Lines, Platform
from .normalize import email, email_sha256, phone, phone_sha256, sha256_hex


class TikTok(Platform):
    name = "tiktok"
    label = "TikTok Ads"
    min_audience = 1000
    columns = {"audience": (("Email_SHA256", "email"), ("Phone_SHA256", "phone"))}
    reads = ("email", "phone", "country")

    def identifier_values(self, client: ClientRow) -> dict[str, str]:
        return {"email": sha256_hex(email(client.email)), "phone": sha256_hex(phone(client.phone, client.country))}

    def format_batch(self, records) -> Lines:
        # identifier_values, for a batch at a time (see Platform); hex digests need no quoting.
        lines, ids = [], []
        add, note = lines.append, ids.append
        for client_id, email_value, phone_value, country in records:
            email_hash, phone_hash = email_sha256(email_value), phone_sha256(phone_value, country)
            if email_hash or phone_hash:
                add(f"{email_hash},{phone_hash}\n")
                note(client_id)
        return Lines({"audience": lines}, {"audience": ids}, len(records) - len(ids))
