"""A real Celery worker is killed (SIGKILL) in the middle of a campaign and another one started:
every recipient still ends in a final state, and no message is physically sent twice.

Deliveries are claimed and recorded per chunk (`sending.CLAIM_CHUNK`), so the killed worker leaves
its whole chunk in `sending`: the messages of it that went out and the ones it had not sent yet
all end `failed`/`interrupted`, none is resent."""

import collections
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crm.models import Client
from mailing.launch import launch_campaign
from mailing.models import Campaign, Delivery
from mailing.sending import CLAIM_CHUNK
from segments.models import SegmentMembership
from tests.processes import database_url, wait_for

pytestmark = [pytest.mark.worker]

ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = 3000
NO_CONSENT = 100
HANG_AFTER = 440  # in the middle of the 18th chunk of 25: 15 of its messages out, 10 not yet


@pytest.fixture
def start_worker(transactional_db, outbox):
    """start_worker(name, **env) -> a running worker (solo pool, own process group, recording mail to outbox).

    The worker reads tests/mailing/worker_settings.py: Redis gives a dead worker's
    unacknowledged task back after seconds instead of the default hour.
    """
    from config.celery import app

    app.control.purge()
    env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SECRET_KEY": "tests-only-not-secret",
           "DJANGO_SETTINGS_MODULE": "tests.mailing.worker_settings",
           "EMAIL_BACKEND": "tests.mailing.backends.RecordingBackend",
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
        deadline = time.monotonic() + 180  # start-up on a loaded machine
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                raise RuntimeError(f"the Celery worker exited: see {log.name}")
            if any(f"{hostname}@" in name for reply in app.control.ping(timeout=0.5) for name in reply):
                return worker
        raise RuntimeError("the Celery worker did not answer within 180 s")

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

    # The first worker freezes right after its 440th send (mid-batch, mid-chunk), before recording it.
    first = start_worker("first", CRM_TEST_HANG_AFTER_SENDS=str(HANG_AFTER))
    result = launch_campaign(campaign)
    assert result.created == RECIPIENTS and result.batches > 20

    sends = lambda: sum(1 for _ in outbox.iterdir())  # noqa: E731
    wait_for(lambda: sends() >= HANG_AFTER, 60, f"the first {HANG_AFTER} sends", progress=sends)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    in_flight_at_kill = set(deliveries.filter(state=Delivery.State.SENDING).values_list("pk", flat=True))
    assert 1 <= len(in_flight_at_kill) <= CLAIM_CHUNK, "the killed worker had at most its chunk in hand"
    out_at_kill = {int(path.name.split(".")[0]) for path in outbox.iterdir()}
    recorded = set(deliveries.filter(state=Delivery.State.SENT).values_list("pk", flat=True))
    assert len(out_at_kill) == HANG_AFTER and recorded <= out_at_kill
    assert out_at_kill - recorded <= in_flight_at_kill  # out but not recorded: only rows of the chunk in hand
    assert len(recorded) >= HANG_AFTER - CLAIM_CHUNK

    start_worker("second")
    wait_for(lambda: Campaign.objects.get(pk=campaign.pk).state == Campaign.State.DONE, 90, "the campaign to finish",
             progress=lambda: deliveries.exclude(state=Delivery.State.PENDING).count())

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
    # The chunk the killed worker had in hand was closed when its task came back (same id), not resent:
    # the messages of it that went out were sent once, the others never.
    assert interrupted == in_flight_at_kill
    assert {pk for pk in interrupted if pk in physical} == out_at_kill - recorded
    assert len(sent_ids) + len(interrupted) == result.pending
