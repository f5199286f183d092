"""The demo shop's two journeys, run over the last weeks of its history so their pages show numbers.

- `welcome-series`: on entering `new-customers`, three emails over a week, exit on the next order.
- `win-back-journey`: on entering `at-risk`: an email, then wait 5 days for an order; if none and the
  predicted value is high, an offer email and the Meta audience (`win-back-meta`, a segment fed by
  journeys, synced to Meta), else exit.
Both hold out 10% of their entrants.

`run_on_history` enters, as of each day of the last weeks, the clients who would have entered then,
and runs the scheduler's passes with the clock of that day: the steps, waits, branches and exits are
the engine's own; the emails go to the demo's outbox. As for `spring-win-back`, the email's effect is
simulated: besides the orders every client makes anyway (the demo's history, for both groups alike),
a small share of those emailed orders once more within days, which the journeys see as conversions.
The frequency cap is lifted for the run: it counts real send times, and the run sends weeks of
journey email in a minute.
"""

import datetime as dt
import random
from decimal import Decimal

from django.db.models import Avg, Max, Min, Q
from django.test import override_settings

from audiences.models import AudienceSync
from crm.models import Client, Purchase
from journeys.entry import enter
from journeys.models import Journey, Position, StepRun
from journeys.publish import activate
from journeys.scheduler import run_due
from mailing.models import EmailTemplate
from segments.models import Segment

from .campaigns import FOOTER, _template

TEMPLATES = {
    "Welcome 2: our favourites": {
        "subject": "{{ client.first_name|default:\"Hi\" }}, what our customers love",
        "html_body": "<html><body><h1>Our favourites</h1><p>Three things our customers come back for.</p>"
                     + FOOTER + "</body></html>"},
    "Welcome 3: 10% off the next order": {
        "subject": "10% off your next order, {{ client.first_name|default:\"friend\" }}",
        "html_body": "<html><body><h1>A thank-you</h1><p>Use <b>NEXT10</b> this week for 10% off.</p>"
                     + FOOTER + "</body></html>"},
    "Win-back offer": {
        "subject": "{{ client.first_name|default:\"Hi\" }}, 20% off: our best offer",
        "html_body": "<html><body><h1>20% off, for you</h1><p>Use <b>VIP20</b> before Sunday.</p>"
                     + FOOTER + "</body></html>"},
}
WELCOME, WIN_BACK, AUDIENCE = "welcome-series", "win-back-journey", "win-back-meta"
HOLDOUT = 10
DAYS = 40  # the weeks of history the journeys run over
EXTRA_ORDER = 0.04  # the simulated effect: the share of emailed clients who order once more
HIGH_VALUE = 20000  # predicted value, in the shop's currency, above which a lapsing client gets the offer


def create_demo_journeys():
    """The two journeys, active (None when they exist already)."""
    if Journey.objects.filter(slug__in=[WELCOME, WIN_BACK]).exists():
        return None
    for name, fields in TEMPLATES.items():
        EmailTemplate.objects.get_or_create(name=name, defaults=fields)
    segments = {s.slug: s for s in Segment.objects.filter(slug__in=["new-customers", "at-risk"])}
    audience, _ = Segment.objects.get_or_create(slug=AUDIENCE, defaults={
        "name": "Win-back: high value, no order (Meta)", "kind": Segment.Kind.JOURNEY})
    AudienceSync.objects.get_or_create(segment=audience, platform="meta")
    welcome = Journey.objects.create(
        slug=WELCOME, name="Welcome series", entry_segment=segments["new-customers"], exit_on_conversion=True,
        holdout_percent=HOLDOUT, definition={"start": "welcome-1", "steps": [
            {"id": "welcome-1", "kind": "email", "template": _template("Welcome").name, "next": "wait-2d"},
            {"id": "wait-2d", "kind": "wait", "days": 2, "next": "welcome-2"},
            {"id": "welcome-2", "kind": "email", "template": "Welcome 2: our favourites", "next": "wait-5d"},
            {"id": "wait-5d", "kind": "wait", "days": 5, "next": "welcome-3"},
            {"id": "welcome-3", "kind": "email", "template": "Welcome 3: 10% off the next order"},
        ]})
    win_back = Journey.objects.create(
        slug=WIN_BACK, name="Win-back journey", entry_segment=segments["at-risk"], exit_on_conversion=False,
        reentry=Journey.Reentry.AFTER_DAYS, reentry_days=90, holdout_percent=HOLDOUT,
        definition={"start": "miss-you", "steps": [
            {"id": "miss-you", "kind": "email", "template": _template("Win-back").name, "next": "order-5d"},
            {"id": "order-5d", "kind": "wait_event", "event": "order", "timeout_days": 5, "happened": "back",
             "timed_out": "high-value"},
            {"id": "back", "kind": "exit"},
            {"id": "high-value", "kind": "condition",
             "rule": {"field": "predicted_clv", "op": ">", "value": HIGH_VALUE},
             "yes": "offer", "no": "let-go"},
            {"id": "offer", "kind": "email", "template": "Win-back offer", "next": "meta"},
            {"id": "meta", "kind": "audience", "action": "add", "segment": AUDIENCE},
            {"id": "let-go", "kind": "exit"},
        ]})
    activate(welcome)
    activate(win_back)
    return [welcome.slug, win_back.slug]


def run_on_history(seed=1):
    """Enter and run both journeys over the last DAYS days of the history; returns positions per journey."""
    last = Purchase.objects.aggregate(last=Max("purchased_at"))["last"]
    journeys = {j.slug: j for j in Journey.objects.filter(slug__in=[WELCOME, WIN_BACK]).select_related("live_version")}
    if last is None or len(journeys) < 2 or Position.objects.filter(journey__in=journeys.values()).exists():
        return None
    start = (last - dt.timedelta(days=DAYS)).replace(hour=4, minute=0, second=0, microsecond=0)
    rng = random.Random(seed)
    entries = _entries(start, last)
    seen_runs = 0
    with override_settings(CRM_EMAIL_CAP_COUNT=0):
        moment = start
        while moment <= last:
            for slug, day_clients in entries.items():
                ids = day_clients.pop(moment.date(), [])
                if ids:
                    enter(journeys[slug], ids, f"demo-{moment.date()}", now=moment)
            run_due(now=moment, max_seconds=600)
            seen_runs = _simulate_effect(moment, seen_runs, rng)
            moment += dt.timedelta(hours=6)
    return {slug: j.positions.count() for slug, j in journeys.items()}


def _entries(start, last):
    """{journey slug: {day: client ids}}: new customers on the day after their first order; lapsing
    customers (last order 90 to 240 days before) once, on the day their gap reached 90 days."""
    welcome, win_back = {}, {}
    firsts = (Client.objects.annotate(first=Min("purchases__purchased_at",
                                                filter=Q(purchases__status=Purchase.Status.COMPLETED)))
              .filter(first__gte=start, first__lt=last - dt.timedelta(days=1)).values_list("pk", "first"))
    for pk, first in firsts:
        welcome.setdefault((first + dt.timedelta(days=1)).date(), []).append(pk)
    lapsing = (Client.objects.annotate(last_order=Max("purchases__purchased_at",
                                                      filter=Q(purchases__purchased_at__lt=start)))
               .filter(last_order__lt=start - dt.timedelta(days=90 - DAYS // 2),
                       last_order__gte=start - dt.timedelta(days=240)).values_list("pk", "last_order"))
    for pk, last_order in lapsing:
        day = max(start, last_order + dt.timedelta(days=90))
        if day < last - dt.timedelta(days=6):
            win_back.setdefault(day.date(), []).append(pk)
    return {WELCOME: welcome, WIN_BACK: win_back}


def _simulate_effect(moment, seen, rng):
    """Some of the clients emailed since the last call order within days (at their own average)."""
    emailed = list(StepRun.objects.filter(delivery__isnull=False, pk__gt=seen).order_by("pk")
                   .values_list("pk", "position__client_id"))
    if not emailed:
        return seen
    buyers = [client for _pk, client in emailed if rng.random() < EXTRA_ORDER]
    averages = dict(Client.objects.filter(pk__in=buyers).annotate(avg=Avg("purchases__amount"))
                    .values_list("pk", "avg"))
    Purchase.objects.bulk_create(
        [Purchase(external_id=f"DEMO-J-{pk}-{client}", client_id=client, amount=(
            Decimal(averages.get(client) or 50) * Decimal(rng.uniform(0.6, 1.4))).quantize(Decimal("0.01")),
            purchased_at=moment + dt.timedelta(hours=rng.uniform(2, 72)))
         for pk, client in emailed if client in set(buyers)], ignore_conflicts=True)
    return emailed[-1][0]
