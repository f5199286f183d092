"""Run the audience syncs: as files only, or files and the platform's API when an account is connected.

    run_sync(sync, run=None, user=None)   one sync now; returns its AudienceExport
    run_syncs(run=None)                   every active sync, after a successful scoring run
    failing_syncs()                       the active syncs that did not go through, for the health page
"""

import logging

from django.utils import timezone

from .export import export_audience
from .models import AudienceExport, AudiencePush, AudienceSync, ExportMode
from .push import sync_via_api

logger = logging.getLogger(__name__)


def run_sync(sync, run=None, user=None):
    """The sync's export (and, with a connected account, its push: `export.push`)."""
    if sync.account_id:
        return sync_via_api(sync, run=run, user=user).export
    return export_audience(sync.segment, sync.platform, delta=sync.mode == ExportMode.DELTA, run=run, user=user,
                           sync=sync)


def run_syncs(run=None):
    """Run every active sync (of an active segment); a failing one is recorded and does not stop the rest.

    Returns the exports made (or, for an API sync that is still resuming an earlier push, that push's
    export), failed ones included.
    """
    exports = []
    syncs = AudienceSync.objects.filter(is_active=True, segment__is_active=True).select_related("segment", "account")
    for sync in syncs:
        try:
            exports.append(run_sync(sync, run=run))
        except Exception:
            logger.exception("audience sync %s failed", sync)
            failed = AudienceExport.objects.filter(sync=sync, status=AudienceExport.Status.FAILED).first()
            if failed:
                exports.append(failed)
    return exports


def failing_syncs(now=None):
    """Active syncs whose last export failed, or whose push to the platform did not go through (failed,
    or held by a worker whose lease ran out): [(sync, what failed, when)], for the health page."""
    now = now or timezone.now()
    failing = []
    for sync in AudienceSync.objects.filter(is_active=True).select_related("segment"):
        export = sync.exports.first()
        if export is not None and export.status == AudienceExport.Status.FAILED:
            failing.append((sync, "export", export.created_at))
            continue
        stuck = (sync.pushes.filter(status=AudiencePush.Status.FAILED)
                 | sync.pushes.filter(status=AudiencePush.Status.RUNNING, lease_until__lt=now)).order_by("id").first()
        if stuck is not None:
            failing.append((sync, "api", stuck.created_at))
    return failing


__all__ = ["failing_syncs", "run_sync", "run_syncs"]
