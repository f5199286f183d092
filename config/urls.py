from django.contrib import admin
from django.urls import include, path

from .health import health_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", health_view, name="health"),  # database, Redis, nightly run, email backend (config/health.py)
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the admin's language switcher posts here
    path("api/", include("api.urls")),  # REST API for shops, its schema and docs (api/)
    # Unsubscribe pages, and the ESP tracking webhooks at POST /anymail/<esp>/tracking/, refused without
    # ANYMAIL_WEBHOOK_SECRET (mailing/urls.py, tracking.py)
    path("", include("mailing.urls")),
]
