from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = _("Analytics")

    def ready(self):
        # After each successful nightly run: precompute the dashboards' tables (receivers.py).
        from . import receivers  # noqa: F401
