import logging

from django.dispatch import Signal

logger = logging.getLogger(__name__)

# Sent after a scoring run has succeeded and its transaction committed, with `run`: other apps
# (audience syncs, triggered campaigns, the dashboards' snapshot) act on the new memberships from here.
run_succeeded = Signal()


def queue_after_run(task, run, what):
    """`task.delay(run.pk)` for a receiver of run_succeeded. The signal comes outside any
    transaction, so plain delay(). The run has succeeded whatever happens here: with tasks running
    in-process (no REDIS_URL) a failure is logged, not turned into the run's error."""
    try:
        task.delay(run.pk)
    except Exception:
        logger.exception("%s after scoring run %s did not run", what, run.pk)
