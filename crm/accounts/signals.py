"""Every sign-in, failed sign-in and lock-out in the audit log (connected in crm/apps.py)."""

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

from ..audit import record


def _address(request):
    return getattr(request, "axes_ip_address", None) or (request.META.get("REMOTE_ADDR") if request else None)


def _target(username):
    return f"auth.user:{username or '?'}"


def signed_in(sender, request, user, **kwargs):
    import time

    from . import two_factor
    from .middleware import HAS_DEVICE, SIGNED_IN

    if request is not None and hasattr(request, "session"):
        request.session[SIGNED_IN] = time.time()
        request.session[HAS_DEVICE] = two_factor.enrolled(user)
    # Sign-ins through the form (a POST): a test's force_login has no request method and is not one.
    if request is None or request.method != "POST":
        return
    record("sign_in", _target(user.get_username()), user, address=_address(request))


def sign_in_failed(sender, credentials, request=None, **kwargs):
    username = (credentials or {}).get("username", "")
    detail = {"address": _address(request)}
    if getattr(request, "crm_refused_locked", False):
        detail["refused"] = "locked out"  # the password was not even checked
    record("sign_in_failed", _target(username), actor_name=f"login:{username}"[:150], **detail)


def locked_out(sender, request, username, ip_address, **kwargs):
    if getattr(request, "crm_refused_locked", False):
        return  # a further attempt during the lock-out: already recorded as a refused sign-in
    from axes.helpers import get_cool_off

    minutes = int(get_cool_off(request).total_seconds() // 60)
    record("locked_out", _target(username), actor_name=f"login:{username}"[:150], address=ip_address,
           failures=request.axes_failures_since_start, minutes=minutes)


def signed_out(sender, request, user, **kwargs):
    if user is not None:
        record("sign_out", _target(user.get_username()), user)


def connect():
    user_logged_in.connect(signed_in, dispatch_uid="crm.accounts.signed_in")
    user_login_failed.connect(sign_in_failed, dispatch_uid="crm.accounts.sign_in_failed")
    user_locked_out.connect(locked_out, dispatch_uid="crm.accounts.locked_out")
    user_logged_out.connect(signed_out, dispatch_uid="crm.accounts.signed_out")
