"""A sync's worker killed outright mid-batch: the next run resumes it from its journal, without a
batch counted twice by the platform and without losing a removal."""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.utils import timezone

from audiences import push as pushing
from audiences.models import AudiencePush, AudienceSync, PushBatch
from crm.models import Client
from segments.models import Segment, SegmentMembership
from tests.audiences.test_api_platforms import connect, held
from tests.processes import database_url, wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def shop(transactional_db):
    segment = Segment.objects.create(slug="killed", name="Killed", kind=Segment.Kind.RULE)
    clients = Client.objects.bulk_create(
        Client(external_id=f"c{n}", email=f"client{n}@example.com", ads_consent=True) for n in range(7))
    SegmentMembership.objects.bulk_create(
        SegmentMembership(segment=segment, client=client, entered_at=dt.date(2026, 6, 1)) for client in clients)
    return segment, clients


def start_sync(sync, settings, platform_urls):
    """`manage.py sync_audience` in a process of its own, on the test database, 3 rows per request."""
    env = {**os.environ, "DATABASE_URL": database_url(), "CRM_CREDENTIALS_KEY": settings.CRM_CREDENTIALS_KEY,
           "CRM_AUDIENCE_API_URLS": json.dumps(platform_urls), "CRM_AUDIENCE_API_BATCH_LIMIT": "3",
           "DJANGO_SECRET_KEY": "t", "MEDIA_ROOT": str(settings.MEDIA_ROOT)}
    return subprocess.Popen([sys.executable, "manage.py", "sync_audience", str(sync.pk)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def kill_when(process, condition, what):
    try:
        wait_for(lambda: condition() or process.poll() is not None, 120, what)
        assert process.poll() is None, process.stdout.read().decode()[-3000:]
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)


def resume_after_the_lease(sync):
    """What the next nightly run does once the dead worker's hold has run out."""
    AudiencePush.objects.filter(sync=sync, status="running").update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    return pushing.sync_via_api(sync)


def test_meta_worker_killed_while_a_batch_was_in_flight(shop, credentials_key, fake_meta, settings, waits):
    segment, _ = shop
    sync = AudienceSync.objects.create(segment=segment, platform="meta", account=connect("meta", fake_meta))
    release = threading.Event()
    # Batches of 3: the first is answered; the second is taken in and applied, then the worker dies
    # waiting for its answer.
    fake_meta.pass_next("POST", "/users")
    fake_meta.hold_answer_of_next("POST", "/users", release)
    process = start_sync(sync, settings, {"meta": fake_meta.api_url})
    kill_when(process, lambda: len(fake_meta.calls("POST", "/users")) >= 2, "the second batch to arrive")
    release.set()
    assert PushBatch.objects.filter(state="sending").count() == 1
    killed = AudiencePush.objects.get()

    push = resume_after_the_lease(sync)

    assert push.status == "succeeded", push.error
    killed.refresh_from_db()
    assert killed.status == "succeeded" and (killed.added, killed.batches) == (7, 3)
    sync.refresh_from_db()
    audience = sync.remote_ids["audience"]
    (received,) = fake_meta.session_received(audience).values()
    assert received == 7  # every row once, though the second batch's answer never came
    assert fake_meta.members(audience) == held(sync, "audience")


def test_yandex_worker_killed_during_a_removal_loses_no_removal(shop, credentials_key, fake_yandex, settings, waits):
    segment, clients = shop
    sync = AudienceSync.objects.create(segment=segment, platform="yandex", account=connect("yandex", fake_yandex))
    assert pushing.sync_via_api(sync).status == "succeeded"
    sync.refresh_from_db()
    SegmentMembership.objects.filter(client__in=clients[:4]).update(left_at=dt.date(2026, 6, 2))
    release = threading.Event()
    fake_yandex.hold_answer_of_next("POST", "/modify_data", release)
    process = start_sync(sync, settings, {"yandex": fake_yandex.api_url})
    kill_when(process, lambda: len(fake_yandex.calls("POST", "/modify_data")) >= 1, "the first removal")
    release.set()

    push = resume_after_the_lease(sync)

    assert push.status == "succeeded", push.error
    segment_id = sync.remote_ids["audience"]
    assert {row[0] for row in fake_yandex.members(segment_id)} == {"c4", "c5", "c6"}
    assert fake_yandex.members(segment_id) == held(sync, "audience")
