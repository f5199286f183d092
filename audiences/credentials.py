"""Ad-platform credentials, encrypted at rest with CRM_CREDENTIALS_KEY (Fernet: AES-128-CBC with an
HMAC-SHA256, from the `cryptography` package) and shown again only masked.

The key lives in the environment, never in the database: a database dump alone gives nobody the
tokens. A key that cannot be read stops the settings (config/settings.py); a missing key, or one that
cannot open the stored accounts, is a start-up error (audiences.E002, audiences.E003).
"""

import json

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class CredentialsKeyError(RuntimeError):
    """CRM_CREDENTIALS_KEY is missing, or is not the key the credentials were encrypted with."""


def _fernet():
    key = settings.CRM_CREDENTIALS_KEY
    if not key:
        raise CredentialsKeyError(
            "CRM_CREDENTIALS_KEY is not set: ad-platform credentials cannot be stored or read. Generate one "
            "with `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`.")
    return Fernet(key)


def encrypt(values: dict) -> str:
    return _fernet().encrypt(json.dumps(values, sort_keys=True).encode()).decode()


def decrypt(token: str) -> dict:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise CredentialsKeyError(
            "CRM_CREDENTIALS_KEY is not the key the ad-platform credentials were stored with (set the "
            "previous key, or enter the credentials again).") from None


def mask(value: str) -> str:
    """What the admin shows of a secret: its length hidden, at most its last four characters."""
    if not value:
        return ""
    return "••••" + (value[-4:] if len(value) >= 12 else "")
