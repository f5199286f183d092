import datetime as dt

from mailing.models import Delivery, Suppression
from mailing.recipients import in_holdout, resolve_audience
from segments.models import Segment, SegmentMembership

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def recipients(campaign):
    return {client_id: (state, reason) for client_id, _, state, reason, _ in resolve_audience(campaign)}


def test_it_takes_the_segments_minus_the_exclusion_segments(make_client, make_campaign, segment, excluded):
    other = Segment.objects.create(slug="t-other", name="Other")
    a = make_client([segment])
    b = make_client([other])
    both = make_client([segment, other])
    make_client([segment, excluded])
    make_client([])
    left = make_client([])
    SegmentMembership.objects.create(segment=segment, client=left, entered_at=dt.date(2025, 1, 1),
                                     left_at=dt.date(2025, 6, 1))
    campaign = make_campaign(segments=[segment, other], exclude=[excluded])

    assert set(recipients(campaign)) == {a.pk, b.pk, both.pk}


def test_it_suppresses_clients_without_consent_with_the_reason(make_client, make_campaign, segment):
    ok = make_client([segment])
    no_consent = make_client([segment], consent=False)
    unsubscribed = make_client([segment], unsubscribed_at=NOW)
    erased = make_client([segment], email="", erased_at=NOW)
    no_email = make_client([segment], email="  ")
    bounced = make_client([segment], email="Bounce@Example.com")
    complained = make_client([segment], email="spam@example.com")
    Suppression.objects.create(email="bounce@example.com", reason=Suppression.Reason.BOUNCE)
    Suppression.objects.create(email=" SPAM@example.com", reason=Suppression.Reason.COMPLAINT)

    result = recipients(make_campaign())

    suppressed = Delivery.State.SUPPRESSED
    assert result == {
        ok.pk: (Delivery.State.PENDING, ""),
        no_consent.pk: (suppressed, "no_consent"),
        unsubscribed.pk: (suppressed, "unsubscribed"),
        erased.pk: (suppressed, "erased"),
        no_email.pk: (suppressed, "no_email"),
        bounced.pk: (suppressed, "bounced"),
        complained.pk: (suppressed, "complained"),
    }


def test_it_holds_out_close_to_the_percentage_and_always_the_same_clients():
    held = [client_id for client_id in range(1, 20_001) if in_holdout(7, client_id, 10)]

    assert 0.09 < len(held) / 20_000 < 0.11
    assert held == [client_id for client_id in range(1, 20_001) if in_holdout(7, client_id, 10)]
    other_campaign = {client_id for client_id in range(1, 20_001) if in_holdout(8, client_id, 10)}
    assert len(other_campaign & set(held)) < len(held) / 5  # a different draw per campaign
    assert not any(in_holdout(7, client_id, 0) for client_id in range(1, 1000))


def test_it_records_the_holdout_among_reachable_clients_only(make_client, make_campaign, segment):
    for _ in range(300):
        make_client([segment])
    for _ in range(50):
        make_client([segment], consent=False)
    campaign = make_campaign(holdout_percent=30)

    first = recipients(campaign)
    held = {pk for pk, (_, reason) in first.items() if reason == "holdout"}

    assert 60 < len(held) < 120
    assert sum(reason == "no_consent" for _, reason in first.values()) == 50
    assert first == recipients(campaign)  # deterministic
