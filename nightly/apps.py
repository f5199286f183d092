from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class NightlyConfig(AppConfig):
    name = "nightly"
    verbose_name = _("Nightly run")

    def ready(self):
        post_migrate.connect(_schedule, sender=apps.get_app_config("django_celery_beat"),
                             dispatch_uid="nightly.schedule")


def _schedule(**kwargs):
    from core.schedules import ensure_daily

    # The nightly run: 03:00 in the shop's time zone; the team can change it in the admin.
    ensure_daily(3, "Nightly scoring and segments", "nightly.tasks.nightly_rebuild",
                 "Re-scores every client as of yesterday and refreshes every segment.")
