"""A webhook step against a real local endpoint: signed, retried with back-off, every answer recorded;
after the last try the journey goes on along the failure path, or the position fails with the error."""

import datetime as dt
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from journeys.entry import enter
from journeys.models import Position, StepRun, WebhookCall
from journeys.scheduler import run_due

pytestmark = pytest.mark.django_db(transaction=True)


class Endpoint(BaseHTTPRequestHandler):
    answers, received = [], []

    def do_POST(self):  # noqa: N802  (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Endpoint.received.append((dict(self.headers), body))
        kind = Endpoint.answers.pop(0) if Endpoint.answers else "ok"
        if kind == "slow":
            time.sleep(3)
        status, text = {"ok": (200, b'{"ok": true}'), "500": (500, b"oops"), "garbage": (200, b"<html>?"),
                        "slow": (200, b"{}")}[kind]
        self.send_response(status)
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint(settings):
    settings.CRM_JOURNEY_WEBHOOK_SECRET = "s3cret"
    settings.CRM_JOURNEY_WEBHOOK_TIMEOUT = 1
    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    Endpoint.answers, Endpoint.received = [], []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def steps(url, failed=None):
    hook = {"id": "hook", "kind": "webhook", "url": url, "tries": 3, "backoff_seconds": 60, "next": "after"}
    if failed:
        hook["failed"] = failed
    return [hook, {"id": "after", "kind": "points", "points": 10}, {"id": "sorry", "kind": "exit"}]


def passes(now, minutes):
    for m in range(0, minutes + 1, 1):
        run_due(now=now + dt.timedelta(minutes=m))


def test_a_signed_call_that_succeeds_moves_on(make_journey, make_client, endpoint):
    journey = make_journey(steps(endpoint)[:2])
    client = make_client()
    enter(journey, [client.pk], "x")
    run_due()
    headers, body = Endpoint.received[0]
    assert headers["X-CRM-Signature"] == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert json.loads(body)["client"]["id"] == client.external_id
    position = Position.objects.get()
    assert (position.state, position.reason) == ("done", "end")
    assert list(StepRun.objects.values_list("step", "outcome")) == [("hook", "next"), ("after", "next")]


@pytest.mark.parametrize("answer", ["500", "garbage", "slow"])
def test_a_failing_endpoint_is_retried_then_takes_the_failure_path(make_journey, make_client, endpoint, answer):
    Endpoint.answers = [answer] * 3
    journey = make_journey(steps(endpoint, failed="sorry"))
    enter(journey, [make_client().pk], "x")
    now = timezone.now()
    run_due(now=now)
    assert Position.objects.get().state == "waiting"  # tried once, waits for the back-off
    run_due(now=now + dt.timedelta(seconds=30))
    assert WebhookCall.objects.count() == 1
    passes(now, 4)  # 60 s, then 120 s
    calls = list(WebhookCall.objects.order_by("attempt").values_list("attempt", "ok", "status"))
    assert [(a, ok) for a, ok, _s in calls] == [(1, False), (2, False), (3, False)]
    assert calls[0][2] == {"500": 500, "garbage": 200, "slow": None}[answer]
    position = Position.objects.get()
    assert (position.state, position.reason) == ("exited", "exit_step")
    assert list(StepRun.objects.values_list("step", "outcome")) == [("hook", "failed"), ("sorry", "exit")]


def test_without_a_failure_path_the_position_fails_with_the_error(make_journey, make_client, endpoint):
    Endpoint.answers = ["500"] * 3
    journey = make_journey(steps(endpoint)[:2])
    enter(journey, [make_client().pk], "x")
    passes(timezone.now(), 4)
    position = Position.objects.get()
    assert (position.state, position.reason) == ("failed", "webhook_failed")
    assert position.error == "hook: HTTP 500"
