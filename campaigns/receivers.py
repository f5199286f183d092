"""Audience syncs follow the nightly scoring: queued when a run has succeeded (and committed)."""

import logging

from django.dispatch import receiver

from segments.signals import run_succeeded

from .tasks import sync_audiences

logger = logging.getLogger(__name__)


@receiver(run_succeeded, dispatch_uid="campaigns.queue_audience_syncs")
def queue_audience_syncs(sender, run, **kwargs):
    # The signal comes outside any transaction, so plain delay(). Always queued, even without
    # syncs: the task also purges old files. The run has succeeded whatever happens here: with
    # tasks running in-process (no REDIS_URL) a failure must not turn it into an error.
    try:
        sync_audiences.delay(run.pk)
    except Exception:
        logger.exception("audience syncs after scoring run %s did not run", run.pk)
