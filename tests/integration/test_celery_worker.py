import datetime as dt
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from crm.models import Client, Purchase
from nightly.tasks import nightly_rebuild
from segments.models import ClientScore, ScoringRun
from tests.processes import wait_for

pytestmark = [pytest.mark.worker]


def test_the_nightly_task_runs_on_a_real_worker_through_redis(celery_worker_process):
    assert not settings.CELERY_TASK_ALWAYS_EAGER, "this test needs REDIS_URL: tasks must go through the broker"
    buyer = Client.objects.create(external_id="c1")
    Client.objects.create(external_id="c2")
    Purchase.objects.create(external_id="o1", client=buyer, amount=Decimal(50),
                            purchased_at=dt.datetime(2026, 1, 10, tzinfo=dt.UTC))

    result = nightly_rebuild.apply_async(["2026-02-01"], ignore_result=False).get(timeout=120)

    assert result["status"] == "succeeded" and result["as_of"] == "2026-02-01"
    assert result["counts"]["clients"] == 2 and result["counts"]["buyers"] == 1
    run = ScoringRun.objects.get(pk=result["run"])
    assert ClientScore.objects.get(run=run, client=buyer).recency_days == 22



@pytest.fixture
def no_heartbeats():
    """No worker known before the test's own starts (listed before celery_worker_process)."""
    from config import health

    with health._redis(2) as r:
        r.delete(health.WORKERS_KEY)


def test_a_running_worker_shows_on_the_background_health_page(no_heartbeats, celery_worker_process, client):
    ScoringRun.objects.create(as_of=dt.date(2026, 2, 1), status="succeeded", finished_at=timezone.now())

    def live():
        return client.get("/health/background/").json()["checks"]["worker"]["workers"] == 1

    wait_for(live, 30, "the worker's heartbeat on /health/background/")
    response = client.get("/health/background/")
    assert response.status_code == 200 and response.json()["status"] == "ok"
