"""TikTok Ads custom audience: SHA-256 email and phone (digits only, no `+`)."""

from .base import Platform
from .normalize import emails_sha256, phones_sha256


class TikTok(Platform):
    name = "tiktok"
    label = "TikTok Ads"
    min_audience = 1000
    columns = {"audience": (("Email_SHA256", "email"), ("Phone_SHA256", "phone"))}
    reads = ("email", "phone", "country")

    def identifier_columns(self, fields):
        return {"email": emails_sha256(fields["email"]), "phone": phones_sha256(fields["phone"], fields["country"])}
