"""Repair, every few seconds: take over what a dead worker left, queue again what a lost queue forgot,
finish the campaigns with nothing left to send.

- A batch whose task let its lease run out (`sending`, "The lease") belongs to a dead worker: its
  row in `sending` may have been sent, so it is closed as `unknown`/`interrupted`, never resent (at
  most once); its pending rows are released and queued again at once. Recovery from a killed worker
  thus takes CRM_CAMPAIGN_LEASE_SECONDS plus this job's period, not the broker's visibility timeout.
- Pending rows no task ever held (their batches were lost with the broker's queue: Redis restarted
  empty, a flushed queue) are queued again once their campaign has no live task and the broker's
  queue is empty: while tasks wait in the queue, such rows may simply be waiting their turn.
Queueing again cannot send anything twice: only a pending row of a sending campaign can be claimed.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .launch import queue_pending
from .models import Campaign, Delivery

log = logging.getLogger(__name__)


def repair_stuck_deliveries(now=None, queue_empty=True):
    """Take over dead workers' batches, queue again lost ones, finish campaigns with nothing left.

    queue_empty: whether the broker's queue holds no waiting task (the task asks the broker).
    Returns counts.
    """
    now = now or timezone.now()
    abandoned = Delivery.objects.abandoned(now)
    closed = abandoned.filter(state=Delivery.State.SENDING).interrupt()
    if closed:
        log.warning("%d deliveries were interrupted mid-send by a worker that stopped: outcome unknown, not resent",
                    closed)
    orphans = list(abandoned.pending().values_list("pk", flat=True))
    Delivery.objects.filter(pk__in=orphans).release()
    requeued, _ = queue_pending(Delivery.objects.filter(pk__in=orphans, campaign__state=Campaign.State.SENDING))
    if requeued:
        log.warning("%d pending deliveries of a worker that stopped were queued again", requeued)
    if queue_empty:
        requeued += requeue_lost(now - timedelta(seconds=settings.CRM_CAMPAIGN_LEASE_SECONDS), now)
    finished = Campaign.objects.sending().finish()
    return {"interrupted": closed, "requeued": requeued, "campaigns_done": finished}


def requeue_lost(cutoff, now):
    """Queue again the pending rows of sending campaigns that no task holds, written and due before
    `cutoff`, when no live task holds any row of their campaign: their tasks were lost with the queue.

    Called only when the broker's queue is empty; a row whose task is merely late cannot be sent
    twice: the claim is a conditional update, so the second task finds nothing to do.
    """
    requeued = 0
    for campaign in Campaign.objects.sending():
        rows = Delivery.objects.filter(campaign=campaign)
        stalled = rows.stalled(cutoff)
        if not stalled.exists() or rows.live(now).exists():
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
