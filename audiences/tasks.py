"""Audience tasks: thin wrappers that take ids, call one workflow function and carry the retry policy."""

from celery import shared_task
from django.contrib.auth import get_user_model
from django.db import InterfaceError, OperationalError

from segments.models import ScoringRun

from .export import export_audience, purge_old_exports, run_syncs
from .models import AudienceSync, ExportMode

# Worth another try later: the database or the storage (S3 and the like) away for a moment. A
# failed export is recorded as such and changes no state, so trying again is safe.
TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)


@shared_task(autoretry_for=TRANSIENT, retry_backoff=60, retry_backoff_max=1800, max_retries=3)
def sync_audiences(run_id=None):
    """After a scoring run: every active audience sync, then the retention purge."""
    run = ScoringRun.objects.filter(pk=run_id).first() if run_id else None
    exports = run_syncs(run)
    purged = purge_old_exports()
    return {"exports": [export.pk for export in exports],
            "failed": [export.pk for export in exports if export.status == export.Status.FAILED],
            "purged": purged}


@shared_task(autoretry_for=TRANSIENT, retry_backoff=60, retry_backoff_max=1800, max_retries=3)
def export_sync(sync_id, user_id=None):
    """One sync now (the admin's "Export now"), as `user_id`."""
    sync = AudienceSync.objects.select_related("segment").get(pk=sync_id)
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    export = export_audience(sync.segment, sync.platform, delta=sync.mode == ExportMode.DELTA, user=user, sync=sync)
    return {"export": export.pk, "status": export.status, "exported": export.exported, "removed": export.removed}
