"""Lock-outs after repeated failures: the admin's sign-in (django-axes counts, we set its cool-off) and
the API's tokens (counted here, per address, in the cache)."""

import datetime as dt
import logging

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

log = logging.getLogger(__name__)
LONGEST_COOL_OFF = dt.timedelta(days=1)


def client_ip(request):
    """The client's address: from CRM_CLIENT_IP_HEADER behind a proxy (the last address in it, the one
    our proxy added; earlier ones the client may have made up), else the connection's."""
    header = settings.CRM_CLIENT_IP_HEADER
    if header:
        value = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
        last = value.split(",")[-1].strip()
        if last:
            return last
    return request.META.get("REMOTE_ADDR")


def cool_off_for(failures, limit, base_minutes):
    """The cool-off after `failures` failed sign-ins in the last day: the base for the first lock-out,
    doubled for each further `limit` failures, at most a day. Pure, so the growth is tested alone."""
    doublings = min(max(1, failures // limit) - 1, 16)  # 2**16 base periods is past a day for any base
    return min(dt.timedelta(minutes=base_minutes) * 2 ** doublings, LONGEST_COOL_OFF)


def cool_off(request=None):
    """AXES_COOLOFF_TIME: grows with the failures of the last day for this user name or this address."""
    from axes.models import AccessFailureLog
    from django.db.models import Q

    limit, base = settings.CRM_LOGIN_FAILURE_LIMIT, settings.CRM_LOGIN_COOLOFF_MINUTES
    if request is None:
        return dt.timedelta(minutes=base)
    who = Q()
    username = (getattr(request, "POST", {}) or {}).get("username") or ""
    if username:
        who |= Q(username=username)
    address = getattr(request, "axes_ip_address", None)
    if address:
        who |= Q(ip_address=address)
    if not who:
        return dt.timedelta(minutes=base)
    since = timezone.now() - LONGEST_COOL_OFF
    failures = AccessFailureLog.objects.filter(who, attempt_time__gte=since, locked_out=False).count()
    return cool_off_for(failures, limit, base)


# --- The API: unknown tokens from one address.

def _key(address):
    return f"crm:api-bad-token:{address}"


def api_address_locked(address):
    try:
        return (cache.get(_key(address)) or 0) >= settings.CRM_API_BAD_TOKEN_LIMIT
    except Exception as exc:  # the cache (Redis) down: the token check itself still guards the API
        log.warning("API lock-out not checked: the cache failed (%s)", exc)
        return False


def api_bad_token(address):
    """Count an unknown token from `address`; True when this one locks the address out. The count lives
    as long as the sign-in cool-off since its first failure, then starts again."""
    key, timeout = _key(address), settings.CRM_LOGIN_COOLOFF_MINUTES * 60
    try:
        cache.add(key, 0, timeout)
        count = cache.incr(key)
    except Exception as exc:
        log.warning("API bad token not counted: the cache failed (%s)", exc)
        return False
    return count == settings.CRM_API_BAD_TOKEN_LIMIT


def api_lift(address):
    try:
        cache.delete(_key(address))
    except Exception as exc:
        log.warning("API lock-out not lifted: the cache failed (%s)", exc)


def lockout_response(request, original_response, credentials):
    """AXES_LOCKOUT_CALLABLE: the admin's page saying the sign-in is locked, for how long, and who lifts it."""
    from django.contrib import admin
    from django.shortcuts import render

    minutes = max(1, round(cool_off(request).total_seconds() / 60))
    context = {**admin.site.each_context(request), "title": _("Signing in is locked"), "cooloff_minutes": minutes,
               "is_nav_sidebar_enabled": False}
    return render(request, "admin/accounts/locked_out.html", context, status=429)


def _axes_backend():
    from axes.backends import AxesStandaloneBackend

    return AxesStandaloneBackend


class LockOutBackend(_axes_backend()):
    """django-axes' backend, marking a sign-in refused because the lock-out was already on (the password
    not checked), so the audit log tells it from the failure that starts a lock-out (signals.py)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        from axes.exceptions import AxesBackendPermissionDenied

        try:
            return super().authenticate(request, username, password, **kwargs)
        except AxesBackendPermissionDenied:
            request.crm_refused_locked = True
            raise
