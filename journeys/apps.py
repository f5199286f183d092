from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class JourneysConfig(AppConfig):
    name = "journeys"
    verbose_name = _("Journeys")

    def ready(self):
        from . import receivers  # noqa: F401

        post_migrate.connect(_schedule, sender=apps.get_app_config("django_celery_beat"),
                             dispatch_uid="journeys.schedule")


def _schedule(**kwargs):
    from core.schedules import ensure_every

    # Every 10 seconds: one indexed query over the due rows when nothing is due.
    ensure_every(10, "Journeys: do the steps that are due", "journeys.tasks.run_due_positions",
                 "Claims the journey positions whose time has come, in chunks, and does their steps.")
