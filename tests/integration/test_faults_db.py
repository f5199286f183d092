"""The PostgreSQL connection of a nightly run is killed (pg_terminate_backend from another connection)
in each stage: the run fails cleanly, readers keep the previous night's scores, the next run succeeds."""

import datetime as dt
import threading
import time

import psycopg
import pytest
from django.db import DatabaseError, connection

from demo import shop as demo
from nightly.pipeline import rebuild_segments
from segments.models import ClientScore, ScoringRun, SegmentMembership

pytestmark = [pytest.mark.worker]

AS_OF = dt.date(2026, 6, 30)


@pytest.fixture
def shop(transactional_db):
    demo.build(600, seed=5, end=AS_OF)
    first = rebuild_segments(AS_OF - dt.timedelta(days=1))
    yield first
    connection.close()  # the killed connection must not be reused by the teardown


def other_connection():
    s = connection.settings_dict
    return psycopg.connect(host=s["HOST"], port=s["PORT"], user=s["USER"], dbname=s["NAME"], autocommit=True)


def own_backend_pid():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def terminate(pid):
    with other_connection() as admin:
        return admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]


def what_readers_see():
    run = ScoringRun.objects.current()
    scores = dict(ClientScore.objects.filter(run=run).values_list("client_id", "rfm_segment"))
    members = set(SegmentMembership.objects.filter(left_at__isnull=True).values_list("segment_id", "client_id"))
    return run.pk, scores, members


def assert_failed_cleanly_and_recovers(first, before, error):
    assert isinstance(error, DatabaseError), error
    connection.close()  # what Django does after a request or a task whose connection broke
    failed = ScoringRun.objects.exclude(pk=first.pk).get()
    assert failed.status == ScoringRun.Status.FAILED, f"the killed run is left {failed.status}"
    assert "terminat" in failed.error or "connection" in failed.error.lower()
    assert not ClientScore.objects.filter(run=failed).exists()
    assert what_readers_see() == before  # the previous night, untouched

    again = rebuild_segments(AS_OF)
    assert again.status == ScoringRun.Status.SUCCEEDED
    assert ScoringRun.objects.current() == again
    # Everyone scored (a client who joined on the later as-of day is one more than the first night's).
    assert ClientScore.objects.filter(run=again).count() == again.counts["clients"] >= first.counts["clients"]


# "read" runs while no transaction is open: the dead connection is replaced to record the failure.
@pytest.mark.parametrize("stage", ["read", "models", "write scores", "segments"])
def test_a_run_whose_connection_is_killed_fails_cleanly_and_the_next_run_succeeds(shop, stage):
    before = what_readers_see()
    pid = own_backend_pid()

    def progress(message):
        if message == f"{stage}...":
            assert terminate(pid)

    with pytest.raises(Exception) as caught:
        rebuild_segments(AS_OF, progress=progress)
    assert_failed_cleanly_and_recovers(shop, before, caught.value)


def test_a_run_killed_in_the_middle_of_a_query_fails_cleanly(shop):
    """Found from outside, as an operator would: the backend of the run, caught inside its read of purchases
    (held up by a lock another connection takes on the table, so the moment is certain)."""
    before = what_readers_see()
    pid = own_backend_pid()
    locked, killed = threading.Event(), []

    def killer():
        with other_connection() as admin:
            admin.autocommit = False
            admin.execute("LOCK TABLE crm_purchase IN ACCESS EXCLUSIVE MODE")
            locked.set()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                row = admin.execute("SELECT relation::regclass::text FROM pg_locks WHERE pid = %s AND NOT granted",
                                    [pid]).fetchone()
                if row:
                    killed.append((admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0], row[0]))
                    break
                time.sleep(0.02)
            admin.rollback()

    thread = threading.Thread(target=killer)
    thread.start()
    locked.wait(30)
    try:
        with pytest.raises(Exception) as caught:
            rebuild_segments(AS_OF)
    finally:
        thread.join()
    assert killed == [(True, "crm_purchase")]
    assert_failed_cleanly_and_recovers(shop, before, caught.value)
