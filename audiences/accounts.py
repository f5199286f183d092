"""Connected ad accounts: the admin's "test connection", and the start-up checks of their key."""

from django.core import checks
from django.db import DatabaseError
from django.utils import timezone

from .apis import APIS, ApiError, api_for
from .credentials import CredentialsKeyError
from .models import ConnectedAccount


def test_connection(account) -> tuple[bool, str]:
    """One harmless read from the platform (one attempt: a person waits for it); the outcome is kept
    on the account and returned as (worked, what it said)."""
    try:
        message, ok = api_for(account, attempts=1).check(), True
    except (ApiError, CredentialsKeyError, OSError) as exc:
        message, ok = str(exc), False
    ConnectedAccount.objects.filter(pk=account.pk).update(checked_at=timezone.now(), check_ok=ok,
                                                          check_message=message[:2000])
    return ok, message


def missing_secrets(platform, values) -> list[str]:
    """The names of the credentials the platform needs that `values` lacks."""
    api = APIS.get(platform)
    if api is None:
        return []
    return [name for name in api.required_secrets if not values.get(name)]


def check_credentials_key(app_configs=None, databases=None, **kwargs):
    """Stored credentials need CRM_CREDENTIALS_KEY, and the key they were stored with (audiences.E002/E003).

    A database check: `manage.py migrate` (run before every start, `make stack`) and `manage.py check
    --database default` stop on it, before anything tries to sync.
    """
    if not databases:
        return []
    try:
        stored = list(ConnectedAccount.objects.exclude(secrets="").only("pk", "name", "secrets")[:1000])
    except DatabaseError:  # not migrated yet: nothing stored
        return []
    errors = []
    for account in stored:
        try:
            account.credentials()
        except CredentialsKeyError as exc:
            code = "audiences.E002" if "not set" in str(exc) else "audiences.E003"
            errors.append(checks.Error(f"Connected ad account {account.name!r}: {exc}", id=code))
            break
    return errors
