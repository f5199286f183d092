import datetime as dt

from celery import shared_task
from django.db import InterfaceError, OperationalError

# A database that went away mid-run is worth another try later; a bug is not.
TRANSIENT = (OperationalError, InterfaceError)


@shared_task(autoretry_for=TRANSIENT, retry_backoff=300, retry_backoff_max=3600, max_retries=3)
def nightly_rebuild(as_of=None):
    """as_of: 'YYYY-MM-DD' or None for yesterday in TIME_ZONE."""
    # Imported here: the admin imports this module, and loading scikit-learn with the pipeline
    # (about a second of CPU) would slow every web worker's start for a task only workers run.
    from .pipeline import rebuild_segments

    run = rebuild_segments(dt.date.fromisoformat(as_of) if as_of else None)
    return {"run": run.pk, "as_of": run.as_of.isoformat(), "status": run.status, "counts": run.counts}
