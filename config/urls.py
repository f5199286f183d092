from django.contrib import admin
from django.urls import include, path

from .health import background_health_view, health_view

urlpatterns = [
    path("admin/", include("crm.accounts.urls")),  # two-factor enrolment and verification (crm/accounts/)
    path("admin/", admin.site.urls),
    # Load balancers probe /health/ (the database); monitoring /health/background/ (broker, workers,
    # nightly run, email backend): config/health.py.
    path("health/", health_view, name="health"),
    path("health/background/", background_health_view, name="health-background"),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the admin's language switcher posts here
    path("api/", include("api.urls")),  # REST API for shops, its schema and docs (api/)
    # Unsubscribe pages, and the ESP tracking webhooks at POST /anymail/<esp>/tracking/, refused without
    # ANYMAIL_WEBHOOK_SECRET (mailing/urls.py, tracking.py)
    path("", include("mailing.urls")),
]
