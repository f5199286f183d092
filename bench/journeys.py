"""How fast journeys move clients, against the campaign bench's bare render-and-send loop, and what the
scheduler's pass costs with a million clients waiting.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_bench_journeys \\
        .venv/bin/python bench/journeys.py [--clients 200000] [--waiting 1000000] [--force]

The shop is bench/campaign_throughput.py's (made the same way, once; its template too). Then:

  journey   --clients segment members enter a three-step journey (email, wait a day, email). The
            scheduler's passes (`scheduler.run_due`) at entry and a day later do the steps; every
            email batch they queue is sent in this process by `sending.send_batch`, the function the
            Celery task calls (the queueing is captured instead of going to a broker). Measured from
            the entry until every delivery is final: 3 steps and 2 messages per client.
  baseline  the campaign bench's baseline loop (`campaign_throughput._baseline`) over the same
            clients, twice: the same template rendered with the same contexts and handed to the
            same backend, 2 messages per client. Ratio: journey time / baseline time (target <= 2).
  waiting   --waiting positions spread over five journeys, all waiting a day; then passes with 0,
            1,000 and 10,000 of them due, and an empty pass with none waiting at all: the pass's
            time follows the due rows (the partial index on waiting rows' due_at), not the waiting.

It prints the figures and exits 0 whether or not the target is met: a report, not a test. It empties
the journey tables and the deliveries; it refuses a database whose name lacks "bench" (--force).
"""

import argparse
import datetime as dt
import os
import sys
import time
import uuid
from unittest import mock

import django_setup  # first: puts the repository on the path and sets Django up
from campaign_throughput import BACKEND, _baseline, _data, _template
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.test.utils import override_settings
from django.utils import timezone

from crm.models import Client
from journeys.entry import enter
from journeys.models import Journey, Position
from journeys.publish import activate
from journeys.scheduler import run_chunk, run_due
from mailing import sending, tasks
from mailing.models import Delivery
from segments.models import SegmentMembership

TARGET_RATIO = 2.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--clients", type=int, default=200_000)
    parser.add_argument("--waiting", type=int, default=1_000_000)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--only-waiting", action="store_true",
                        help="only the passes with --waiting positions (bare clients made if the shop is smaller)")
    args = parser.parse_args(argv)
    refusal = django_setup.refusal("bench/journeys.py", "crm_bench_journeys", args.force)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    call_command("migrate", verbosity=0)
    if args.only_waiting:
        _waiting(args.waiting)
        return 0
    segment = _data(args.clients, regenerate=False)
    template = _template()
    print(f"database {connection.settings_dict['NAME']}; {args.clients:,} clients enter; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    with override_settings(EMAIL_BACKEND=BACKEND, CRM_QUIET_HOURS=""):
        seconds, steps, sent = _journey(segment, template)
        recipients = list(Delivery.objects.filter(state=Delivery.State.SENT).order_by("client_id")
                          .values_list("client_id", flat=True).distinct())
        base = sum(_baseline(template, recipients)[0] for _ in range(2))
    messages = 2 * len(recipients)
    print(f"journey: {steps:,} steps and {sent:,} messages in {seconds:.1f} s: {steps / seconds:,.0f} steps/s, "
          f"{sent / seconds:,.0f} messages/s")
    print(f"baseline (campaign bench's render-and-send loop, {messages:,} messages): {base:.1f} s, "
          f"{messages / base:,.0f} messages/s")
    ratio = seconds / base
    print(f"ratio journey / baseline: {ratio:.2f} (target <= {TARGET_RATIO:g}: "
          f"{'MET' if ratio <= TARGET_RATIO else 'NOT MET'})", flush=True)
    _waiting(args.waiting)
    return 0


def _reset():
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Position._meta.db_table}, {Delivery._meta.db_table} CASCADE")
    Journey.objects.update(live_version=None)  # protected: the versions go with their journey
    Journey.objects.all().delete()


def _journey(segment, template):
    _reset()
    journey = Journey.objects.create(slug="bench", name="Bench", entry_segment=segment, definition={
        "start": "one", "steps": [{"id": "one", "kind": "email", "template": template.name, "next": "wait"},
                                  {"id": "wait", "kind": "wait", "days": 1, "next": "two"},
                                  {"id": "two", "kind": "email", "template": template.name}]})
    activate(journey)
    journey.refresh_from_db()
    ids = list(SegmentMembership.objects.filter(segment=segment, left_at__isnull=True).values_list("client_id",
                                                                                                  flat=True))
    queued = []
    now = timezone.now()
    with mock.patch.object(tasks.send_delivery_batch, "apply_async", lambda args=None, **kw: queued.append(args[0])):
        started = time.perf_counter()
        enter(journey, ids, "bench", now=now)
        passes = time.perf_counter() - started
        for moment in (now, now + dt.timedelta(days=1, seconds=1)):
            at = time.perf_counter()
            run_due(now=moment, max_seconds=3600)
            passes += time.perf_counter() - at
            while queued:
                sending.send_batch(queued.pop(0), claim_token=uuid.uuid4().hex)
                mail.outbox.clear()
        seconds = time.perf_counter() - started
    print(f"  entering and the scheduler's passes: {passes:.1f} s; sending (mailing's send_batch): "
          f"{seconds - passes:.1f} s", flush=True)
    unfinished = Position.objects.filter(journey=journey).exclude(state__in=["done", "exited"]).count()
    assert unfinished == 0, f"{unfinished} positions are not finished"
    steps = journey.positions.aggregate(n=Sum("steps_done"))["n"]
    return seconds, steps, Delivery.objects.filter(state=Delivery.State.SENT).count()


def _waiting(waiting):
    _reset()
    per = -(-waiting // 5)
    _bare_clients(per)
    later = timezone.now() + dt.timedelta(days=1)
    journeys = []
    for n in range(5):
        journey = Journey.objects.create(slug=f"bench-wait-{n}", name=f"Wait {n}", entry=Journey.Entry.EVENT,
                                         entry_event=Journey.Event.ORDER,
                                         definition={"start": "w", "steps": [
                                             {"id": "w", "kind": "wait", "days": 30}]})
        activate(journey)
        journey.refresh_from_db()
        journeys.append(journey)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {Position._meta.db_table} (journey_id, version_id, client_id, entry_key, state, reason, "
                "error, step, due_at, attempts, steps_done, claim_token, entered_at) "
                "SELECT %s, %s, id, 'bench', 'waiting', '', '', 'w', %s, 0, 0, '', now() FROM crm_client "
                "ORDER BY id LIMIT %s", [journey.pk, journey.live_version_id, later, per])
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Position._meta.db_table}")
    total = Position.objects.count()
    print(f"\nwaiting: {total:,} positions waiting a day", flush=True)
    rows = [("empty pass, 0 due", _timed_pass())]
    for due in (1_000, 10_000):
        ids = list(Position.objects.filter(state="waiting").order_by("?").values_list("pk", flat=True)[:due])
        Position.objects.filter(pk__in=ids).update(due_at=timezone.now() - dt.timedelta(seconds=1))
        rows.append((f"{due:,} due", _timed_pass()))
    _reset()
    rows.append(("empty pass, nobody waiting", _timed_pass()))
    for label, (seconds, claimed, chunks) in rows:
        each = f"; chunks {' '.join(f'{c * 1000:.0f}' for c in chunks)} ms" if len(chunks) > 1 else ""
        print(f"  {label:28} {seconds * 1000:9.1f} ms  ({claimed:,} claimed{each})")


def _bare_clients(wanted):
    """Enough clients for `wanted` positions per journey: bare ones, as only their rows are needed."""
    have = Client.objects.count()
    if have < wanted:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO crm_client (external_id, email, phone, first_name, last_name, city, country, zip, "
                "gender, acquisition_channel, email_consent, email_consent_source, ads_consent, created_at, "
                "updated_at) SELECT 'bench-wait-' || g, 'bench-wait-' || g || '@example.com', '', '', '', '', '', "
                "'', '', '', true, '', false, now(), now() FROM generate_series(%s, %s) g", [have + 1, wanted])


def _timed_pass():
    """(seconds, rows claimed, each full chunk's seconds): chunks that grew slower one after another
    would make the pass superlinear in the due rows."""
    started = time.perf_counter()
    claimed, chunks = 0, []
    while True:
        at = time.perf_counter()
        counts, _calls = run_chunk()
        claimed += counts.get("claimed", 0)
        if not counts.get("claimed"):
            break
        chunks.append(time.perf_counter() - at)
    return time.perf_counter() - started, claimed, chunks


if __name__ == "__main__":
    sys.exit(main())
