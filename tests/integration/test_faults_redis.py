"""Redis (the Celery broker) is killed in the middle of a campaign, stays down 10 s and is started again
on the same port, empty. Sending resumes by itself: every recipient ends final within a minute of
Redis's return, and no message is physically sent twice.

The machine's own Redis is shared, so the test runs a private redis-server on a free port without
persistence (`--save '' --appendonly no`): the restart loses every queued batch, the worst case. The
worker, beat and the launching command all point at it, with the production settings. What is
recovered and how:
- the batches the worker was sending when Redis died finish (the database and the ESP are still there);
- batches still in the queue are gone with Redis: the repair job (on beat, every 10 s) finds the
  campaign's pending rows that no task holds, with no live task on the campaign and the queue empty,
  and queues them again; only pending rows can be claimed, so nothing already sent goes out again.
Figures (how long Redis was down, deliveries, recovery time, duplicates) are printed: run with -s.
"""

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crm.models import Client
from mailing.apps import _schedule
from mailing.models import Campaign, Delivery, EmailTemplate
from segments.models import Segment, SegmentMembership
from tests.mailing.backends import RecordingBackend, outcomes, physical_sends
from tests.processes import CeleryProcesses, database_url, wait_for

pytestmark = [pytest.mark.worker]

ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = 1500
NO_CONSENT = 50
BATCH = 50
DOWN_SECONDS = 10
RECOVERY_SECONDS = 60


class SlowRecordingBackend(RecordingBackend):
    """RecordingBackend taking CRM_TEST_SEND_SECONDS per message, so the campaign lasts long enough to cut Redis."""

    def send_messages(self, messages):
        time.sleep(float(os.environ.get("CRM_TEST_SEND_SECONDS", "0")) * len(messages))
        return super().send_messages(messages)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    def __init__(self, port, workdir):
        self.port, self.workdir, self.process = port, workdir, None

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.answers, 10, "redis-server to answer")

    def answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.kill()


@pytest.fixture
def private_redis(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server on the PATH")
    redis = PrivateRedis(free_port(), tmp_path)
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture
def env(transactional_db, private_redis, outbox):
    _schedule()  # the beat entries `migrate` makes (a flush between tests may have removed them)
    return {**os.environ, "DATABASE_URL": database_url(),
            "REDIS_URL": f"redis://127.0.0.1:{private_redis.port}/0", "DJANGO_SECRET_KEY": "tests-only-not-secret",
            "LOG_FORMAT": "json", "EMAIL_BACKEND": f"{__name__}.SlowRecordingBackend",
            "CRM_TEST_SEND_SECONDS": "0.01", "CRM_TEST_MAIL_DIR": str(outbox), "CRM_CAMPAIGN_BATCH_SIZE": str(BATCH)}


@pytest.fixture
def celery(env):
    processes = CeleryProcesses(env, ROOT)
    yield processes
    processes.stop_all()


def launch(env, slug):
    result = subprocess.run([sys.executable, "manage.py", "launch_campaign", slug], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_it_resumes_by_itself_within_a_minute_after_redis_restarts_empty_with_nothing_lost_or_sent_twice(
        env, celery, outbox, private_redis):
    segment = Segment.objects.create(slug="faults-audience", name="Audience")
    clients = Client.objects.bulk_create(
        Client(external_id=f"r{n}", email=f"r{n}@example.com", email_consent=n >= NO_CONSENT)
        for n in range(RECIPIENTS))
    SegmentMembership.objects.bulk_create(
        SegmentMembership(segment=segment, client=c, entered_at=dt.date(2026, 1, 1)) for c in clients)
    template = EmailTemplate.objects.create(name="Hi", subject="Hi", html_body="<p>Hello {{ unsubscribe_url }}</p>")
    campaign = Campaign.objects.create(slug="redis-restart", name="Redis restart", template=template)
    campaign.segments.set([segment])
    deliveries = Delivery.objects.filter(campaign=campaign)
    sends = lambda: sum(1 for _ in outbox.iterdir())  # noqa: E731

    celery.beat()
    celery.worker("faults", "--pool", "prefork", "--concurrency", "2")
    launched = launch(env, campaign.slug)
    assert f"{RECIPIENTS - NO_CONSENT} queued in {(RECIPIENTS - NO_CONSENT) // BATCH} batches" in launched

    wait_for(lambda: sends() >= 300, 60, "the first 300 sends", progress=sends)
    private_redis.kill()
    sent_at_kill = sends()
    time.sleep(DOWN_SECONDS)
    private_redis.start()  # same port, empty: the queued batches are gone
    back = time.monotonic()
    wait_for(lambda: Campaign.objects.get(pk=campaign.pk).state == Campaign.State.DONE, 2 * RECOVERY_SECONDS,
             "the campaign to finish")
    recovery = time.monotonic() - back

    states, physical, sent_ids, interrupted, duplicates = outcomes(deliveries, outbox)
    print(f"\nRedis restart: down {DOWN_SECONDS} s after {sent_at_kill} sends; every delivery final {recovery:.1f} s "
          f"after its return; {RECIPIENTS} deliveries: {dict(states)}; physical sends {sum(physical.values())}, "
          f"duplicates {duplicates}")

    assert recovery <= RECOVERY_SECONDS
    assert sum(states.values()) == RECIPIENTS
    assert set(states) <= {("sent", ""), ("suppressed", "no_consent"), ("unknown", "interrupted")}
    assert states[("suppressed", "no_consent")] == NO_CONSENT
    assert duplicates == 0, "a delivery was sent twice"
    assert sent_ids <= set(physical) and set(physical) - sent_ids <= interrupted
    assert len(sent_ids) + len(interrupted) == RECIPIENTS - NO_CONSENT  # nothing lost
    # The worker's log lines of the sending batches carry the campaign as correlation id.
    assert '"campaign": "redis-restart"' in (ROOT / "var" / "test-faults.log").read_text()


def test_a_launch_with_redis_down_says_so_in_one_line_and_sends_once_redis_is_back(env, celery, outbox,
                                                                                   private_redis):
    segment = Segment.objects.create(slug="down-audience", name="Audience")
    clients = Client.objects.bulk_create(
        Client(external_id=f"d{n}", email=f"d{n}@example.com", email_consent=True) for n in range(120))
    SegmentMembership.objects.bulk_create(
        SegmentMembership(segment=segment, client=c, entered_at=dt.date(2026, 1, 1)) for c in clients)
    template = EmailTemplate.objects.create(name="Hi", subject="Hi", html_body="<p>Hello {{ unsubscribe_url }}</p>")
    campaign = Campaign.objects.create(slug="redis-down", name="Redis down", template=template)
    campaign.segments.set([segment])
    private_redis.kill()

    started = time.monotonic()
    result = subprocess.run([sys.executable, "manage.py", "launch_campaign", campaign.slug], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    took = time.monotonic() - started
    print(f"\nlaunch with Redis down answered in {took:.1f} s: {result.stderr.strip()}")

    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr  # one line, no traceback
    assert "task queue (REDIS_URL) cannot be reached" in result.stderr
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.SENDING
    assert Delivery.objects.filter(campaign=campaign, state=Delivery.State.PENDING).count() == 120
    assert campaign.waiting_for_worker()

    private_redis.start()
    celery.worker("after-outage", "--pool", "solo")
    assert "120 queued" in launch(env, campaign.slug)  # launching again finishes it
    wait_for(lambda: Campaign.objects.get(pk=campaign.pk).state == Campaign.State.DONE, 60, "the campaign to finish")
    physical = physical_sends(outbox)
    assert len(physical) == 120 and max(physical.values()) == 1
