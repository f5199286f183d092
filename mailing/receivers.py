"""After a nightly run has succeeded (and committed): queue the triggered campaigns."""

from django.dispatch import receiver

from segments.signals import queue_after_run, run_succeeded

from .tasks import launch_triggered_campaigns


@receiver(run_succeeded, dispatch_uid="mailing.queue_triggered_campaigns")
def queue_triggered_campaigns(sender, run, **kwargs):
    # Triggered campaigns email the clients who entered their segment in this run.
    queue_after_run(launch_triggered_campaigns, run, "triggered campaigns")
