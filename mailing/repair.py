"""Repair, every few minutes: close the rows a dead worker left in `sending`, queue again what a lost
queue forgot, finish the campaigns with nothing left to send.

A row left in `sending` may have been sent, so it is failed as `interrupted`, never resent (at most
once: see `sending`). Pending rows that nothing has worked on for a while are queued again; that
cannot send anything twice either, since only a pending row of a sending campaign can be claimed.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .launch import queue_pending
from .models import Campaign, Delivery

log = logging.getLogger(__name__)


def stuck_after():
    """How long a row may stay in `sending` before it counts as stuck (CRM_CAMPAIGN_STUCK_MINUTES): longer
    than a batch task may run (`tasks.BATCH_TIME_LIMIT`), so such a row cannot belong to a live task."""
    return timedelta(minutes=settings.CRM_CAMPAIGN_STUCK_MINUTES)


def repair_stuck_deliveries(now=None, older_than=None):
    """Close deliveries left in `sending` by a worker that died, queue again pending ones whose task was
    lost, and finish campaigns with nothing left. Returns counts.

    A row counts as stuck when claimed before `now - older_than` (CRM_CAMPAIGN_STUCK_MINUTES).
    """
    now = now or timezone.now()
    cutoff = now - (stuck_after() if older_than is None else older_than)
    closed = Delivery.objects.stuck(cutoff).interrupt()
    if closed:
        log.warning("%d deliveries were interrupted mid-send and closed as failed (not resent)", closed)
    requeued = requeue_stalled(cutoff)
    finished = Campaign.objects.sending().finish()
    return {"interrupted": closed, "requeued": requeued, "campaigns_done": finished}


def requeue_stalled(cutoff):
    """Queue again the pending deliveries of sending campaigns that nothing has worked on since `cutoff`.

    Their tasks were lost with the broker's queue (Redis restarted without persistence, a flushed
    queue): without this they would stay pending for ever. A campaign whose deliveries are still
    being claimed is left alone, and a row whose task is only late cannot be sent twice: the claim
    is a conditional update, so the second task finds nothing to do.
    """
    requeued = 0
    for campaign in Campaign.objects.sending():
        rows = Delivery.objects.filter(campaign=campaign)
        stalled = rows.stalled(cutoff)
        if not stalled.exists() or rows.filter(claimed_at__gte=cutoff).exists():
            continue
        pending, batches = queue_pending(stalled)
        log.warning("campaign %s: %d pending deliveries had no task (lost from the queue?); queued again in %d "
                    "batches", campaign.slug, pending, batches)
        requeued += pending
    return requeued


def finish_campaign(campaign_id):
    """Finish one campaign if nothing of it is left to send (`CampaignQuerySet.finish`); True if it moved.
    For a caller that closed some of its rows by other means (erasing a client)."""
    return Campaign.objects.filter(pk=campaign_id).finish() > 0
