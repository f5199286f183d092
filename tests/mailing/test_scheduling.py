import datetime as dt
import json
import zoneinfo

import pytest
from django.core import mail
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from mailing.models import Campaign, Delivery
from mailing.scheduling import launch_due_campaigns, launch_recurring
from mailing.timing import cron_slot, parse_cron, parse_quiet_hours, quiet_until

MOSCOW = zoneinfo.ZoneInfo("Europe/Moscow")


def local(*args):
    return dt.datetime(*args, tzinfo=MOSCOW)


@pytest.mark.parametrize("text, message", [
    ("0 10 1 *", "expected 5 fields"),
    ("61 10 1 * *", "61 > 59"),
    ("0 25 * * *", "25 > 23"),
    ("0 10 0 * *", "0 < 1"),
    ("0 10 * 13 * ", "13 > 12"),
    ("0 10 * * funday", "Invalid weekday"),
])
def test_it_refuses_a_cron_that_does_not_parse_and_says_why(text, message):
    with pytest.raises(ValueError, match=message):
        parse_cron(text)


@pytest.mark.parametrize("cron, now, slot", [
    ("0 10 1 * *", local(2026, 12, 1, 10, 0, 30), local(2026, 12, 1, 10, 0)),
    ("0 10 1 * *", local(2026, 12, 1, 9, 59), local(2026, 11, 1, 10, 0)),  # before today's slot
    ("0 10 1 * *", local(2026, 12, 15, 3, 0), local(2026, 12, 1, 10, 0)),  # a task running late
    ("30 9,18 * * 1-5", local(2026, 11, 29, 12, 0), local(2026, 11, 27, 18, 30)),  # Sunday -> Friday
    ("*/15 * * * *", local(2026, 11, 24, 8, 44), local(2026, 11, 24, 8, 30)),
])
def test_it_finds_the_cron_slot_a_run_belongs_to(cron, now, slot):
    assert cron_slot(parse_cron(cron), now) == slot


@pytest.mark.parametrize("window, now, until", [
    ("22:00-09:00", local(2026, 11, 24, 23, 30), local(2026, 11, 25, 9, 0)),
    ("22:00-09:00", local(2026, 11, 24, 22, 0), local(2026, 11, 25, 9, 0)),  # the start is quiet
    ("22:00-09:00", local(2026, 11, 24, 8, 59), local(2026, 11, 24, 9, 0)),
    ("22:00-09:00", local(2026, 11, 24, 9, 0), None),  # the end is not
    ("22:00-09:00", local(2026, 11, 24, 15, 0), None),
    ("13:00-14:00", local(2026, 11, 24, 13, 30), local(2026, 11, 24, 14, 0)),
    ("13:00-14:00", local(2026, 11, 24, 12, 59), None),
    ("", local(2026, 11, 24, 23, 30), None),
])
def test_it_tells_when_quiet_hours_end(window, now, until):
    assert quiet_until(now, parse_quiet_hours(window)) == until


def test_it_names_each_field_a_schedule_is_missing(segment):
    assert Campaign(schedule=Campaign.Schedule.ONCE).setup_errors([], True) == {
        "send_at": "A campaign sent once at a date and time needs 'send at'."}
    assert "cron" in Campaign(schedule=Campaign.Schedule.RECURRING, cron="every day").setup_errors([], True)
    triggered = Campaign(schedule=Campaign.Schedule.TRIGGERED, reentry=Campaign.Reentry.AFTER_DAYS).setup_errors(
        [], False)
    assert set(triggered) == {"trigger_segment", "reentry_days"}  # audience segments are optional when triggered
    assert Campaign(schedule=Campaign.Schedule.MANUAL).setup_errors([], False) == {
        "segments": "Choose at least one audience segment."}
    bad_rule = Campaign(conditions={"field": "shoe_size", "op": ">", "value": 3}).setup_errors([], True)
    assert bad_rule["conditions"].startswith("condition 1: 'shoe_size' is not a field")
    assert Campaign().setup_errors([60, 30], True) == {
        "variants": "The A/B variants' splits add up to 90%, not 100%."}
    assert Campaign(schedule=Campaign.Schedule.RECURRING, cron="0 10 1 * *").setup_errors([50, 50], True) == {}


def test_a_recurring_campaign_keeps_its_beat_entry_in_sync(make_campaign, settings):
    campaign = make_campaign(slug="monthly", schedule=Campaign.Schedule.RECURRING, cron="0 10 1 * *",
                             state=Campaign.State.SCHEDULED)

    campaign.refresh_from_db()
    task = campaign.periodic_task
    assert task.task == "mailing.tasks.launch_recurring_campaign" and task.enabled
    assert json.loads(task.kwargs) == {"campaign_id": campaign.pk}
    schedule = task.crontab
    assert (schedule.minute, schedule.hour, schedule.day_of_month, schedule.month_of_year, schedule.day_of_week) == (
        "0", "10", "1", "*", "*")
    assert str(schedule.timezone) == settings.TIME_ZONE

    campaign.cron = "30 9 * * 1"
    campaign.save()
    task.refresh_from_db()
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("30", "9", "1")

    stale = Campaign.objects.get(pk=campaign.pk)
    stale.periodic_task = None  # a save from an instance that lost the link finds the same entry again
    stale.save()
    assert PeriodicTask.objects.filter(name__startswith=f"Email campaign #{campaign.pk}:").count() == 1

    campaign.refresh_from_db()
    campaign.schedule = Campaign.Schedule.MANUAL
    campaign.save()
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()

    campaign.schedule = Campaign.Schedule.RECURRING
    campaign.save()
    campaign.refresh_from_db()
    entry = campaign.periodic_task_id
    campaign.delete()
    assert not PeriodicTask.objects.filter(pk=entry).exists()


def test_a_draft_recurring_campaign_has_its_beat_entry_disabled(make_campaign):
    campaign = make_campaign(schedule=Campaign.Schedule.RECURRING, cron="0 10 1 * *")

    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.DRAFT and not campaign.periodic_task.enabled


def test_each_run_of_a_recurring_campaign_is_its_own_occurrence_and_a_repeat_sends_nothing(
        make_client, make_campaign, segment, django_capture_on_commit_callbacks):
    client = make_client([segment])
    campaign = make_campaign(schedule=Campaign.Schedule.RECURRING, cron="0 10 1 * *", state=Campaign.State.SCHEDULED)
    first_run = dt.datetime(2026, 12, 1, 10, 0, 5, tzinfo=dt.UTC)  # TIME_ZONE is UTC in the tests

    with django_capture_on_commit_callbacks(execute=True):
        launch_recurring(campaign.pk, now=first_run)
        launch_recurring(campaign.pk, now=first_run + dt.timedelta(minutes=7))  # a task delivered twice, late
        # The worker's clock a moment behind beat's: still January's run, not December's again.
        launch_recurring(campaign.pk, now=first_run + dt.timedelta(days=31, seconds=-10))

    assert sorted(Delivery.objects.values_list("occurrence", flat=True)) == ["2026-12-01T10:00", "2027-01-01T10:00"]
    assert [m.to for m in mail.outbox] == [[client.email]] * 2
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.SCHEDULED  # waits for its next occurrence, not done


def test_a_recurring_campaign_does_not_fire_while_it_is_a_draft_or_cancelled(make_client, make_campaign, segment):
    make_client([segment])
    draft = make_campaign(schedule=Campaign.Schedule.RECURRING, cron="0 10 1 * *")
    cancelled = make_campaign(schedule=Campaign.Schedule.RECURRING, cron="0 10 1 * *", state=Campaign.State.CANCELLED)

    assert launch_recurring(draft.pk) is None and launch_recurring(cancelled.pk) is None
    assert not Delivery.objects.exists()


def test_it_launches_one_off_campaigns_when_due_and_only_once(make_client, make_campaign, segment,
                                                              django_capture_on_commit_callbacks):
    make_client([segment])
    now = timezone.now()
    due = make_campaign(slug="due", schedule=Campaign.Schedule.ONCE, send_at=now - dt.timedelta(minutes=1),
                        state=Campaign.State.SCHEDULED)
    make_campaign(slug="later", schedule=Campaign.Schedule.ONCE, send_at=now + dt.timedelta(hours=1),
                  state=Campaign.State.SCHEDULED)
    make_campaign(slug="draft", schedule=Campaign.Schedule.ONCE, send_at=now - dt.timedelta(minutes=1))

    with django_capture_on_commit_callbacks(execute=True):
        assert launch_due_campaigns(now) == ["due"]
        assert launch_due_campaigns(now) == []  # the beat job running twice

    assert len(mail.outbox) == 1
    assert list(Delivery.objects.values_list("campaign__slug", "occurrence")) == [("due", "once")]
    due.refresh_from_db()
    assert due.state == Campaign.State.DONE


def test_a_due_one_off_campaign_whose_setup_broke_goes_back_to_draft_instead_of_retrying(make_campaign, caplog):
    broken = make_campaign(slug="broken", schedule=Campaign.Schedule.ONCE, state=Campaign.State.SCHEDULED,
                           send_at=timezone.now() - dt.timedelta(minutes=1))
    broken.segments.clear()  # e.g. its audience segment was deleted after it was scheduled

    assert launch_due_campaigns() == []
    broken.refresh_from_db()
    assert broken.state == Campaign.State.DRAFT
    assert "Choose at least one audience segment" in caplog.text
    caplog.clear()
    assert launch_due_campaigns() == [] and caplog.text == ""  # not tried again a minute later


def test_the_every_minute_beat_job_exists(db):
    task = PeriodicTask.objects.get(task="mailing.tasks.launch_due_campaigns")
    assert (task.interval.every, task.interval.period, task.enabled) == (60, "seconds", True)


def test_a_launch_by_hand_of_a_recurring_campaign_sends_at_most_once_a_day(make_client, make_campaign, segment):
    from mailing.launch import launch_campaign
    from mailing.models import CampaignError

    make_client([segment])
    campaign = make_campaign(schedule=Campaign.Schedule.RECURRING, cron="0 10 1 * *", state=Campaign.State.SCHEDULED)

    draft = make_campaign(slug="draft", schedule=Campaign.Schedule.RECURRING, cron="0 10 1 * *")
    with pytest.raises(CampaignError, match="'draft' is a recurring draft: use Schedule"):
        launch_campaign(draft)

    first = launch_campaign(campaign)
    second = launch_campaign(campaign)

    assert (first.created, second.created) == (1, 0)
    assert Delivery.objects.get().occurrence == f"{timezone.localdate().isoformat()} manual"
    assert Campaign(schedule=Campaign.Schedule.ONCE).manual_occurrence() == "once"
