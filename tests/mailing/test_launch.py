import logging

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from mailing.launch import launch_campaign
from mailing.models import Campaign, CampaignError, Delivery


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


def test_it_finishes_at_once_when_nobody_can_be_sent_to(make_client, make_campaign, segment):
    make_client([segment], consent=False)
    campaign = make_campaign()

    result = launch_campaign(campaign)

    campaign.refresh_from_db()
    assert (result.pending, result.batches, campaign.state) == (0, 0, Campaign.State.DONE)


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
