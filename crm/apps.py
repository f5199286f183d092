from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("Clients and purchases")

    def ready(self):
        from config.logs import connect_signals

        from . import checks  # noqa: F401  (registers the checks)

        connect_signals()  # correlation ids on the log lines of runs, campaigns and tasks
