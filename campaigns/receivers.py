"""After a nightly run has succeeded (and committed): queue the audience syncs and the triggered campaigns."""

import logging

from django.dispatch import receiver

from segments.signals import run_succeeded

from .mailing.tasks import launch_triggered_campaigns
from .tasks import sync_audiences

logger = logging.getLogger(__name__)


def _queue(task, run, what):
    # The signal comes outside any transaction, so plain delay(). The run has succeeded whatever
    # happens here: with tasks running in-process (no REDIS_URL) a failure must not turn it into an error.
    try:
        task.delay(run.pk)
    except Exception:
        logger.exception("%s after scoring run %s did not run", what, run.pk)


@receiver(run_succeeded, dispatch_uid="campaigns.queue_audience_syncs")
def queue_audience_syncs(sender, run, **kwargs):
    # Always queued, even without syncs: the task also purges old files.
    _queue(sync_audiences, run, "audience syncs")


@receiver(run_succeeded, dispatch_uid="campaigns.queue_triggered_campaigns")
def queue_triggered_campaigns(sender, run, **kwargs):
    # Triggered campaigns email the clients who entered their segment in this run.
    _queue(launch_triggered_campaigns, run, "triggered campaigns")
