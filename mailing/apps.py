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

    # Every 10 seconds (two small indexed queries when nothing is wrong): a dead worker's batches are
    # taken over within CRM_CAMPAIGN_LEASE_SECONDS plus this, batches lost with the broker's queue are
    # queued again, campaigns with nothing left to send move to done.
    ensure_every(10, "Email campaigns: take over what a dead worker or a lost queue left",
                 "mailing.tasks.repair_stuck_deliveries",
                 "Deliveries whose task stopped renewing its hold (CRM_CAMPAIGN_LEASE_SECONDS) are taken over: "
                 "the one being sent is closed as 'outcome unknown' (never resent), the rest queued again; "
                 "pending deliveries lost with the queue are queued again; finished campaigns move to done.")
    # Every minute: scheduled one-off campaigns whose `send_at` has passed are launched. Launching
    # locks the campaign and moves it out of `scheduled`, so a run that overlaps another does nothing.
    ensure_every(60, "Email campaigns: launch one-off campaigns that are due", "mailing.tasks.launch_due_campaigns",
                 "Launches scheduled email campaigns sent once whose 'send at' has passed.")
