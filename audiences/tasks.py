"""Audience tasks: thin wrappers that take ids, call one workflow function and carry the retry policy."""

from celery import shared_task
from django.contrib.auth import get_user_model
from django.db import InterfaceError, OperationalError

from segments.models import ScoringRun

from .export import purge_old_exports
from .models import AudiencePush, AudienceSync
from .syncs import run_sync, run_syncs

# Worth another try later: the database or the storage (S3 and the like) away for a moment. A
# failed export is recorded as such and changes no state, so trying again is safe; an API push
# resumes from its journal.
TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)


def _failed(export):
    push = getattr(export, "push", None) if export.sync_id else None
    return export.status == export.Status.FAILED or (push is not None and push.status != AudiencePush.Status.SUCCEEDED)


@shared_task(autoretry_for=TRANSIENT, retry_backoff=60, retry_backoff_max=1800, max_retries=3)
def sync_audiences(run_id=None):
    """After a scoring run: every active audience sync (files, and APIs where connected), then the retention purge."""
    run = ScoringRun.objects.filter(pk=run_id).first() if run_id else None
    exports = run_syncs(run)
    purged = purge_old_exports()
    return {"exports": [export.pk for export in exports],
            "failed": [export.pk for export in exports if _failed(export)],
            "purged": purged}


@shared_task(autoretry_for=TRANSIENT, retry_backoff=60, retry_backoff_max=1800, max_retries=3)
def export_sync(sync_id, user_id=None):
    """One sync now (the admin's "Sync now"), as `user_id`."""
    sync = AudienceSync.objects.select_related("segment", "account").get(pk=sync_id)
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    export = run_sync(sync, user=user)
    return {"export": export.pk, "status": export.status, "exported": export.exported, "removed": export.removed,
            "failed": _failed(export)}
