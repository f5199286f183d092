"""The demo's scheduler (demo/scheduler.py, run by `manage.py demo_serve`) does beat's email jobs."""

import datetime as dt

from django.core import mail
from django.utils import timezone

from demo import scheduler
from mailing.models import Campaign


def test_the_demo_scheduler_launches_a_campaign_whose_time_has_come(make_client, make_campaign, segment,
                                                                     django_capture_on_commit_callbacks):
    client = make_client([segment])
    due = make_campaign(slug="sale", schedule=Campaign.Schedule.ONCE, state=Campaign.State.SCHEDULED,
                        send_at=timezone.now() - dt.timedelta(seconds=5))
    later = make_campaign(slug="later", schedule=Campaign.Schedule.ONCE, state=Campaign.State.SCHEDULED,
                          send_at=timezone.now() + dt.timedelta(hours=1))
    last_run = {}
    with django_capture_on_commit_callbacks(execute=True):
        scheduler.run_due(last_run, now=1000.0)
    due.refresh_from_db()
    later.refresh_from_db()
    assert due.state != Campaign.State.SCHEDULED and later.state == Campaign.State.SCHEDULED
    assert [m.to for m in mail.outbox] == [[client.email]]
    # Each job keeps beat's interval: 30 s later only the 10-second ones (the repair, the journeys' pass) run again.
    scheduler.run_due(last_run, now=1030.0)
    assert last_run == {scheduler.JOBS[0][1]: 1030.0, scheduler.JOBS[1][1]: 1000.0, scheduler.JOBS[2][1]: 1030.0}


def test_a_failing_job_does_not_stop_the_others(monkeypatch):
    ran = []

    def broken():
        raise RuntimeError("database away")

    broken.name = "broken"
    monkeypatch.setattr(scheduler, "JOBS", ((10, broken), (60, lambda: ran.append(1))))
    scheduler.run_due({}, now=0.0)
    assert ran == [1]
