from django.contrib import admin
from django.urls import include, path, reverse_lazy
from django.utils.translation import gettext_lazy as _

from .health import background_health_view, health_view

# The product's name in the admin's header and tab titles, in the user's language; "View site" leads to
# the dashboards, the one page the team looks at first (the shop's own site is not ours to link).
admin.site.site_header = admin.site.site_title = _("Retention CRM")
admin.site.site_url = reverse_lazy("admin:analytics_dashboard_changelist")
# A refused permission gets a page that says which one and who grants it (crm/admin_denied.py).
handler403 = "crm.admin_denied.permission_denied"

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
