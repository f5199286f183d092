import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from mailing.models import Campaign, Delivery
from mailing.triggers import fire_triggers
from segments.models import ScoringRun, SegmentMembership
from segments.signals import run_succeeded


@pytest.fixture
def make_run(db):
    def make(as_of):
        return ScoringRun.objects.create(as_of=as_of, status=ScoringRun.Status.SUCCEEDED, finished_at=timezone.now())

    return make


def enter(client, segment, run):
    SegmentMembership.objects.create(segment=segment, client=client, entered_at=run.as_of, entered_run=run)


def leave(client, segment, run):
    SegmentMembership.objects.filter(segment=segment, client=client, left_at__isnull=True).update(
        left_at=run.as_of, left_run=run)


@pytest.fixture
def welcome(make_campaign, segment):
    campaign = make_campaign(slug="welcome", schedule=Campaign.Schedule.TRIGGERED, trigger_segment=segment,
                             state=Campaign.State.SCHEDULED)
    campaign.segments.clear()
    return campaign


def sent_to():
    return sorted(m.to[0] for m in mail.outbox)


def test_it_emails_the_clients_who_entered_the_segment_in_that_run(make_client, make_run, segment, welcome,
                                                                   django_capture_on_commit_callbacks):
    old_member = make_client()
    enter(old_member, segment, make_run(dt.date(2026, 11, 1)))
    run = make_run(dt.date(2026, 11, 2))
    newcomer = make_client()
    enter(newcomer, segment, run)
    no_consent = make_client(consent=False)
    enter(no_consent, segment, run)

    with django_capture_on_commit_callbacks(execute=True):
        assert fire_triggers(run.pk) == {"welcome": 2}

    assert sent_to() == [newcomer.email]
    assert dict(Delivery.objects.values_list("client", "reason")) == {newcomer.pk: "", no_consent.pk: "no_consent"}
    assert set(Delivery.objects.values_list("occurrence", flat=True)) == {f"2026-11-02/run-{run.pk}"}
    welcome.refresh_from_db()
    assert welcome.state == Campaign.State.SCHEDULED  # ready for the next night


def test_a_successful_nightly_run_fires_the_triggered_campaigns(make_client, make_run, segment, welcome,
                                                                django_capture_on_commit_callbacks):
    run = make_run(dt.date(2026, 11, 2))
    newcomer = make_client()
    enter(newcomer, segment, run)

    with django_capture_on_commit_callbacks(execute=True):
        run_succeeded.send(sender=ScoringRun, run=run)
        run_succeeded.send(sender=ScoringRun, run=run)  # delivered twice: nothing new

    assert sent_to() == [newcomer.email]


def test_a_past_night_rebuilt_later_fires_nothing(make_client, make_run, segment, welcome,
                                                  django_capture_on_commit_callbacks):
    make_run(dt.date(2026, 11, 2))
    backfill = make_run(dt.date(2026, 10, 1))  # e.g. rebuild_segments --as-of 2026-10-01 for a back-test
    enter(make_client(), segment, backfill)

    with django_capture_on_commit_callbacks(execute=True):
        assert fire_triggers(backfill.pk) == {}

    assert mail.outbox == [] and not Delivery.objects.exists()


def test_it_emails_a_client_once_ever_with_the_once_rule(make_client, make_run, segment, welcome,
                                                        django_capture_on_commit_callbacks):
    client = make_client()
    first, second, third = (make_run(dt.date(2026, 11, day)) for day in (1, 2, 3))

    with django_capture_on_commit_callbacks(execute=True):
        enter(client, segment, first)
        fire_triggers(first.pk)
        leave(client, segment, second)
        enter(client, segment, third)  # comes back into the segment
        assert fire_triggers(third.pk) == {"welcome": 0}

    assert sent_to() == [client.email]


def test_it_emails_a_client_again_after_the_reentry_days(make_client, make_run, segment, welcome,
                                                        django_capture_on_commit_callbacks):
    Campaign.objects.filter(pk=welcome.pk).update(reentry=Campaign.Reentry.AFTER_DAYS, reentry_days=30)
    client = make_client()
    recent = make_client()
    first, second, third = (make_run(dt.date(2026, 11, day)) for day in (1, 2, 3))

    with django_capture_on_commit_callbacks(execute=True):
        enter(client, segment, first)
        enter(recent, segment, first)
        fire_triggers(first.pk)
        # The first delivery to `client` was 31 days ago; the one to `recent` 29 days ago.
        Delivery.objects.filter(client=client).update(created_at=timezone.now() - dt.timedelta(days=31))
        Delivery.objects.filter(client=recent).update(created_at=timezone.now() - dt.timedelta(days=29))
        for someone in (client, recent):
            leave(someone, segment, second)
            enter(someone, segment, third)
        assert fire_triggers(third.pk) == {"welcome": 1}

    assert sent_to() == sorted([client.email, client.email, recent.email])
    assert Delivery.objects.filter(client=client).count() == 2


def test_a_held_out_client_counts_as_considered_for_the_once_rule(make_client, make_run, segment, welcome,
                                                                  django_capture_on_commit_callbacks):
    Campaign.objects.filter(pk=welcome.pk).update(holdout_percent=50)
    clients = [make_client() for _ in range(12)]
    first, second, third = (make_run(dt.date(2026, 11, day)) for day in (1, 2, 3))
    with django_capture_on_commit_callbacks(execute=True):
        for client in clients:
            enter(client, segment, first)
        fire_triggers(first.pk)
        held = set(Delivery.objects.filter(reason=Delivery.Reason.HOLDOUT).values_list("client", flat=True))
        for client in clients:
            leave(client, segment, second)
            enter(client, segment, third)
        fire_triggers(third.pk)

    assert held and len(held) < 12
    assert Delivery.objects.count() == 12  # nobody, held out or sent, is considered twice


def test_triggers_respect_exclusions_conditions_and_the_campaign_state(make_client, make_run, segment, excluded,
                                                                       welcome, make_campaign,
                                                                       django_capture_on_commit_callbacks):
    welcome.exclude_segments.set([excluded])
    draft = make_campaign(slug="draft", schedule=Campaign.Schedule.TRIGGERED, trigger_segment=segment)
    paused = make_campaign(slug="paused", schedule=Campaign.Schedule.TRIGGERED, trigger_segment=segment,
                           state=Campaign.State.PAUSED)
    run = make_run(dt.date(2026, 11, 2))
    kept, left_out = make_client(), make_client([excluded])
    for client in (kept, left_out):
        enter(client, segment, run)

    with django_capture_on_commit_callbacks(execute=True):
        fired = fire_triggers(run.pk)

    assert fired == {"welcome": 1, "paused": 2}  # the draft does not fire; the paused one records, sends later
    assert sent_to() == [kept.email]
    assert set(Delivery.objects.filter(campaign=paused).values_list("state", flat=True)) == {"pending"}
    assert not Delivery.objects.filter(campaign=draft).exists()


def test_a_triggered_campaign_cannot_be_launched_by_hand(welcome):
    from mailing.launch import launch_campaign
    from mailing.models import CampaignError

    with pytest.raises(CampaignError, match="is triggered: it emails clients when they enter 't-audience'"):
        launch_campaign(welcome)
