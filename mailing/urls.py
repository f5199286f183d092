"""Public pages of email campaigns (no login) and the ESP tracking webhooks: included from config/urls.py."""

from functools import wraps

from anymail import urls as anymail_urls
from django.conf import settings
from django.http import HttpResponseForbidden
from django.urls import URLPattern, include, path

from .unsubscribe import unsubscribe_view


def secret_required(view):
    """anymail only warns when ANYMAIL_WEBHOOK_SECRET is unset and then takes posts from anyone;
    a forged bounce or complaint would suppress a real address, so without the secret we refuse."""

    @wraps(view)  # keeps anymail's csrf_exempt
    def guarded(request, *args, **kwargs):
        if not settings.ANYMAIL.get("WEBHOOK_SECRET"):
            return HttpResponseForbidden("Tracking webhooks are off: ANYMAIL_WEBHOOK_SECRET is not set.")
        return view(request, *args, **kwargs)

    return guarded


# Tracking only (POST /anymail/<esp>/tracking/): we receive no inbound mail.
tracking_urlpatterns = [
    URLPattern(p.pattern, secret_required(p.callback), p.default_args, p.name)
    for p in anymail_urls.urlpatterns if p.name and p.name.endswith("_tracking_webhook")
]

urlpatterns = [
    path("u/<str:token>/", unsubscribe_view, name="campaigns-unsubscribe"),
    path("anymail/", include(tracking_urlpatterns)),
]
