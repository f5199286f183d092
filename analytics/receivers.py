"""After a nightly run has succeeded (and committed): queue the dashboards' snapshot (precompute.py)."""

from django.dispatch import receiver

from segments.signals import queue_after_run, run_succeeded

from .tasks import build_snapshot


@receiver(run_succeeded, dispatch_uid="analytics.queue_snapshot")
def queue_snapshot(sender, run, **kwargs):
    # If it fails, the pages keep showing the previous snapshot.
    queue_after_run(build_snapshot, run, "analytics snapshot")
