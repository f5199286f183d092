"""Who enters a journey, and when: set-based, one row per entrant, idempotent per entry key.

- On entering a segment: the night's entrants (`SegmentMembership.entered_run`), after each
  successful run; and, for a rule segment, clients that data arriving by the API puts in it between
  nights (`events.data_arrived`).
- On an event (an order, a first order, an activity of a kind) arriving by the API: `events`.
- On a date: N days before the predicted next order, before loyalty points expire, before a birthday;
  once a day, after the night.
- By hand: the entry segment's members now (the admin's "Enter the segment now").

`enter` applies the re-entry rule (never again, or after N days), keeps a client in at most one live
position per journey (a unique index) and draws the journey's holdout with mailing's deterministic
hash: held-out entrants get a position in state "holdout" that never gets a step, so the results
compare the two groups.
"""

import datetime as dt
import logging

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from crm.models import Client
from loyalty.models import PointsEntry
from mailing.recipients import in_holdout
from segments.models import ClientScore, ScoringRun, SegmentMembership

from .models import Journey, Position

log = logging.getLogger(__name__)
CHUNK = 5000


def enter(journey, client_ids, entry_key, now=None):
    """Put these clients at the start of the journey's live version; returns (entered, held out)."""
    now = now or timezone.now()
    version = journey.live_version
    if journey.state != Journey.State.ACTIVE or version is None:
        return 0, 0
    start = version.definition["start"]
    client_ids = sorted(set(client_ids))
    entered = held = 0
    for first in range(0, len(client_ids), CHUNK):
        chunk = client_ids[first:first + CHUNK]
        earlier = Position.objects.filter(journey=journey, client_id=OuterRef("client_id"))
        if journey.reentry == Journey.Reentry.AFTER_DAYS and journey.reentry_days:
            earlier = earlier.filter(Q(state__in=Position.LIVE_STATES)
                                     | Q(entered_at__gt=now - dt.timedelta(days=journey.reentry_days)))
        blocked = set(Position.objects.filter(journey=journey, client_id__in=chunk)
                      .filter(Exists(earlier)).values_list("client_id", flat=True))
        rows = []
        for client_id in chunk:
            if client_id in blocked:
                continue
            if in_holdout(f"journey-{journey.pk}", client_id, journey.holdout_percent):
                rows.append(Position(journey=journey, version=version, client_id=client_id, entry_key=entry_key,
                                     state=Position.State.HOLDOUT, reason=Position.Reason.HOLDOUT, entered_at=now,
                                     finished_at=now))
                held += 1
            else:
                rows.append(Position(journey=journey, version=version, client_id=client_id, entry_key=entry_key,
                                     step=start, due_at=now, entered_at=now))
                entered += 1
        # A client already live in the journey, or already entered by this key, is skipped by the indexes.
        Position.objects.bulk_create(rows, ignore_conflicts=True)
    if entered or held:
        log.info("journey %s: %d entered, %d held out (%s)", journey.slug, entered, held, entry_key)
    return entered, held


def enter_segment_entrants(run_id):
    """After a successful night: each active journey entered on a segment takes that run's entrants."""
    run = ScoringRun.objects.filter(pk=run_id, status=ScoringRun.Status.SUCCEEDED).first()
    if run is None or ScoringRun.objects.filter(status=ScoringRun.Status.SUCCEEDED, as_of__gt=run.as_of,
                                                pk__lt=run.pk).exists():
        return {}  # not a run, or a past night recomputed: its entrants are history, not news
    out = {}
    for journey in Journey.objects.active().filter(entry=Journey.Entry.SEGMENT).select_related("live_version"):
        ids = SegmentMembership.objects.filter(segment_id=journey.entry_segment_id, entered_run=run).values_list(
            "client_id", flat=True)
        out[journey.slug] = enter(journey, list(ids), f"run-{run.pk}")
    return out


def enter_by_date(today=None):
    """Once a day: the journeys entered on a date take the clients whose date is N days ahead."""
    today = today or timezone.localdate()
    out = {}
    for journey in Journey.objects.active().filter(entry=Journey.Entry.DATE).select_related("live_version"):
        ids = clients_on_date(journey.entry_date, today, journey.entry_days)
        out[journey.slug] = enter(journey, list(ids), f"date-{today}")
    return out


def clients_on_date(kind, today, days):
    """The clients whose date is `days` ahead of today; for the next order, due within `days` (as the
    campaign schedule: a date that moves between nights is not missed; the re-entry rule keeps a
    client from entering again each day)."""
    if kind == Journey.DateKind.NEXT_ORDER:
        return ClientScore.objects.current().next_order_due(today, days).values_list("client_id", flat=True)
    day = today + dt.timedelta(days=days)
    if kind == Journey.DateKind.POINTS_EXPIRE:
        return (PointsEntry.objects.filter(expires_on=day, points__gt=0).order_by()
                .values_list("client_id", flat=True).distinct())
    return Client.objects.filter(birth_date__month=day.month, birth_date__day=day.day,
                                 erased_at__isnull=True).values_list("pk", flat=True)


def enter_segment_now(journey, now=None):
    """By hand: every current member of the entry segment (once per minute at most: the key)."""
    now = now or timezone.now()
    ids = SegmentMembership.objects.filter(segment_id=journey.entry_segment_id, left_at__isnull=True).values_list(
        "client_id", flat=True)
    return enter(journey, list(ids), f"manual-{now:%Y%m%dT%H%M}", now=now)
