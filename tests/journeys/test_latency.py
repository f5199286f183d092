"""From an order posted to the API to the journey's first email sent, with a real worker and beat: under a
minute (the scheduler's pass runs every 10 seconds on beat). The latency is printed: run with -s."""

import os
import time
from pathlib import Path

import pytest
from django.utils import timezone

from journeys.apps import _schedule as journey_schedule
from journeys.models import Journey
from mailing.apps import _schedule as mailing_schedule
from mailing.models import Delivery
from tests.processes import CeleryProcesses, database_url, wait_for

pytestmark = [pytest.mark.worker]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def celery(transactional_db, outbox):
    from config.celery import app

    app.control.purge()
    mailing_schedule()
    journey_schedule()
    processes = CeleryProcesses({**os.environ, "DATABASE_URL": database_url(), "DJANGO_SECRET_KEY": "tests-only",
                                 "EMAIL_BACKEND": "tests.mailing.backends.RecordingBackend",
                                 "CRM_TEST_MAIL_DIR": str(outbox)}, ROOT)
    yield processes
    processes.stop_all()
    app.control.purge()


def test_an_order_by_the_api_gets_the_welcome_email_within_a_minute(celery, make_journey, api_client, outbox, settings):
    assert not settings.CELERY_TASK_ALWAYS_EAGER, "this test needs REDIS_URL: tasks must go through the broker"
    make_journey([{"id": "welcome", "kind": "email", "template": "Welcome 1"}], entry=Journey.Entry.EVENT,
                 entry_event=Journey.Event.ORDER, entry_segment=None)
    api = api_client()
    api.post("/api/v1/clients/", {"client_id": "late-1", "email": "late@example.com", "email_consent": True},
             format="json")
    celery.beat()
    celery.worker("latency", "--pool", "solo")
    posted = time.monotonic()
    response = api.post("/api/v1/purchases/", {"order_id": "L1", "client_id": "late-1", "amount": "99.00",
                                               "purchased_at": timezone.now().isoformat()}, format="json")
    assert response.status_code in (200, 201)
    wait_for(lambda: Delivery.objects.filter(state=Delivery.State.SENT).exists(), 90, "the welcome email")
    latency = time.monotonic() - posted
    print(f"\nfrom the order posted to the API to the journey's first email sent: {latency:.1f} s")
    assert latency < 60
    assert len(list(outbox.iterdir())) == 1
