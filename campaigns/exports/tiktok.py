"""TikTok Ads custom audience: SHA-256 email and phone (digits only, no `+`)."""

from .base import ClientRow, Platform
from .normalize import email, phone, sha256_hex


class TikTok(Platform):
    name = "tiktok"
    label = "TikTok Ads"
    min_audience = 1000
    columns = {"audience": (("Email_SHA256", "email"), ("Phone_SHA256", "phone"))}

    def identifier_values(self, client: ClientRow) -> dict[str, str]:
        return {"email": sha256_hex(email(client.email)), "phone": sha256_hex(phone(client.phone, client.country))}
