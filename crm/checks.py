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


@checks.register(checks.Tags.security, deploy=True)
def two_factor_is_on(app_configs, **kwargs):
    # Roles that can take personal data out (crm/roles.py) sign in with a second factor unless this is
    # turned off; `check --deploy` and /health/ say so when it is (config/health.py).
    if settings.CRM_TWO_FACTOR_REQUIRED:
        return []
    return [checks.Warning(
        "CRM_TWO_FACTOR_REQUIRED is off: users who can download or export personal data (the Administrator "
        "role, superusers) sign in with a password alone.",
        hint="Unset CRM_TWO_FACTOR_REQUIRED (or set it to true) in production.", id="crm.W001")]
