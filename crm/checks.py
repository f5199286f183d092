"""Start-up checks for settings that can only be judged once Django is loaded."""

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import get_connection


@checks.register()
def email_backend_is_usable(app_configs, **kwargs):
    # anymail backends check their own settings (API keys ...) when built: build one now, so a
    # missing ANYMAIL_* value stops `manage.py check` and every command rather than a first send.
    try:
        get_connection(fail_silently=False)
    except (ImportError, ImproperlyConfigured, TypeError) as exc:
        return [checks.Error(f"EMAIL_BACKEND={settings.EMAIL_BACKEND!r} cannot be used: {exc}", id="crm.E001")]
    return []
