import pytest
from django.core import mail
from django_celery_beat.models import PeriodicTask

from mailing import lifecycle, sending
from mailing.launch import launch_campaign
from mailing.models import Campaign, CampaignError, Delivery
from tests.mailing.backends import ScriptedBackend


class PausingBackend(ScriptedBackend):
    """Pauses the campaign right after the first message of the test goes out, as a user would mid-send."""

    def post_to_esp(self, payload, message):
        response = super().post_to_esp(payload, message)
        if len(mail.outbox) == 1:
            lifecycle.pause(Campaign.objects.get(slug=message.tags[0]))
        return response


def states():
    return sorted(Delivery.objects.values_list("state", flat=True))


def test_pause_stops_the_next_chunk_mid_batch_and_resume_sends_the_rest_once(
        make_client, make_campaign, segment, settings, monkeypatch, django_capture_on_commit_callbacks):
    # The campaign's state is checked at each chunk's claim: the chunk in hand when the pause comes is
    # sent, the next ones are not claimed.
    monkeypatch.setattr(sending, "CLAIM_CHUNK", 2)
    settings.EMAIL_BACKEND = "tests.mailing.test_lifecycle.PausingBackend"
    clients = [make_client([segment]) for _ in range(5)]
    campaign = make_campaign(slug="spring")

    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(campaign)

    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.PAUSED
    assert len(mail.outbox) == 2 and states() == ["pending", "pending", "pending", "sent", "sent"]
    with pytest.raises(CampaignError, match="is paused; resume it"):
        launch_campaign(campaign)

    with django_capture_on_commit_callbacks(execute=True):
        campaign, queued = lifecycle.resume(campaign)

    assert queued == 3
    assert sorted(m.to[0] for m in mail.outbox) == sorted(c.email for c in clients)  # each exactly once
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.DONE and states() == ["sent"] * 5


def test_batches_queued_before_a_pause_send_nothing(make_client, make_campaign, segment, settings,
                                                    django_capture_on_commit_callbacks):
    settings.CRM_CAMPAIGN_BATCH_SIZE = 2
    for _ in range(4):
        make_client([segment])
    campaign = make_campaign()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        launch_campaign(campaign)
    callbacks[0]()
    lifecycle.pause(campaign)
    callbacks[1]()  # the second batch arrives while paused

    assert len(mail.outbox) == 2 and states() == ["pending", "pending", "sent", "sent"]


def test_cancel_closes_every_pending_row_with_a_reason(make_client, make_campaign, segment,
                                                       django_capture_on_commit_callbacks):
    for _ in range(3):
        make_client([segment])
    make_client([segment], consent=False)
    campaign = make_campaign()
    with django_capture_on_commit_callbacks(execute=False):
        launch_campaign(campaign)  # batches never run

    campaign, closed = lifecycle.cancel(campaign)

    assert closed == 3 and campaign.state == Campaign.State.CANCELLED and campaign.finished_at
    assert sorted(Delivery.objects.values_list("state", "reason")) == [
        ("suppressed", "cancelled")] * 3 + [("suppressed", "no_consent")]
    with pytest.raises(CampaignError, match="is cancelled already"):
        lifecycle.cancel(campaign)


def test_pausing_a_recurring_campaign_disables_its_beat_entry_and_resume_enables_it(make_campaign):
    campaign = make_campaign(schedule=Campaign.Schedule.RECURRING, cron="0 10 1 * *", state=Campaign.State.SCHEDULED)

    lifecycle.pause(campaign)
    entry = PeriodicTask.objects.get(name__startswith=f"Email campaign #{campaign.pk}:")
    assert not entry.enabled
    campaign, queued = lifecycle.resume(campaign)
    entry.refresh_from_db()
    assert entry.enabled and queued == 0 and campaign.state == Campaign.State.SCHEDULED
    lifecycle.cancel(campaign)
    entry.refresh_from_db()
    assert not entry.enabled


ACTIONS = ("launch", "schedule", "pause", "resume", "cancel")


@pytest.mark.parametrize("schedule, state, allowed", [
    (Campaign.Schedule.MANUAL, Campaign.State.DRAFT, {"launch", "cancel"}),
    (Campaign.Schedule.MANUAL, Campaign.State.SENDING, {"launch", "pause", "cancel"}),
    (Campaign.Schedule.MANUAL, Campaign.State.PAUSED, {"resume", "cancel"}),
    (Campaign.Schedule.MANUAL, Campaign.State.DONE, set()),
    (Campaign.Schedule.MANUAL, Campaign.State.CANCELLED, set()),
    (Campaign.Schedule.RECURRING, Campaign.State.DRAFT, {"schedule", "cancel"}),
    (Campaign.Schedule.RECURRING, Campaign.State.SCHEDULED, {"launch", "pause", "cancel"}),
    (Campaign.Schedule.TRIGGERED, Campaign.State.SCHEDULED, {"pause", "cancel"}),
])
def test_the_campaign_answers_which_moves_it_may_make(make_campaign, segment, schedule, state, allowed):
    campaign = make_campaign(schedule=schedule, state=state, cron="0 10 1 * *", trigger_segment=segment)

    assert {action for action in ACTIONS if getattr(campaign, f"may_{action}")()} == allowed
    assert {action for action in ACTIONS if not campaign.refusal(action)} == allowed
    assert campaign.may_fire() == (state in (Campaign.State.SCHEDULED, Campaign.State.SENDING, Campaign.State.PAUSED))


def test_a_sending_campaign_may_finish_only_with_nothing_pending_or_in_flight(make_client, make_campaign, segment,
                                                                             django_capture_on_commit_callbacks):
    make_client([segment])
    campaign = make_campaign()
    with django_capture_on_commit_callbacks(execute=False):
        launch_campaign(campaign)  # queued, not sent
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.SENDING and not campaign.may_finish()
    Delivery.objects.update(state=Delivery.State.SENT)
    assert campaign.may_finish()
    assert Campaign.objects.finish() == 1
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.DONE and not campaign.may_finish()


def test_schedule_makes_a_draft_active_only_when_its_schedule_can_work(make_campaign):
    manual = make_campaign(slug="manual")
    broken = make_campaign(slug="broken", schedule=Campaign.Schedule.ONCE)

    with pytest.raises(CampaignError, match="is sent when launched; use Launch"):
        lifecycle.schedule(manual)
    with pytest.raises(CampaignError, match="'broken' cannot be scheduled: send_at: .*needs 'send at'"):
        lifecycle.schedule(broken)
    broken.send_at = "2030-01-01T10:00Z"
    broken.save()
    assert lifecycle.schedule(broken).state == Campaign.State.SCHEDULED


def test_the_admin_pauses_resumes_and_cancels(admin_client, make_client, make_campaign, segment,
                                              django_capture_on_commit_callbacks):
    for _ in range(2):
        make_client([segment])
    campaign = make_campaign(slug="spring")
    with django_capture_on_commit_callbacks(execute=False):
        launch_campaign(campaign)

    def act(action):
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post("/admin/mailing/campaign/", {
                "action": action, "_selected_action": [campaign.pk]}, follow=True)
        campaign.refresh_from_db()
        return response.content.decode()

    assert "Spring is paused; pending deliveries wait." in act("pause_campaigns")  # the admin capitalizes
    assert campaign.state == Campaign.State.PAUSED
    assert "Spring resumed: 2 pending deliveries queued." in act("resume_campaigns")
    assert campaign.state == Campaign.State.DONE and len(mail.outbox) == 2
    assert "is done already" in act("cancel_campaigns")
