import datetime as dt
import zoneinfo

from django.core import mail
from django.utils import timezone

from mailing import tasks
from mailing.launch import launch_campaign
from mailing.models import Campaign, Delivery
from mailing.sending import send_batch

MOSCOW = zoneinfo.ZoneInfo("Europe/Moscow")


def at(hour, minute=0, day=24):
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=MOSCOW)


def test_a_launch_in_quiet_hours_delays_the_messages_to_the_end_of_the_window(
        make_client, make_campaign, segment, settings, monkeypatch, django_capture_on_commit_callbacks):
    settings.TIME_ZONE, settings.CRM_QUIET_HOURS = "Europe/Moscow", "22:00-09:00"
    clients = [make_client([segment]) for _ in range(3)]
    campaign = make_campaign()
    monkeypatch.setattr(timezone, "now", lambda: at(23, 30))

    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(campaign)  # the in-process batch runs at once, finds quiet hours and sends nothing

    assert mail.outbox == []
    rows = Delivery.objects.all()
    assert {(d.state, d.not_before) for d in rows} == {(Delivery.State.PENDING, at(9, 0, day=25))}

    ids = [d.pk for d in rows]
    early = send_batch(ids, "t1", now=at(8, 59, day=25))
    assert dt.datetime.fromisoformat(early["defer_until"]) == at(9, 0, day=25) and mail.outbox == []

    monkeypatch.setattr(timezone, "now", lambda: at(9, 1, day=25))
    assert send_batch(ids, "t2")["sent"] == 3
    assert sorted(m.to[0] for m in mail.outbox) == sorted(c.email for c in clients)
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.DONE


def test_a_batch_that_meets_quiet_hours_queues_itself_again_for_the_end_of_the_window(
        make_client, make_campaign, segment, settings, monkeypatch):
    settings.TIME_ZONE, settings.CRM_QUIET_HOURS = "Europe/Moscow", "22:00-09:00"
    make_client([segment])
    campaign = make_campaign()
    launch_campaign(campaign)  # queued on commit, which never comes in this test: the batch is run below
    ids = list(Delivery.objects.values_list("pk", flat=True))
    monkeypatch.setattr(timezone, "now", lambda: at(22, 15))
    queued = []
    monkeypatch.setattr(tasks.send_delivery_batch, "apply_async", lambda **kw: queued.append(kw))

    counts = tasks.send_delivery_batch.run(ids)  # as a worker runs it (not eager)

    assert counts["deferred"] == 1 and mail.outbox == []
    assert queued == [{"args": [ids], "eta": at(9, 0, day=25)}]


def test_outside_quiet_hours_messages_go_at_once(make_client, make_campaign, segment, settings, monkeypatch,
                                                django_capture_on_commit_callbacks):
    settings.TIME_ZONE, settings.CRM_QUIET_HOURS = "Europe/Moscow", "22:00-09:00"
    make_client([segment])
    monkeypatch.setattr(timezone, "now", lambda: at(12, 0))

    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(make_campaign())

    assert len(mail.outbox) == 1 and Delivery.objects.get().not_before is None
