"""Moving a campaign between states by hand: schedule, pause, resume, cancel.

Whether a move is allowed is the model's answer (`Campaign.refusal`, `may_pause()`, ...); each
function here locks the campaign, asks, moves it and does what follows: the beat entry (enabled only
while the campaign is active), pending rows queued again at resume, pending rows closed at cancel.

Pausing stops the next chunk: a claim only succeeds while the campaign is sending, so rows stay
pending; a batch finishes the chunk it has claimed (at most `sending.CLAIM_CHUNK` messages), then
stops. Cancelling closes every pending row as `suppressed` with reason `cancelled`
(`CampaignQuerySet.cancel`), so every recipient still ends in a final state; the rows of a chunk
being sent at that moment are finished by their sender.
"""

from django.db import transaction

from .launch import queue_pending
from .models import Campaign, Delivery
from .scheduling import sync_periodic_task


def _locked(campaign):
    return Campaign.objects.select_for_update().get(pk=campaign.pk)


def _move(campaign, state):
    """Set the (locked) campaign's state; its beat entry follows (enabled only while active)."""
    campaign.state = state
    Campaign.objects.filter(pk=campaign.pk).update(state=state)
    sync_periodic_task(campaign)


def schedule(campaign):
    """Make a draft campaign with a schedule active: it will send at send_at, on its cron, or on its trigger."""
    with transaction.atomic():
        campaign = _locked(campaign)
        campaign.ensure_may("schedule")
        _move(campaign, Campaign.State.SCHEDULED)
    return campaign


def pause(campaign):
    with transaction.atomic():
        campaign = _locked(campaign)
        campaign.ensure_may("pause")
        _move(campaign, Campaign.State.PAUSED)
    return campaign


def resume(campaign):
    """Back to sending with the pending rows queued again; a campaign with nothing pending goes back to
    scheduled (not launched yet, or between occurrences) or done. Returns (campaign, queued)."""
    with transaction.atomic():
        campaign = _locked(campaign)
        campaign.ensure_may("resume")
        if campaign.launched_at is None and not campaign.deliveries.exists():
            _move(campaign, Campaign.State.SCHEDULED)
            return campaign, 0
        this = Campaign.objects.filter(pk=campaign.pk)
        this.start_sending()
        queued, _ = queue_pending(Delivery.objects.filter(campaign=campaign))
        this.finish()
        campaign.refresh_from_db()
        sync_periodic_task(campaign)
    return campaign, queued


def cancel(campaign):
    """Stop for good. Returns (campaign, number of pending rows closed as suppressed/cancelled)."""
    with transaction.atomic():
        campaign = _locked(campaign)
        campaign.ensure_may("cancel")
        closed = Campaign.objects.filter(pk=campaign.pk).cancel()
        campaign.refresh_from_db()
        sync_periodic_task(campaign)
    return campaign, closed
