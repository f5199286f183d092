import logging

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone

from mailing.launch import launch_campaign
from mailing.models import Campaign, CampaignError, Delivery, Suppression


def test_it_sends_one_email_per_reachable_recipient_and_finishes(make_client, make_campaign, segment,
                                                                  django_capture_on_commit_callbacks):
    reachable = [make_client([segment]) for _ in range(3)]
    make_client([segment], consent=False)
    campaign = make_campaign()

    with django_capture_on_commit_callbacks(execute=True):
        result = launch_campaign(campaign)

    assert (result.created, result.pending, result.suppressed) == (4, 3, 1)
    assert sorted(m.to[0] for m in mail.outbox) == sorted(c.email for c in reachable)
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.DONE and campaign.finished_at is not None
    assert sorted(Delivery.objects.values_list("state", flat=True)) == ["sent", "sent", "sent", "suppressed"]


def test_it_creates_and_sends_nothing_new_when_launched_twice(make_client, make_campaign, segment,
                                                             django_capture_on_commit_callbacks):
    for _ in range(5):
        make_client([segment])
    campaign = make_campaign()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = launch_campaign(campaign)
        second = launch_campaign(campaign)  # pressed twice before any batch ran

    assert (first.created, second.created) == (5, 0)
    assert len(callbacks) == 2  # both launches queued the pending rows ...
    assert len(mail.outbox) == 5  # ... yet each was sent once
    assert Delivery.objects.count() == 5
    with pytest.raises(CampaignError, match="is done"):
        launch_campaign(campaign)


def _refused(campaign, django_capture_on_commit_callbacks):
    """Launch by hand, expecting a refusal; returns its message after checking nothing was written or queued."""
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(CampaignError) as refusal:
        launch_campaign(campaign)
    campaign.refresh_from_db()
    assert Delivery.objects.filter(campaign=campaign).count() == 0 and not callbacks and not mail.outbox
    assert (campaign.state, campaign.launched_at, campaign.finished_at) == (Campaign.State.DRAFT, None, None)
    assert campaign.may_launch()
    return str(refusal.value)


def test_a_launch_for_an_empty_segment_is_refused_and_writes_nothing(make_campaign, segment,
                                                                    django_capture_on_commit_callbacks):
    message = _refused(make_campaign(), django_capture_on_commit_callbacks)
    assert "nobody to email" in message and "(Audience) have no members now" in message


def test_a_launch_where_nobody_has_consent_says_so(make_client, make_campaign, segment,
                                                  django_capture_on_commit_callbacks):
    make_client([segment], consent=False)
    make_client([segment], consent=False)
    message = _refused(make_campaign(), django_capture_on_commit_callbacks)
    assert "none of its clients (2) has email consent" in message


def test_a_launch_where_everyone_is_suppressed_names_the_reasons(make_client, make_campaign, segment,
                                                                django_capture_on_commit_callbacks):
    make_client([segment], unsubscribed_at=timezone.now())
    make_client([segment], unsubscribed_at=timezone.now())
    bounced = make_client([segment])
    Suppression.objects.create(email=bounced.email, reason=Suppression.Reason.BOUNCE)
    make_client([segment], consent=False)
    message = _refused(make_campaign(), django_capture_on_commit_callbacks)
    assert "none of its clients (4) may be emailed: unsubscribed: 2, address bounced: 1, no email consent: 1." in message


def test_a_launch_where_everyone_is_excluded_says_so(make_client, make_campaign, segment, excluded,
                                                    django_capture_on_commit_callbacks):
    make_client([segment, excluded])
    make_client([segment, excluded])
    message = _refused(make_campaign(exclude=[excluded]), django_capture_on_commit_callbacks)
    assert "all members of its audience segments (2) are left out by its exclusion segments" in message


def test_a_refused_launch_goes_ahead_once_the_segment_has_members(make_client, make_campaign, segment,
                                                                  django_capture_on_commit_callbacks):
    campaign = make_campaign()
    _refused(campaign, django_capture_on_commit_callbacks)
    make_client([segment])
    with django_capture_on_commit_callbacks(execute=True):
        result = launch_campaign(campaign)
    campaign.refresh_from_db()
    assert (result.created, len(mail.outbox), campaign.state) == (1, 1, Campaign.State.DONE)


def test_a_launch_whose_reachable_clients_are_all_held_out_is_not_refused(make_client, make_campaign, segment,
                                                                         monkeypatch):
    # The holdout is part of the measurement: recorded, not sent, and the campaign done.
    make_client([segment])
    monkeypatch.setattr("mailing.recipients.in_holdout", lambda *args: True)
    result = launch_campaign(make_campaign(holdout_percent=50))
    assert (result.created, result.pending, result.suppressed) == (1, 0, 1)


def test_it_splits_the_sending_into_batches(make_client, make_campaign, segment, settings,
                                           django_capture_on_commit_callbacks):
    settings.CRM_CAMPAIGN_BATCH_SIZE = 2
    for _ in range(5):
        make_client([segment])

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = launch_campaign(make_campaign())

    assert result.batches == 3 and len(callbacks) == 3
    assert len(mail.outbox) == 5


def test_it_launches_from_the_command(make_client, make_campaign, segment, run_command_output):
    make_client([segment])
    make_campaign(slug="spring")

    out = run_command_output("launch_campaign", "spring")

    assert "spring: 1 new deliveries, 1 queued in 1 batches, 0 suppressed" in out
    assert Delivery.objects.get().campaign.slug == "spring"


def test_it_names_the_problem_when_the_command_cannot_launch(make_campaign):
    make_campaign(slug="spring", state=Campaign.State.CANCELLED)

    with pytest.raises(CommandError, match="No campaign with slug 'autumn' \\(campaigns: spring\\)"):
        call_command("launch_campaign", "autumn")
    with pytest.raises(CommandError, match="'spring' is cancelled; only a draft or scheduled campaign"):
        call_command("launch_campaign", "spring")


def test_every_line_a_launch_logs_names_the_campaign(make_client, make_campaign, segment, caplog):
    from core.logs import ContextFilter

    make_client([segment])
    caplog.handler.addFilter(ContextFilter())
    with caplog.at_level(logging.INFO, logger="mailing.launch"):
        launch_campaign(make_campaign(slug="spring"))

    launch_lines = [r for r in caplog.records if r.name == "mailing.launch"]
    assert launch_lines and {r.context.get("campaign") for r in launch_lines} == {"spring"}
