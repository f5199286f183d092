"""What a marketer sees when sending was interrupted: an honest "outcome unknown" that the ESP's own
events settle, a campaign that says it waits for a worker, results that count the unknown apart."""

import datetime as dt

import pytest
from anymail.signals import AnymailTrackingEvent, tracking
from django.utils import timezone

from mailing.launch import launch_campaign
from mailing.models import Campaign, Delivery
from mailing.repair import repair_stuck_deliveries
from mailing.results import campaign_results


@pytest.fixture
def interrupted(make_client, make_campaign, segment):
    """A campaign to two clients whose worker died with both rows in hand; repair has closed them."""
    for _ in range(2):
        make_client([segment])
    campaign = make_campaign(slug="cut-short")
    launch_campaign(campaign)
    claimed = timezone.now() - dt.timedelta(minutes=1)
    Delivery.objects.update(state=Delivery.State.SENDING, claim_token="dead", claimed_at=claimed,
                            lease_until=claimed + dt.timedelta(seconds=30))
    assert repair_stuck_deliveries()["interrupted"] == 2
    return campaign


def esp_event(delivery, event_type, message_id="esp-1"):
    event = AnymailTrackingEvent(event_type=event_type, message_id=message_id, recipient=delivery.email,
                                 metadata={"delivery_id": str(delivery.pk)}, timestamp=timezone.now(),
                                 event_id=f"{event_type}-{delivery.pk}")
    tracking.send(sender=object, event=event, esp_name="Postmark")


def test_an_interrupted_send_is_unknown_never_resent_and_the_campaign_still_finishes(interrupted):
    rows = list(Delivery.objects.order_by("pk"))
    assert {(d.state, d.reason) for d in rows} == {(Delivery.State.UNKNOWN, Delivery.Reason.INTERRUPTED)}
    interrupted.refresh_from_db()
    assert interrupted.state == Campaign.State.DONE
    results = campaign_results(interrupted)
    assert (results.sent_group.sent, results.sent_group.unknown) == (0, 2)


def test_the_esps_events_settle_an_unknown_outcome(interrupted):
    first, second = Delivery.objects.order_by("pk")

    esp_event(first, "delivered", message_id="esp-first")
    esp_event(second, "rejected", message_id="esp-second")

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, first.reason, first.message_id) == (Delivery.State.SENT, "", "esp-first")
    assert first.sent_at == first.claimed_at and first.delivered_at is not None
    assert (second.state, second.reason) == (Delivery.State.FAILED, Delivery.Reason.REJECTED)
    results = campaign_results(interrupted)
    assert (results.sent_group.sent, results.sent_group.unknown, results.sent_group.delivered) == (1, 0, 1)


def test_a_later_event_does_not_undo_a_settled_outcome(interrupted):
    first = Delivery.objects.order_by("pk").first()
    esp_event(first, "delivered")
    esp_event(first, "rejected")  # a later, contradicting event: the outcome is settled already
    first.refresh_from_db()
    assert first.state == Delivery.State.SENT


def test_a_sending_campaign_nothing_works_on_says_it_waits_for_a_worker(make_client, make_campaign, segment,
                                                                        admin_client):
    make_client([segment])
    campaign = make_campaign(slug="stalled", name="Stalled sale")
    launch_campaign(campaign)  # its batch is never queued: the test transaction does not commit
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.SENDING and campaign.waiting_for_worker()

    Delivery.objects.update(claim_token="alive", lease_until=timezone.now() + dt.timedelta(seconds=30))
    assert not campaign.waiting_for_worker()  # a live task holds it

    Delivery.objects.update(claim_token="", lease_until=None)
    page = admin_client.get("/admin/mailing/campaign/").content.decode()
    assert "waiting for a worker" in page
