"""A webhook step: POST the client and the step to an outside address, signed, retried, recorded.

The body is JSON; `X-CRM-Signature: sha256=<hex>` is the HMAC-SHA256 of the body with
CRM_JOURNEY_WEBHOOK_SECRET, and `X-CRM-Idempotency-Key` names the step done (position and number in
its path), the same on every try. Success: a 2xx answer whose body is empty or JSON. Anything else
(a timeout, a refused connection, a 4xx/5xx, a 2xx with a body that is not JSON) is a failed try,
recorded with what came back (WebhookCall); the position waits and tries again after 30 s, 60 s,
2 min, ... (`backoff`), CRM_JOURNEY_WEBHOOK_TRIES tries in all (a step's own "tries" overrides it).
After the last, the step is done with outcome "failed": the client goes on along the step's "failed"
exit, or, without one, the position ends as failed with the error.

The call is the one effect outside the database, so it is made after the chunk's commit, with the
position marked running under a lease. A worker killed during the call leaves the position running;
`scheduler.release_abandoned` makes it due again when the lease runs out and the call is made again
with the same idempotency key: a webhook is delivered at least once, never lost; the endpoint tells
a repeat by the key.
"""

import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import Position, StepRun, WebhookCall

log = logging.getLogger(__name__)
RESPONSE_KEPT = 2000


def sign(body):
    return "sha256=" + hmac.new(settings.CRM_JOURNEY_WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()


def backoff(attempt, base=30):
    """Seconds before try number attempt + 1: base, 2 base, 4 base, ... capped at an hour."""
    return min(base * 2 ** (attempt - 1), 3600)


def call_all(calls):
    for position_id, token in calls:
        call(position_id, token)


def call(position_id, token):
    position = (Position.objects.filter(pk=position_id, state=Position.State.RUNNING, claim_token=token)
                .select_related("version", "client", "journey").first())
    if position is None:  # taken over (lease ran out) or stopped meanwhile
        return None
    step = {s["id"]: s for s in position.version.definition["steps"]}[position.step]
    attempt = position.attempts + 1
    key = f"{position.pk}-{position.steps_done + 1}"
    body = json.dumps({
        "journey": position.journey.slug, "version": position.version.number, "step": step["id"],
        "attempt": attempt, "idempotency_key": key,
        "client": {"id": position.client.external_id, "email": position.client.email,
                   "first_name": position.client.first_name},
        "entered_at": position.entered_at.isoformat(),
    }).encode()
    headers = {"Content-Type": "application/json", "X-CRM-Signature": sign(body), "X-CRM-Idempotency-Key": key}
    started = time.monotonic()
    status, text, error = None, "", ""
    try:
        response = requests.post(step["url"], data=body, headers=headers, timeout=settings.CRM_JOURNEY_WEBHOOK_TIMEOUT)
        status, text = response.status_code, response.text[:RESPONSE_KEPT]
        if not 200 <= status < 300:
            error = f"HTTP {status}"
        elif text.strip():
            json.loads(text)
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"[:RESPONSE_KEPT]
    except ValueError:
        error = "the answer is not JSON"
    ok = not error
    seconds = time.monotonic() - started
    tries = step.get("tries") or settings.CRM_JOURNEY_WEBHOOK_TRIES
    with transaction.atomic():
        # Ours still (conditional on the token): a pass that took it over does its own record.
        mine = Position.objects.select_for_update().filter(pk=position.pk, state=Position.State.RUNNING,
                                                           claim_token=token).first()
        WebhookCall.objects.create(position_id=position.pk, step=step["id"], attempt=attempt, url=step["url"][:500],
                                   status=status, ok=ok, response=text, error=error, seconds=seconds)
        if mine is None:
            return ok
        now = timezone.now()
        mine.claim_token, mine.lease_until = "", None
        if not ok and attempt < tries:
            mine.state, mine.attempts = Position.State.WAITING, attempt
            mine.due_at = now + timedelta(seconds=backoff(attempt, step.get("backoff_seconds", 30)))
        else:
            outcome = "next" if ok else "failed"
            target = step.get("next") if ok else step.get("failed")
            mine.steps_done += 1
            StepRun.objects.create(position=mine, step=step["id"], seq=mine.steps_done, outcome=outcome, done_at=now,
                                   detail={"status": status, "error": error, "attempts": attempt})
            mine.attempts = 0
            if target:
                mine.state, mine.step, mine.due_at = Position.State.WAITING, target, now
            elif ok:
                mine.state, mine.reason, mine.due_at, mine.finished_at = (Position.State.DONE, Position.Reason.END,
                                                                          None, now)
            else:
                mine.state, mine.reason, mine.error = (Position.State.FAILED, Position.Reason.WEBHOOK_FAILED,
                                                       f"{step['id']}: {error}")
                mine.due_at, mine.finished_at = None, now
        mine.save()
    if not ok:
        log.warning("journey webhook %s (position %s) try %d failed: %s", step["url"], position.pk, attempt, error)
    return ok
