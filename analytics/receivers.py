"""After a nightly run has succeeded (and committed): queue the dashboards' snapshot (precompute.py)."""

import logging

from django.dispatch import receiver

from segments.signals import run_succeeded

from .tasks import build_snapshot

logger = logging.getLogger(__name__)


@receiver(run_succeeded, dispatch_uid="analytics.queue_snapshot")
def queue_snapshot(sender, run, **kwargs):
    # The run has succeeded whatever happens here: with tasks in-process (no REDIS_URL) a failure
    # must not turn it into an error; the pages keep showing the previous snapshot.
    try:
        build_snapshot.delay(run.pk)
    except Exception:
        logger.exception("analytics snapshot after scoring run %s was not computed", run.pk)
