"""After a nightly run has succeeded (and committed): queue the audience syncs."""

from django.dispatch import receiver

from segments.signals import queue_after_run, run_succeeded

from .tasks import sync_audiences


@receiver(run_succeeded, dispatch_uid="audiences.queue_audience_syncs")
def queue_audience_syncs(sender, run, **kwargs):
    # Always queued, even without syncs: the task also purges old files.
    queue_after_run(sync_audiences, run, "audience syncs")

