"""/health/ says whether the database, Redis, the nightly run and the email backend are fine."""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import timezone

from crm.models import Client
from segments.models import ScoringRun

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[1]


def run(status, hours_ago, as_of=dt.date(2026, 11, 20)):
    finished = timezone.now() - dt.timedelta(hours=hours_ago)
    row = ScoringRun.objects.create(as_of=as_of, status=status, finished_at=finished)
    ScoringRun.objects.filter(pk=row.pk).update(started_at=finished - dt.timedelta(minutes=5))
    return row


def health(client):
    response = client.get("/health/")
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    return response.status_code, response.json()


def test_it_answers_200_when_everything_works(client, settings):
    good = run("succeeded", 3)
    Client.objects.create(external_id="c1", email="ann@example.com", first_name="Ann")
    code, body = health(client)
    assert code == 200 and body["status"] == "ok"
    checks = body["checks"]
    assert checks["database"]["status"] == "ok"
    assert checks["redis"]["status"] == ("ok" if settings.REDIS_URL else "not configured")
    assert checks["email"] == {"backend": settings.EMAIL_BACKEND, "status": "ok"}
    assert checks["nightly"]["status"] == "ok"
    assert checks["nightly"]["last_run"]["id"] == good.pk and checks["nightly"]["last_run"]["status"] == "succeeded"
    assert checks["nightly"]["scores_from"]["age_hours"] == pytest.approx(3, abs=0.1)
    text = json.dumps(body)
    assert "ann@example.com" not in text and "Ann" not in text


@pytest.mark.parametrize(("runs", "warning"), [
    ([], "no scoring run has succeeded yet"),
    ([("succeeded", 40)], "the scores are older than 36 hours"),
    ([("succeeded", 26), ("failed", 2)], "the last scoring run failed"),
])
def test_a_missing_stale_or_failed_nightly_run_is_a_warning_not_an_outage(client, runs, warning):
    for status, hours in runs:
        run(status, hours)
    code, body = health(client)
    assert code == 200 and body["status"] == "warning"
    assert body["checks"]["nightly"]["warning"] == warning


def test_the_stale_limit_is_a_setting(client, settings):
    settings.CRM_HEALTH_STALE_HOURS = 48
    run("succeeded", 40)
    assert health(client)[1]["status"] == "ok"


def test_redis_down_is_a_503(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    run("succeeded", 1)
    code, body = health(client)
    assert code == 503 and body["status"] == "error"
    assert body["checks"]["redis"] == {"status": "error", "error": "ConnectionError"}
    assert body["checks"]["database"]["status"] == "ok"


def test_an_email_backend_that_cannot_be_built_is_a_503(client, settings):
    settings.EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"  # without its API key
    settings.ANYMAIL = {}
    run("succeeded", 1)
    code, body = health(client)
    assert code == 503
    assert body["checks"]["email"] == {"backend": "anymail.backends.mailgun.EmailBackend", "status": "error",
                                       "error": "AnymailConfigurationError"}


def test_it_is_reachable_over_plain_http_when_https_is_enforced(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    run("succeeded", 1)
    assert client.get("/health/").status_code == 200
    assert client.get("/admin/").status_code == 301


def test_a_database_that_cannot_be_reached_is_a_503(tmp_path):
    """In a process of its own, on a PostgreSQL port where nothing listens."""
    code = ("import django, json; django.setup(); from django.test import Client; "
            "r = Client().get('/health/', HTTP_HOST='localhost'); print(r.status_code, r.content.decode())")
    env = {**os.environ, "DJANGO_DEBUG": "1", "DATABASE_URL": "postgres://postgres@127.0.0.1:1/crm",
           "CRM_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings"}
    env.pop("REDIS_URL", None)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    status, body = result.stdout.strip().split(" ", 1)
    body = json.loads(body)
    assert status == "503" and body["status"] == "error"
    assert body["checks"]["database"] == {"status": "error", "error": "OperationalError"}
    assert body["checks"]["nightly"]["status"] == "unknown"
