"""Moving a campaign between states by hand: schedule, pause, resume, cancel.

    draft --schedule--> scheduled --(send_at / cron / trigger fires)--> sending --> done
                                                                          |   (recurring, triggered:
                                                                          |    back to scheduled)
    scheduled, sending --pause--> paused --resume--> sending (pending rows queued again), or scheduled
    anything but done/cancelled --cancel--> cancelled (pending rows: suppressed, reason "cancelled")

Pausing stops the next chunk: a claim only succeeds while the campaign is sending, so rows stay
pending; a batch finishes the chunk it has claimed (at most `sending.CLAIM_CHUNK` messages), then
stops. Cancelling closes every pending row as `suppressed` with reason `cancelled` (nobody was
emailed, by decision, like the holdout, not by a failure), so every recipient still ends in a final
state; the rows of a chunk being sent at that moment are finished by their sender.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from .models import Campaign, Delivery
from .scheduling import campaign_errors, sync_periodic_task
from .sending import CampaignError, finish_campaign, queue_pending


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
        if campaign.schedule == Campaign.Schedule.MANUAL:
            raise CampaignError(gettext("Campaign %(slug)s is sent when launched; use Launch.")
                                % {"slug": repr(campaign.slug)})
        if campaign.state != Campaign.State.DRAFT:
            raise CampaignError(gettext("Campaign %(slug)s is %(state)s; only a draft can be scheduled.")
                                % {"slug": repr(campaign.slug), "state": campaign.get_state_display()})
        errors = campaign_errors(campaign)
        if errors:
            listed = "; ".join(f"{field}: {message}" for field, message in errors.items())
            raise CampaignError(gettext("Campaign %(slug)s cannot be scheduled: %(errors)s")
                                % {"slug": repr(campaign.slug), "errors": listed})
        _move(campaign, Campaign.State.SCHEDULED)
    return campaign


def pause(campaign):
    with transaction.atomic():
        campaign = _locked(campaign)
        if campaign.state not in (Campaign.State.SCHEDULED, Campaign.State.SENDING):
            raise CampaignError(gettext("Campaign %(slug)s is %(state)s; only a scheduled or sending campaign can "
                                        "be paused.")
                                % {"slug": repr(campaign.slug), "state": campaign.get_state_display()})
        _move(campaign, Campaign.State.PAUSED)
    return campaign


def resume(campaign):
    """Back to sending with the pending rows queued again; a campaign with nothing pending goes back to
    scheduled (not launched yet, or between occurrences) or done. Returns (campaign, queued)."""
    with transaction.atomic():
        campaign = _locked(campaign)
        if campaign.state != Campaign.State.PAUSED:
            raise CampaignError(gettext("Campaign %(slug)s is %(state)s, not paused.")
                                % {"slug": repr(campaign.slug), "state": campaign.get_state_display()})
        if campaign.launched_at is None and not campaign.deliveries.exists():
            _move(campaign, Campaign.State.SCHEDULED)
            return campaign, 0
        Campaign.objects.filter(pk=campaign.pk).update(
            state=Campaign.State.SENDING, finished_at=None, launched_at=campaign.launched_at or timezone.now())
        queued, _ = queue_pending(Delivery.objects.filter(campaign=campaign))
        finish_campaign(campaign.pk)
        campaign.refresh_from_db()
        sync_periodic_task(campaign)
    return campaign, queued


def cancel(campaign):
    """Stop for good. Returns (campaign, number of pending rows closed as suppressed/cancelled)."""
    with transaction.atomic():
        campaign = _locked(campaign)
        if campaign.state in (Campaign.State.DONE, Campaign.State.CANCELLED):
            raise CampaignError(f"Campaign {campaign.slug!r} is {campaign.get_state_display()} already.")
        now = timezone.now()
        Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.CANCELLED, finished_at=now)
        # A sender claims only rows of a sending campaign, so after the update above no new claim can
        # race these rows; each pending row ends here, exactly once (conditional on `pending`).
        closed = Delivery.objects.filter(campaign=campaign, state=Delivery.State.PENDING).update(
            state=Delivery.State.SUPPRESSED, reason=Delivery.Reason.CANCELLED, finished_at=now)
        campaign.refresh_from_db()
        sync_periodic_task(campaign)
    return campaign, closed
