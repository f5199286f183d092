"""/health/ says whether a web server can serve (the database: what load balancers act on);
/health/background/ whether background work can run (broker, a live worker, the nightly run, email)."""

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.utils import timezone

from config import health as health_module
from crm.models import Client
from segments.models import ScoringRun

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[1]
needs_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL")
NO_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def run(status, hours_ago, as_of=dt.date(2026, 11, 20)):
    finished = timezone.now() - dt.timedelta(hours=hours_ago)
    row = ScoringRun.objects.create(as_of=as_of, status=status, finished_at=finished)
    ScoringRun.objects.filter(pk=row.pk).update(started_at=finished - dt.timedelta(minutes=5))
    return row


def health(client, url="/health/"):
    response = client.get(url)
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    return response.status_code, response.json()


def background(client):
    return health(client, "/health/background/")


def redis_client():
    return health_module._redis(2)


def beat(hostname, seconds_ago):
    """A worker's heartbeat as the worker writes it (record_worker_heartbeat), dated."""
    with redis_client() as r:
        r.zadd(health_module.WORKERS_KEY, {hostname: time.time() - seconds_ago})


@pytest.fixture(autouse=True)
def _no_heartbeats(settings):
    """Each test starts and ends with no worker known (the Redis database is this pytest worker's own)."""
    url = settings.REDIS_URL  # a test may point the setting elsewhere

    def forget():
        if url:
            with redis.Redis.from_url(url) as r:
                r.delete(health_module.WORKERS_KEY)

    forget()
    yield
    forget()


@pytest.fixture
def live_worker(settings):
    """A worker that wrote its heartbeat a second ago (where there is a broker)."""
    if settings.REDIS_URL:
        beat("celery@worker-1", 1)


def test_both_answer_200_when_everything_works(client, settings, live_worker):
    good = run("succeeded", 3)
    Client.objects.create(external_id="c1", email="ann@example.com", first_name="Ann")
    code, web = health(client)
    assert code == 200 and web["status"] == "ok"
    assert web["checks"]["database"]["status"] == "ok"
    configured = "ok" if settings.REDIS_URL else "not configured"
    assert web["checks"]["background"] == {"status": "ok", "checks": {
        "broker": configured, "worker": configured, "email": "ok", "nightly": "ok", "audiences": "ok"}}

    code, body = background(client)
    assert code == 200 and body["status"] == "ok"
    checks = body["checks"]
    assert checks["broker"]["status"] == configured
    assert checks["email"] == {"backend": settings.EMAIL_BACKEND, "status": "ok"}
    assert checks["nightly"]["status"] == "ok"
    assert checks["nightly"]["last_run"]["id"] == good.pk and checks["nightly"]["last_run"]["status"] == "succeeded"
    assert checks["nightly"]["scores_from"]["age_hours"] == pytest.approx(3, abs=0.1)
    text = json.dumps(web) + json.dumps(body)
    assert "ann@example.com" not in text and "Ann" not in text
    assert "worker-1" not in text  # host names stay out


@pytest.mark.parametrize(("runs", "warning"), [
    ([], "no scoring run has succeeded yet"),
    ([("succeeded", 40)], "the scores are older than 36 hours"),
    ([("succeeded", 26), ("failed", 2)], "the last scoring run failed"),
])
def test_a_missing_stale_or_failed_nightly_run_is_a_warning_not_an_outage(client, live_worker, runs, warning):
    for status, hours in runs:
        run(status, hours)
    code, body = background(client)
    assert code == 200 and body["status"] == "warning"
    assert body["checks"]["nightly"]["warning"] == warning
    code, web = health(client)
    assert code == 200 and web["status"] == "ok"  # the web server serves on
    assert web["checks"]["background"]["status"] == "warning"
    assert web["checks"]["background"]["checks"]["nightly"] == "warning"


def test_the_stale_limit_is_a_setting(client, settings, live_worker):
    settings.CRM_HEALTH_STALE_HOURS = 48
    run("succeeded", 40)
    assert background(client)[1]["status"] == "ok"


def test_redis_down_keeps_the_web_server_in_and_is_a_503_for_background_work(client, settings):
    settings.REDIS_URL = NO_REDIS
    run("succeeded", 1)
    code, web = health(client)
    assert code == 200 and web["status"] == "ok"
    assert web["checks"]["background"]["status"] == "error"
    assert web["checks"]["background"]["checks"]["broker"] == "error"

    code, body = background(client)
    assert code == 503 and body["status"] == "error"
    assert body["checks"]["broker"] == {"status": "error", "error": "ConnectionError"}
    assert body["checks"]["worker"]["status"] == "unknown"


@needs_redis
def test_no_live_worker_is_a_503_for_background_work_only(client):
    run("succeeded", 1)
    code, body = background(client)
    assert code == 503 and body["checks"]["worker"] == {
        "status": "error", "workers": 0, "last_seen_seconds_ago": None,
        "warning": "no Celery worker has reported in the last 60 seconds"}
    assert body["checks"]["broker"] == {"status": "ok"}
    assert health(client)[0] == 200


@needs_redis
def test_a_worker_silent_for_a_minute_is_gone(client):
    run("succeeded", 1)
    beat("celery@worker-1", 90)
    code, body = background(client)
    assert code == 503 and body["checks"]["worker"]["status"] == "error"
    assert body["checks"]["worker"]["last_seen_seconds_ago"] == pytest.approx(90, abs=5)

    beat("celery@worker-2", 2)
    code, body = background(client)
    assert code == 200 and body["checks"]["worker"]["workers"] == 1
    assert body["checks"]["worker"]["last_seen_seconds_ago"] == pytest.approx(2, abs=5)


@needs_redis
def test_the_worker_heartbeat_is_written_at_most_every_ten_seconds(monkeypatch):
    monkeypatch.setattr(health_module, "_last_heartbeat", 0.0)
    health_module.record_worker_heartbeat("celery@worker-1")
    with redis_client() as r:
        first = r.zscore(health_module.WORKERS_KEY, "celery@worker-1")
        assert first == pytest.approx(time.time(), abs=5)
        health_module.record_worker_heartbeat("celery@worker-1")  # 2 s later, as Celery calls it
        assert r.zscore(health_module.WORKERS_KEY, "celery@worker-1") == first


def test_a_heartbeat_that_cannot_be_written_does_not_disturb_the_worker(monkeypatch, settings):
    settings.REDIS_URL = NO_REDIS
    monkeypatch.setattr(health_module, "_last_heartbeat", 0.0)
    health_module.record_worker_heartbeat("celery@worker-1")  # logged, not raised


def test_an_email_backend_that_cannot_be_built_is_a_503_for_background_work(client, settings, live_worker):
    settings.EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"  # without its API key
    settings.ANYMAIL = {}
    run("succeeded", 1)
    code, body = background(client)
    assert code == 503
    assert body["checks"]["email"] == {"backend": "anymail.backends.mailgun.EmailBackend", "status": "error",
                                       "error": "AnymailConfigurationError"}
    assert health(client)[0] == 200


def test_both_are_reachable_over_plain_http_when_https_is_enforced(client, settings, live_worker):
    settings.SECURE_SSL_REDIRECT = True
    run("succeeded", 1)
    assert client.get("/health/").status_code == 200
    assert client.get("/health/background/").status_code == 200
    assert client.get("/admin/").status_code == 301


def test_a_database_that_cannot_be_reached_is_a_503_on_both(tmp_path):
    """In a process of its own, on a PostgreSQL port where nothing listens."""
    code = ("import django, json; django.setup(); from django.test import Client; "
            "print(json.dumps([[r.status_code, r.json()] for r in "
            "(Client().get(u, HTTP_HOST='localhost') for u in ('/health/', '/health/background/'))]))")
    env = {**os.environ, "DJANGO_DEBUG": "1", "DATABASE_URL": "postgres://postgres@127.0.0.1:1/crm",
           "CRM_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings"}
    env.pop("REDIS_URL", None)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    (web_code, web), (background_code, body) = json.loads(result.stdout.strip().splitlines()[-1])
    assert web_code == 503 and web["status"] == "error"
    assert web["checks"]["database"] == {"status": "error", "error": "OperationalError"}
    assert web["checks"]["background"]["checks"]["nightly"] == "unknown"
    assert background_code == 503 and body["checks"]["nightly"] == {"status": "error", "error": "OperationalError"}
