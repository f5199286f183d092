from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("Clients and purchases")

    def ready(self):
        from . import checks  # noqa: F401  (registers the checks)
        from .accounts import signals

        signals.connect()

        # After the last app's migrations, when every permission the groups hold can exist.
        last = [config for config in apps.get_app_configs() if config.models_module][-1]
        post_migrate.connect(_roles, sender=last, dispatch_uid="crm.roles")


def _roles(**kwargs):
    from .roles import ensure_groups

    ensure_groups()
