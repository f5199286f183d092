"""A real Celery worker (prefork, 2 processes) is killed with SIGKILL in the middle of a campaign and
another one started, with beat running the repair job as in production: every recipient ends in a
final state within a minute of the new worker starting, and no message is physically sent twice.

Nothing here shortens the broker's visibility timeout (a day in production): the killed worker's
tasks never come back during the test. Recovery comes from the lease (mailing/sending.py): the
killed batches stop renewing their hold, and the repair job (every 10 s on beat) closes the rows
they had in `sending` as "outcome unknown" (never resent) and queues their pending rest again.
Figures (sends at the kill, in flight, recovery time) are printed: run with -s to see them.
"""

import datetime as dt
import os
import signal
import time
from pathlib import Path

import pytest

from crm.models import Client
from mailing.apps import _schedule
from mailing.launch import launch_campaign
from mailing.models import Campaign, Delivery
from mailing.sending import CLAIM_CHUNK
from segments.models import SegmentMembership
from tests.mailing.backends import outcomes
from tests.processes import CeleryProcesses, database_url, wait_for

pytestmark = [pytest.mark.worker]

ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = 3000
NO_CONSENT = 100
BATCH = 500
HANG_AFTER = 440  # each pool process freezes after its 440th send: mid-batch, mid-chunk (15 of 25 out)
RECOVERY_SECONDS = 60


@pytest.fixture
def celery(transactional_db, outbox, settings):
    from config.celery import app

    app.control.purge()
    _schedule()  # the beat entries `migrate` makes (a flush between tests may have removed them)
    settings.CRM_CAMPAIGN_BATCH_SIZE = BATCH
    processes = CeleryProcesses({**os.environ, "DATABASE_URL": database_url(), "DJANGO_SECRET_KEY": "tests-only",
                                 "EMAIL_BACKEND": "tests.mailing.backends.RecordingBackend",
                                 "CRM_TEST_MAIL_DIR": str(outbox), "CRM_CAMPAIGN_BATCH_SIZE": str(BATCH)}, ROOT)
    yield processes
    processes.stop_all()
    app.control.purge()


def test_a_killed_worker_costs_at_most_a_minute_and_no_message_is_sent_twice(celery, outbox, make_campaign,
                                                                             segment, settings):
    assert not settings.CELERY_TASK_ALWAYS_EAGER, "this test needs REDIS_URL: tasks must go through the broker"
    clients = Client.objects.bulk_create(
        Client(external_id=f"k{n}", email=f"k{n}@example.com", email_consent=n >= NO_CONSENT, first_name=f"K{n}")
        for n in range(RECIPIENTS))
    SegmentMembership.objects.bulk_create(
        SegmentMembership(segment=segment, client=client, entered_at=dt.date(2026, 1, 1)) for client in clients)
    campaign = make_campaign(slug="big", holdout_percent=10)
    deliveries = Delivery.objects.filter(campaign=campaign)
    sends = lambda: sum(1 for _ in outbox.iterdir())  # noqa: E731

    celery.beat()
    first = celery.worker("first", "--pool", "prefork", "--concurrency", "2",
                          CRM_TEST_HANG_AFTER_SENDS=str(HANG_AFTER))
    result = launch_campaign(campaign)
    assert result.created == RECIPIENTS and result.batches == -(-result.pending // BATCH) >= 5

    # Both pool processes freeze mid-batch, their message out and not recorded; then the whole worker is killed.
    wait_for(lambda: sends() >= 2 * HANG_AFTER, 120, "both pool processes to freeze", progress=sends)
    time.sleep(0.5)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    in_flight_at_kill = set(deliveries.filter(state=Delivery.State.SENDING).values_list("pk", flat=True))
    out_at_kill = {int(path.name.split(".")[0]) for path in outbox.iterdir()}
    recorded = set(deliveries.filter(state=Delivery.State.SENT).values_list("pk", flat=True))
    assert 2 <= len(in_flight_at_kill) <= 2 * CLAIM_CHUNK, "each killed process had at most its chunk in hand"
    assert len(out_at_kill) == 2 * HANG_AFTER and recorded <= out_at_kill
    assert out_at_kill - recorded <= in_flight_at_kill  # out but not recorded: only rows of the chunks in hand

    celery.worker("second", "--pool", "prefork", "--concurrency", "2")
    started = time.monotonic()
    wait_for(lambda: Campaign.objects.get(pk=campaign.pk).state == Campaign.State.DONE, 2 * RECOVERY_SECONDS,
             "the campaign to finish")
    recovery = time.monotonic() - started

    states, physical, sent_ids, unknown, duplicates = outcomes(deliveries, outbox)
    print(f"\nworker killed after {len(out_at_kill)} sends ({len(in_flight_at_kill)} rows in flight, "
          f"{len(out_at_kill - recorded)} of them out); every delivery final {recovery:.1f} s after the new worker "
          f"started; {dict(states)}; physical sends {sum(physical.values())}, duplicates {duplicates}")

    assert recovery <= RECOVERY_SECONDS
    assert sum(states.values()) == RECIPIENTS
    assert set(states) <= {("sent", ""), ("suppressed", "no_consent"), ("suppressed", "holdout"),
                           ("unknown", "interrupted")}
    assert states[("suppressed", "no_consent")] == NO_CONSENT
    assert 0.07 < states[("suppressed", "holdout")] / (RECIPIENTS - NO_CONSENT) < 0.13
    assert duplicates == 0, "a delivery was sent twice"
    assert sent_ids <= set(physical)  # every row marked sent was physically sent
    # The chunks the killed processes had in hand end "unknown", never resent: the messages of them that
    # went out were sent once, the others never.
    assert unknown == in_flight_at_kill
    assert {pk for pk in unknown if pk in physical} == out_at_kill - recorded
    assert set(physical) - sent_ids == out_at_kill - recorded
    assert len(sent_ids) + len(unknown) == result.pending  # nothing lost
