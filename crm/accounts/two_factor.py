"""Two-factor sign-in with django-otp: an authenticator app (TOTP) and ten single-use recovery codes.

Who must use it: every user who holds a personal-data permission (crm/roles.py PERSONAL_DATA; superusers
hold all), as long as CRM_TWO_FACTOR_REQUIRED is on. Others may enrol; once they have, they verify too.
"""

import segno
from django.conf import settings
from django.contrib.auth.models import Permission
from django.db import transaction
from django.db.models import Q
from django_otp import user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from .. import roles

RECOVERY_CODES = 10
APP_DEVICE = "authenticator app"
RECOVERY_DEVICE = "recovery codes"


def personal_data_permissions():
    """Permission rows that let personal data out (for a query)."""
    which = Q(pk__in=[])
    for app_label, codename in roles.PERSONAL_DATA:
        which |= Q(content_type__app_label=app_label, codename=codename)
    return Permission.objects.filter(which)


def holds_personal_data(user):
    if not user.is_active:
        return False
    return user.is_superuser or any(user.has_perm(f"{app}.{code}") for app, code in roles.PERSONAL_DATA)


def required_for(user):
    return settings.CRM_TWO_FACTOR_REQUIRED and holds_personal_data(user)


def enrolled(user):
    return user_has_device(user, confirmed=True)


def pending_device(user):
    """The authenticator app being set up: made once, kept unconfirmed until its first code is right."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False, name=APP_DEVICE).first()
    return device or TOTPDevice.objects.create(user=user, name=APP_DEVICE, confirmed=False)


def qr_svg(device):
    """The device's otpauth:// URL as an SVG QR code to put in the page (no script, no outside service)."""
    return segno.make(device.config_url, error="m").svg_inline(scale=5, border=2)


def secret_text(device):
    from base64 import b32encode

    key = b32encode(device.bin_key).decode()
    return " ".join(key[i:i + 4] for i in range(0, len(key), 4))


@transaction.atomic
def confirm(device, token):
    """Confirm the app with its first code; on success the user's earlier app and codes go and new
    recovery codes are made. Returns the codes (shown once), or None if the code is wrong."""
    if not device.verify_token(token):
        return None
    TOTPDevice.objects.filter(user=device.user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return new_recovery_codes(device.user)


def new_recovery_codes(user):
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def devices(user):
    """Every device of the user, confirmed or not."""
    return [*TOTPDevice.objects.filter(user=user), *StaticDevice.objects.filter(user=user)]


def reset(user):
    """Remove the user's second factor (a lost phone): they enrol again at their next sign-in."""
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()


def find_device(user, token):
    """The confirmed device that accepts `token` (an app code or a recovery code), or None."""
    from django_otp import match_token

    token = "".join(token.split())
    return match_token(user, token) if token else None
