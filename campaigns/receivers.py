"""After a nightly run has succeeded (and committed): queue the audience syncs and the triggered campaigns."""

from django.dispatch import receiver

from segments.signals import queue_after_run, run_succeeded

from .mailing.tasks import launch_triggered_campaigns
from .tasks import sync_audiences


@receiver(run_succeeded, dispatch_uid="campaigns.queue_audience_syncs")
def queue_audience_syncs(sender, run, **kwargs):
    # Always queued, even without syncs: the task also purges old files.
    queue_after_run(sync_audiences, run, "audience syncs")


@receiver(run_succeeded, dispatch_uid="campaigns.queue_triggered_campaigns")
def queue_triggered_campaigns(sender, run, **kwargs):
    # Triggered campaigns email the clients who entered their segment in this run.
    queue_after_run(launch_triggered_campaigns, run, "triggered campaigns")
