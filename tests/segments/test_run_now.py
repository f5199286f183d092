"""'Run scoring now' queues the nightly task and follows the run stage by stage; the request never runs it."""

import datetime as dt
import threading
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from nightly import tasks
from nightly.pipeline import STAGES, rebuild_segments
from segments.models import ScoringRun


@pytest.fixture
def boss(db, client):
    client.force_login(get_user_model().objects.create_superuser("boss", "boss@example.com", "pw"))
    return client


def test_the_button_queues_the_run_and_the_page_waits_for_it(boss, demo_shop):
    with mock.patch.object(tasks.nightly_rebuild, "delay") as delay:
        response = boss.post(reverse("admin:segments_run_now"))
    delay.assert_called_once_with()
    assert response["Location"] == reverse("admin:segments_run_progress")
    assert not ScoringRun.objects.exists()  # not run inside the request
    page = boss.get(response["Location"]).content.decode()
    assert "waiting for a worker" in page and 'http-equiv="refresh"' in page

    rebuild_segments(demo_shop)  # the worker
    page = boss.get(response["Location"]).content.decode()
    assert "succeeded" in page and 'http-equiv="refresh"' not in page
    assert page.count('class="stage-done"') == len(STAGES)


def test_a_run_in_progress_is_shown_not_started_twice(boss):
    ScoringRun.objects.create(as_of=dt.date(2026, 6, 30), stage_seconds={"read": 1.5})
    with mock.patch.object(tasks.nightly_rebuild, "delay") as delay:
        page = boss.post(reverse("admin:segments_run_now"), follow=True).content.decode()
    delay.assert_not_called()
    assert "already in progress" in page
    assert page.count('class="stage-done"') == 1 and page.count('class="stage-running"') == 1
    assert 'http-equiv="refresh"' in page


@pytest.mark.django_db(transaction=True)
def test_each_stage_is_visible_to_others_as_it_ends(demo_shop, monkeypatch):
    """The page reads the run from another connection while the night's transaction is open."""
    from nightly import pipeline

    seen = {}
    apply = pipeline.membership.apply

    def look(*args):
        def read():
            from django.db import connection
            try:
                seen["segments"] = dict(ScoringRun.objects.get(status=ScoringRun.Status.RUNNING).stage_seconds)
            finally:
                connection.close()
        thread = threading.Thread(target=read)
        thread.start()
        thread.join()
        return apply(*args)

    monkeypatch.setattr(pipeline.membership, "apply", look)  # inside the night's transaction
    run = rebuild_segments(demo_shop)
    assert set(seen["segments"]) == {"read", "models", "recommendations", "loyalty", "write scores"}
    assert set(ScoringRun.objects.get(pk=run.pk).stage_seconds) == set(STAGES)
