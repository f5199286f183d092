"""Where mailing's work meets the task queue: a batch ready to send is queued, and after a nightly
run has succeeded (and committed) the triggered campaigns are."""

from django.dispatch import receiver

from segments.signals import queue_after_run, run_succeeded

from .launch import batch_ready
from .tasks import launch_triggered_campaigns, queue_batch


@receiver(batch_ready, dispatch_uid="mailing.queue_batch")
def queue_ready_batch(sender, delivery_ids, eta=None, **kwargs):
    # Sent inside the transaction that made the rows pending: queued when it commits.
    queue_batch(delivery_ids, eta)


@receiver(run_succeeded, dispatch_uid="mailing.queue_triggered_campaigns")
def queue_triggered_campaigns(sender, run, **kwargs):
    # Triggered campaigns email the clients who entered their segment in this run.
    queue_after_run(launch_triggered_campaigns, run, "triggered campaigns")
