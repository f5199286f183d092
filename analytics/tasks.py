from celery import shared_task
from django.db import InterfaceError, OperationalError

# A database that went away is worth another try later; a bug is not.
TRANSIENT = (OperationalError, InterfaceError)


@shared_task(autoretry_for=TRANSIENT, retry_backoff=60, retry_backoff_max=1800, max_retries=3)
def build_snapshot(run_id):
    """The dashboards' snapshot of a succeeded run (analytics/precompute.py)."""
    from segments.models import ScoringRun

    from .precompute import build_snapshot as build

    run = ScoringRun.objects.filter(pk=run_id, status=ScoringRun.Status.SUCCEEDED).first()
    if run is None:  # deleted, or not a succeeded run: nothing to show
        return None
    snapshot = build(run)
    return {"run": run_id, "seconds": snapshot.seconds}
