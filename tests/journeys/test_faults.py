"""A real worker is killed with SIGKILL in the middle of a journey's passes, and Redis (the broker) is
killed and started again empty; a new worker and beat carry on. No client gets a step twice (points
granted once, each email physically sent at most once), none is lost: every position ends done, and
every email delivery final (sent, or "outcome unknown" for the messages in hand at the kill: never resent).
Figures are printed: run with -s.
"""

import collections
import os
import signal
import time
from pathlib import Path

import pytest

from crm.models import Client
from journeys.apps import _schedule as journey_schedule
from journeys.entry import enter
from journeys.models import Position, StepRun
from loyalty.models import PointsEntry
from mailing.apps import _schedule as mailing_schedule
from mailing.models import Delivery
from tests.integration.test_faults_redis import PrivateRedis, free_port  # noqa: F401
from tests.mailing.backends import outcomes
from tests.processes import CeleryProcesses, database_url, wait_for

pytestmark = [pytest.mark.worker]

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 2000
STEPS = [{"id": "gift", "kind": "points", "points": 5, "reason": "journey gift", "next": "hello"},
         {"id": "hello", "kind": "email", "template": "Welcome 1"}]


@pytest.fixture
def redis(tmp_path):
    server = PrivateRedis(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def celery(transactional_db, redis, outbox):
    mailing_schedule()
    journey_schedule()
    env = {**os.environ, "DATABASE_URL": database_url(), "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
           "DJANGO_SECRET_KEY": "tests-only", "EMAIL_BACKEND": "tests.integration.test_faults_redis.SlowRecordingBackend",
           "CRM_TEST_SEND_SECONDS": "0.003", "CRM_TEST_MAIL_DIR": str(outbox), "CRM_JOURNEY_CHUNK": "50",
           "CRM_CAMPAIGN_BATCH_SIZE": "50"}
    processes = CeleryProcesses(env, ROOT)
    yield processes
    processes.stop_all()


def test_a_killed_worker_and_a_redis_restart_lose_nothing_and_do_no_step_twice(celery, redis, outbox, make_journey):
    journey = make_journey(STEPS)
    clients = Client.objects.bulk_create(Client(external_id=f"f{n}", email=f"f{n}@example.com", email_consent=True)
                                         for n in range(CLIENTS))
    enter(journey, [c.pk for c in clients], "faults")
    done_steps = lambda: StepRun.objects.count()  # noqa: E731

    celery.beat()
    first = celery.worker("journeys-first", "--pool", "prefork", "--concurrency", "2")
    wait_for(lambda: done_steps() >= CLIENTS // 2, 120, "half the steps", progress=done_steps)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    at_kill = done_steps()
    redis.kill()
    time.sleep(5)
    redis.start()  # empty: whatever was queued is gone
    celery.worker("journeys-second", "--pool", "prefork", "--concurrency", "2")
    back = time.monotonic()
    deliveries = Delivery.objects.filter(campaign__journey_email__version__journey=journey)
    wait_for(lambda: not Position.objects.filter(journey=journey).exclude(state="done").exists()
             and not deliveries.filter(state__in=Delivery.BUSY_STATES).exists(), 120, "every client to finish",
             progress=lambda: (done_steps(), deliveries.filter(state__in=Delivery.BUSY_STATES).count()))
    recovery = time.monotonic() - back

    states, physical, sent_ids, unknown, duplicates = outcomes(deliveries, outbox)
    print(f"\nkilled after {at_kill} of {2 * CLIENTS} steps; everything final {recovery:.1f} s after the restart; "
          f"deliveries {dict(states)}; duplicates {duplicates}")
    assert Position.objects.filter(journey=journey, state="done").count() == CLIENTS
    runs = collections.Counter(StepRun.objects.values_list("position__client_id", "step"))
    assert set(runs.values()) == {1} and len(runs) == 2 * CLIENTS  # each step once per client
    grants = collections.Counter(PointsEntry.objects.filter(reason="journey gift").values_list("client_id", flat=True))
    assert len(grants) == CLIENTS and set(grants.values()) == {1}
    assert deliveries.count() == CLIENTS
    assert set(states) <= {("sent", ""), ("unknown", "interrupted")}
    assert duplicates == 0 and sent_ids <= set(physical) and set(physical) - sent_ids <= unknown
