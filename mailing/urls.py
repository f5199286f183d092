"""Public pages of email campaigns (no login) and the ESP tracking webhook: included from config/urls.py."""

import re
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


def tracking_urlpatterns(email_backend):
    """The tracking webhook (POST /anymail/<esp>/tracking/) of the ESP that `email_backend` names
    (anymail.backends.<esp>.EmailBackend), and nothing for any other backend. Another ESP's webhook
    would answer anyone with a 500, its settings missing; we receive no inbound mail."""
    esp = re.fullmatch(r"anymail\.backends\.(\w+)\.\w+", email_backend)
    if not esp:
        return []
    name = f"{esp[1]}_tracking_webhook"
    return [URLPattern(p.pattern, secret_required(p.callback), p.default_args, p.name)
            for p in anymail_urls.urlpatterns if p.name == name]


urlpatterns = [
    path("u/<str:token>/", unsubscribe_view, name="campaigns-unsubscribe"),
    path("anymail/", include(tracking_urlpatterns(settings.EMAIL_BACKEND))),
]
