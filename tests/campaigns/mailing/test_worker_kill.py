"""A real Celery worker is killed (SIGKILL) in the middle of a campaign and another one started:
every recipient still ends in a final state, and no message is physically sent twice."""

import collections
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from campaigns.mailing.models import Campaign, Delivery
from campaigns.mailing.sending import launch_campaign
from crm.models import Client
from segments.models import SegmentMembership

pytestmark = [pytest.mark.worker]

ROOT = Path(__file__).resolve().parents[3]
RECIPIENTS = 3000
NO_CONSENT = 100


def database_url():
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def outbox(tmp_path):
    folder = tmp_path / "outbox"
    folder.mkdir()
    return folder


@pytest.fixture
def start_worker(transactional_db, outbox):
    """start_worker(name, **env) -> a running worker (solo pool, own process group, recording mail to outbox).

    The worker reads tests/campaigns/mailing/worker_settings.py: Redis gives a dead worker's
    unacknowledged task back after seconds instead of the default hour.
    """
    if connection.vendor != "postgresql":
        pytest.skip("the worker processes share the PostgreSQL test database")
    from config.celery import app

    app.control.purge()
    env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SECRET_KEY": "tests-only-not-secret",
           "DJANGO_SETTINGS_MODULE": "tests.campaigns.mailing.worker_settings",
           "EMAIL_BACKEND": "tests.campaigns.mailing.backends.RecordingBackend",
           "CRM_TEST_MAIL_DIR": str(outbox)}
    (ROOT / "var").mkdir(exist_ok=True)
    started = []

    def start(name, **extra_env):
        hostname = f"{name}-{os.getpid()}"
        log = open(ROOT / "var" / f"test-mail-worker-{name}.log", "w")  # noqa: SIM115 - closed below
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--loglevel", "INFO",
             "--without-gossip", "--without-mingle", "--hostname", f"{hostname}@%h"],
            cwd=ROOT, env={**env, **extra_env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        started.append((worker, log))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                raise RuntimeError(f"the Celery worker exited: see {log.name}")
            if any(f"{hostname}@" in name for reply in app.control.ping(timeout=0.5) for name in reply):
                return worker
        raise RuntimeError("the Celery worker did not answer within 60 s")

    yield start
    for worker, log in started:
        if worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        log.close()
    app.control.purge()


def test_it_sends_each_message_at_most_once_and_finishes_when_a_worker_is_killed_mid_campaign(
        start_worker, outbox, make_campaign, segment, settings):
    assert not settings.CELERY_TASK_ALWAYS_EAGER, "this test needs REDIS_URL: tasks must go through the broker"
    settings.CRM_CAMPAIGN_BATCH_SIZE = 100
    clients = Client.objects.bulk_create(
        Client(external_id=f"k{n}", email=f"k{n}@example.com", email_consent=n >= NO_CONSENT, first_name=f"K{n}")
        for n in range(RECIPIENTS))
    SegmentMembership.objects.bulk_create(
        SegmentMembership(segment=segment, client=client, entered_at=dt.date(2026, 1, 1)) for client in clients)
    campaign = make_campaign(slug="big", holdout_percent=10)
    deliveries = Delivery.objects.filter(campaign=campaign)

    # The first worker freezes right after its 450th send (mid-batch), before recording it: the worst moment.
    first = start_worker("first", CRM_TEST_HANG_AFTER_SENDS="450")
    result = launch_campaign(campaign)
    assert result.created == RECIPIENTS and result.batches > 20

    wait_for(lambda: sum(1 for _ in outbox.iterdir()) >= 450, 60, "the first 450 sends")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    in_flight_at_kill = set(deliveries.filter(state=Delivery.State.SENDING).values_list("pk", flat=True))
    assert len(in_flight_at_kill) == 1, "the killed worker had one message out and not recorded"
    assert deliveries.filter(state=Delivery.State.SENT).count() == 449

    start_worker("second")
    wait_for(lambda: Campaign.objects.get(pk=campaign.pk).state == Campaign.State.DONE, 90, "the campaign to finish")

    states = collections.Counter(deliveries.values_list("state", "reason"))
    physical = collections.Counter(int(path.name.split(".")[0]) for path in outbox.iterdir())
    sent_ids = set(deliveries.filter(state=Delivery.State.SENT).values_list("pk", flat=True))
    interrupted = set(deliveries.filter(reason=Delivery.Reason.INTERRUPTED).values_list("pk", flat=True))

    assert sum(states.values()) == RECIPIENTS
    assert set(states) <= {("sent", ""), ("suppressed", "no_consent"), ("suppressed", "holdout"),
                           ("failed", "interrupted")}
    assert states[("suppressed", "no_consent")] == NO_CONSENT
    assert 0.07 < states[("suppressed", "holdout")] / (RECIPIENTS - NO_CONSENT) < 0.13
    assert max(physical.values()) == 1, "a delivery was sent twice"
    assert set(physical) - sent_ids <= interrupted  # sent but not marked: only a row the kill interrupted
    assert sent_ids <= set(physical)  # every row marked sent was physically sent
    # The row the killed worker had in hand was closed when its task came back (same id), not resent.
    assert interrupted == in_flight_at_kill
    assert physical[next(iter(interrupted))] == 1
    assert len(sent_ids) + len(interrupted) == result.pending
