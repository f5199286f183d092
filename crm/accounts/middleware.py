"""Session timeouts and the two-factor gate in front of the admin."""

import time

from django.conf import settings
from django.contrib import auth
from django.shortcuts import redirect
from django.urls import reverse

from . import two_factor

LAST_SEEN = "crm_last_seen"
SIGNED_IN = "crm_signed_in"
# Whether the user had a second factor when this session signed in (read once, not on every request).
# It changes only inside the user's own sessions (enrolling ends the others) or when an Administrator
# resets it (which ends them all).
HAS_DEVICE = "crm_two_factor"
# Writing the last request's time on every request would write the session every time; a minute is
# precise enough for an idle timeout counted in minutes.
TOUCH_EVERY = 60


class SessionTimeoutMiddleware:
    """Signs the user out after CRM_SESSION_IDLE_MINUTES without a request, and CRM_SESSION_MAX_HOURS
    after signing in whatever they do (the cookie's own age would grow with every session write)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = time.time()
            session = request.session
            signed_in = session.setdefault(SIGNED_IN, now)
            last = session.get(LAST_SEEN, now)
            if (now - last > settings.CRM_SESSION_IDLE_MINUTES * 60
                    or now - signed_in > settings.CRM_SESSION_MAX_HOURS * 3600):
                auth.logout(request)
            elif now - last >= TOUCH_EVERY or LAST_SEEN not in session:
                session[LAST_SEEN] = now
        return self.get_response(request)


class TwoFactorMiddleware:
    """In the admin, a signed-in user with a second factor verifies it before anything else, and one who
    must have one (two_factor.required_for) enrols first. Sign-out, the language switch and the
    two-factor pages themselves stay open."""

    OPEN = ("admin:logout", "admin:login", "accounts-verify", "accounts-enrol", "set_language", "admin:jsi18n")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated and request.path.startswith(reverse("admin:index"))
                and not user.is_verified() and request.path not in self.open_paths()):
            if HAS_DEVICE not in request.session:
                request.session[HAS_DEVICE] = two_factor.enrolled(user)
            if request.session[HAS_DEVICE]:
                return redirect(f"{reverse('accounts-verify')}?next={request.get_full_path()}")
            if two_factor.required_for(user):
                return redirect(reverse("accounts-enrol"))
        return self.get_response(request)

    @classmethod
    def open_paths(cls):
        return {reverse(name) for name in cls.OPEN}
