from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class MailingConfig(AppConfig):
    name = "mailing"
    verbose_name = _("Email campaigns")

    def ready(self):
        # Signal receivers: batches queued as launch announces them, triggered campaigns after a
        # nightly run, beat entries that follow campaigns, ESP tracking events onto deliveries;
        # and the deploy checks of the email settings.
        from . import checks, receivers, scheduling, tracking  # noqa: F401

        post_migrate.connect(_schedule, sender=apps.get_app_config("django_celery_beat"),
                             dispatch_uid="mailing.schedule")


def _schedule(**kwargs):
    from core.schedules import ensure_every

    # Every 5 minutes: deliveries a dead worker left in `sending` are closed as failed (interrupted,
    # never resent) and campaigns with nothing left to send move to done.
    ensure_every(5, "Email campaigns: close interrupted deliveries", "mailing.tasks.repair_stuck_deliveries",
                 "Closes deliveries stuck in 'sending' longer than CRM_CAMPAIGN_STUCK_MINUTES as failed "
                 "(interrupted) and finishes campaigns with nothing left to send.")
    # Every minute: scheduled one-off campaigns whose `send_at` has passed are launched. Launching
    # locks the campaign and moves it out of `scheduled`, so a run that overlaps another does nothing.
    ensure_every(1, "Email campaigns: launch one-off campaigns that are due", "mailing.tasks.launch_due_campaigns",
                 "Launches scheduled email campaigns sent once whose 'send at' has passed.")
