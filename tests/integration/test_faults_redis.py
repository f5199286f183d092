"""Redis (the Celery broker) is killed in the middle of a campaign and started again on the same port,
empty. Sending resumes, every recipient ends final, and no message is physically sent twice.

The machine's own Redis is shared, so the test runs a private redis-server on a free port without
persistence (`--save '' --appendonly no`): the restart loses every queued batch, the worst case. The
worker and the launching command both point at it. What is recovered and how:
- the batch the worker was sending when Redis died finishes (the database and the ESP are still there);
- batches still in the queue are gone with Redis: the repair beat job (`repair_stuck_deliveries`, every
  5 minutes) finds the campaign's pending rows that nothing has claimed for CRM_CAMPAIGN_STUCK_MINUTES
  and queues them again; only pending rows can be claimed, so nothing already sent goes out again.
  The test runs that job at once with a zero threshold instead of waiting for it.
Figures (how long Redis was down, deliveries, duplicates) are printed: run with -s to see them.
"""

import collections
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
from mailing.models import Campaign, Delivery, EmailTemplate
from segments.models import Segment, SegmentMembership
from tests.mailing.backends import RecordingBackend
from tests.processes import database_url, wait_for

pytestmark = [pytest.mark.worker]

ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = 1500
NO_CONSENT = 50
BATCH = 50


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
    return {**os.environ, "DATABASE_URL": database_url(),
            "REDIS_URL": f"redis://127.0.0.1:{private_redis.port}/0", "DJANGO_SECRET_KEY": "tests-only-not-secret",
            "DJANGO_SETTINGS_MODULE": "tests.mailing.worker_settings", "LOG_FORMAT": "json",
            "EMAIL_BACKEND": f"{__name__}.SlowRecordingBackend", "CRM_TEST_SEND_SECONDS": "0.01",
            "CRM_TEST_MAIL_DIR": str(outbox), "CRM_CAMPAIGN_BATCH_SIZE": str(BATCH)}


@pytest.fixture
def worker(env):
    (ROOT / "var").mkdir(exist_ok=True)
    log_path = ROOT / "var" / "test-faults-redis-worker.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--loglevel", "INFO",
         "--without-gossip", "--without-mingle", "--hostname", f"faults-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: process.poll() is not None or " ready." in log_path.read_text(), 60, "the worker")
        assert process.poll() is None, f"the worker exited: see {log_path}"
        yield log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def launch(env, slug):
    result = subprocess.run([sys.executable, "manage.py", "launch_campaign", slug], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def repair(env):
    code = ("import datetime; from mailing.repair import repair_stuck_deliveries; "
            "print(repair_stuck_deliveries(older_than=datetime.timedelta(0)))")
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_it_resumes_after_redis_restarts_mid_campaign_with_nothing_lost_and_no_duplicate(env, worker, outbox,
                                                                                        private_redis):
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

    launched = launch(env, campaign.slug)
    assert f"{RECIPIENTS - NO_CONSENT} queued in {(RECIPIENTS - NO_CONSENT) // BATCH} batches" in launched

    wait_for(lambda: sends() >= 300, 60, "the first 300 sends", progress=sends)
    private_redis.kill()
    down_at, sent_at_kill = time.monotonic(), sends()
    time.sleep(3)
    private_redis.start()  # same port, empty: the queued batches are gone
    downtime = time.monotonic() - down_at

    # The batch in hand finishes; then nothing is left in the queue. Wait until sending has settled.
    last = -1
    while sends() != last:
        last = sends()
        time.sleep(5)
    pending_after_restart = deliveries.filter(state=Delivery.State.PENDING).count()
    repaired = repair(env)  # what the beat job does, without waiting for its threshold
    assert f"'requeued': {pending_after_restart}" in repaired
    wait_for(lambda: Campaign.objects.get(pk=campaign.pk).state == Campaign.State.DONE, 60, "the campaign to finish",
             progress=sends)

    states = collections.Counter(deliveries.values_list("state", "reason"))
    physical = collections.Counter(int(path.name.split(".")[0]) for path in outbox.iterdir())
    sent_ids = set(deliveries.filter(state=Delivery.State.SENT).values_list("pk", flat=True))
    interrupted = set(deliveries.filter(reason=Delivery.Reason.INTERRUPTED).values_list("pk", flat=True))
    duplicates = sum(count - 1 for count in physical.values())
    print(f"\nRedis restart: down {downtime:.1f} s after {sent_at_kill} sends; {RECIPIENTS} deliveries: "
          f"{dict(states)}; pending after the restart {pending_after_restart}, "
          f"queued again by the repair job; physical sends {sum(physical.values())}, duplicates {duplicates}")

    assert sum(states.values()) == RECIPIENTS
    assert set(states) <= {("sent", ""), ("suppressed", "no_consent"), ("failed", "interrupted")}
    assert states[("suppressed", "no_consent")] == NO_CONSENT
    assert duplicates == 0, "a delivery was sent twice"
    assert sent_ids <= set(physical) and set(physical) - sent_ids <= interrupted
    assert len(sent_ids) + len(interrupted) == RECIPIENTS - NO_CONSENT  # nothing lost
    # The worker's log lines of the sending batches carry the campaign as correlation id.
    assert '"campaign": "redis-restart"' in worker.read_text()
