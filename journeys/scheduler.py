"""The scheduler's pass: claim the due positions in chunks and do their steps, at most once each.

Every few seconds (Celery beat, `tasks.run_due_positions`) a pass takes the positions whose `due_at`
has come, CRM_JOURNEY_CHUNK at a time, with `SELECT ... FOR UPDATE SKIP LOCKED` through the partial
index on waiting rows: its cost follows the due rows, never the waiting ones, and two passes at once
take different rows. A chunk is ONE transaction: the exit rules are checked for the chunk in a few
set-based queries, then each position goes from step to step (a chunk's positions at the same step
together) until it waits, ends or exits. What every step did (a StepRun row, unique per position and
number in its path), its effect (a delivery row for mailing's sending, a membership, a points entry)
and the position's move commit together or not at all. A worker killed mid-chunk leaves nothing of
it: PostgreSQL rolls the transaction back when the connection drops, the row locks go with it, and
the next pass does the chunk again. So no client gets a step twice and none is lost; nothing is kept
in Redis, which only carries the pass's tick (a Redis restart loses a tick, the next one comes).

Emails. An email step writes the delivery row (pending) in the chunk's transaction and queues it
through mailing's `queue_pending` (published on commit); mailing's sending claims it at most once,
applies consent, suppression, the frequency cap and quiet hours, and its repair job queues again a
batch lost with the broker. The occurrence is `p<position>-<number>`, unique per step done.

Webhooks are the one effect outside the database: see `webhooks`. A position at a webhook step is
marked running with a lease in the chunk's transaction and called after the commit.
"""

import hashlib
import logging
import time
import uuid
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, Max, OuterRef, Q
from django.utils import timezone

from crm.models import Activity, Client, Purchase
from loyalty.models import PointsEntry
from mailing.launch import queue_pending
from mailing.models import Delivery
from mailing.recipients import pick_variant
from mailing.timing import send_not_before
from segments.models import ClientScore, Segment, SegmentMembership
from segments.rules import to_q

from .models import Journey, JourneyEmail, Position, StepRun
from .waits import wait_until

log = logging.getLogger(__name__)
# Steps one position may take in one pass without waiting (a definition has no loop without a wait).
MAX_CHAIN = 100


def run_due(now=None, max_seconds=50):
    """Passes over the due positions until none is left (or `max_seconds`); returns counts."""
    from . import webhooks

    started = time.monotonic()
    totals = defaultdict(int)
    while time.monotonic() - started < max_seconds:
        counts, calls = run_chunk(now)
        for key, value in counts.items():
            totals[key] += value
        if calls:
            webhooks.call_all(calls)
        if not counts.get("claimed"):
            break
    return dict(totals)


def run_chunk(now=None, size=None):
    """Claim up to `size` due positions and do their steps in one transaction; returns (counts, webhook
    calls to make after the commit)."""
    now = now or timezone.now()
    size = size or settings.CRM_JOURNEY_CHUNK
    journeys = {j.pk: j for j in Journey.objects.filter(state__in=(Journey.State.ACTIVE, Journey.State.STOPPED))}
    with transaction.atomic():
        positions = list(Position.objects.due(now).filter(journey_id__in=list(journeys))
                         .select_for_update(skip_locked=True).order_by("due_at")
                         .select_related("version")[:size])
        if not positions:
            return {"claimed": 0}, []
        chunk = Chunk(positions, journeys, now)
        chunk.run()
        chunk.write()
    return chunk.counts, chunk.calls


class Chunk:
    """The positions of one claim, moved step by step in memory, then written in bulk."""

    def __init__(self, positions, journeys, now):
        self.positions, self.journeys, self.now = positions, journeys, now
        self.runs, self.deliveries, self.calls = [], [], []
        self.counts = defaultdict(int, claimed=len(positions))
        self.token = uuid.uuid4().hex

    # --- the pass -------------------------------------------------------------------------------

    def run(self):
        moving = self._after_exits(self.positions)
        for _ in range(MAX_CHAIN):
            if not moving:
                break
            groups = defaultdict(list)
            for position in moving:
                groups[(position.version_id, position.step)].append(position)
            moving = []
            for (_version, sid), group in groups.items():
                step = self._steps(group[0].version).get(sid)
                if step is None:  # the end of a branch: nothing after it
                    for position in group:
                        self._finish(position, Position.State.DONE, Position.Reason.END)
                    continue
                moving += getattr(self, f"_do_{step['kind']}")(step, group)
        for position in moving:  # a chain longer than MAX_CHAIN goes on at the next pass
            position.due_at = self.now

    def _steps(self, version):
        if not hasattr(version, "_steps"):
            version._steps = {s["id"]: s for s in version.definition["steps"]}
        return version._steps

    def _after_exits(self, positions):
        """The positions left after the journeys' exit rules (and a stopped journey) took theirs."""
        ids = [p.client_id for p in positions]
        gone = set(Client.objects.filter(Q(unsubscribed_at__isnull=False) | Q(erased_at__isnull=False), pk__in=ids)
                   .values_list("pk", flat=True))
        last_order = dict(Purchase.objects.filter(client_id__in=ids, status=Purchase.Status.COMPLETED,
                                                  purchased_at__lte=self.now).order_by()
                          .values("client_id").annotate(last=Max("purchased_at")).values_list("client_id", "last"))
        segments = {j.entry_segment_id for j in self.journeys.values() if j.exit_on_leaving_segment}
        members = set(SegmentMembership.objects.filter(client_id__in=ids, segment_id__in=segments,
                                                       left_at__isnull=True).values_list("segment_id", "client_id"))
        left = []
        for position in positions:
            journey = self.journeys[position.journey_id]
            if journey.state == Journey.State.STOPPED:
                self._finish(position, Position.State.EXITED, Position.Reason.STOPPED)
            elif journey.exit_on_unsubscribe and position.client_id in gone:
                self._finish(position, Position.State.EXITED, Position.Reason.UNSUBSCRIBED)
            elif journey.exit_on_conversion and (last_order.get(position.client_id) or position.entered_at) \
                    > position.entered_at:
                self._finish(position, Position.State.EXITED, Position.Reason.CONVERTED)
            elif journey.exit_on_leaving_segment and (journey.entry_segment_id, position.client_id) not in members:
                self._finish(position, Position.State.EXITED, Position.Reason.LEFT_SEGMENT)
            else:
                left.append(position)
        return left

    # --- moves ----------------------------------------------------------------------------------

    def _done(self, position, step, outcome, target, delivery_key=None, **detail):
        """Record the step done and point the position at `target` (None: the journey ends there)."""
        position.steps_done += 1
        run = StepRun(position=position, step=step["id"], seq=position.steps_done, outcome=outcome,
                      done_at=self.now, detail=detail)
        run.delivery_key = delivery_key
        self.runs.append(run)
        position.step = target or ""
        position.attempts = 0
        self.counts[step["kind"]] += 1
        if target is None:
            self._finish(position, Position.State.DONE, Position.Reason.END)
            return []
        return [position]

    def _finish(self, position, state, reason, error=""):
        position.state, position.reason, position.error = state, reason, error
        position.due_at, position.finished_at = None, self.now
        self.counts[reason] += 1

    def _wait(self, position, due_at):
        position.due_at = due_at

    # --- the steps (each takes the group of positions at it, returns those that go on now) -------

    def _do_email(self, step, group):
        email = JourneyEmail.objects.select_related("campaign__template").get(version_id=group[0].version_id,
                                                                             step=step["id"])
        campaign = email.campaign
        version = campaign.template.current_version()
        variants = list(campaign.variants.select_related("template").order_by("pk"))
        versions = {v.pk: v.template.current_version() if v.template_id else version for v in variants}
        weights = [(v.pk, v.weight) for v in variants]
        addresses = dict(Client.objects.filter(pk__in=[p.client_id for p in group]).values_list("pk", "email"))
        not_before = send_not_before(self.now)
        going = []
        for position in group:
            occurrence = f"p{position.pk}-{position.steps_done + 1}"
            variant = pick_variant(campaign.pk, position.client_id, weights)
            self.deliveries.append(Delivery(
                campaign=campaign, client_id=position.client_id, occurrence=occurrence,
                email=(addresses.get(position.client_id) or "").strip(), variant_id=variant,
                template_version=versions.get(variant, version), not_before=not_before))
            going += self._done(position, step, "next", step.get("next"), delivery_key=(campaign.pk, occurrence))
        return going

    def _do_wait(self, step, group):
        due = self.now + timedelta(days=step.get("days") or 0, hours=step.get("hours") or 0)
        for position in group:
            if self._done(position, step, "next", step.get("next")):
                self._wait(position, due)
        return []

    def _do_wait_until(self, step, group):
        due = wait_until(self.now, step["weekday"], step["hour"])
        for position in group:
            if self._done(position, step, "next", step.get("next")):
                self._wait(position, due)
        return []

    def _do_wait_event(self, step, group):
        """First arrival: wait until the timeout (the event's arrival brings the position forward).
        Then: did the event happen since the wait began? "happened", else at the timeout "timed out"."""
        timeout = timedelta(days=step["timeout_days"])
        arriving = [p for p in group if p.waiting_since is None]
        for position in arriving:
            position.waiting_since = self.now
            self._wait(position, self.now + timeout)
        waited = [p for p in group if p.waiting_since is not None and p not in arriving]
        happened = events_since(step, waited, self.now)
        going = []
        for position in waited:
            if position.pk in happened:
                outcome = "happened"
            elif self.now >= position.waiting_since + timeout:
                outcome = "timed_out"
            else:  # brought forward by an event that was not the one awaited: wait on
                self._wait(position, position.waiting_since + timeout)
                continue
            position.waiting_since = None
            going += self._done(position, step, outcome, step.get(outcome))
        return going

    def _do_condition(self, step, group):
        """yes when the client matches the rule (last night's scores, their fields now) and what the
        condition asks of this journey happened (their email of a step sent, opened or clicked)."""
        ids = [p.client_id for p in group]
        matching = set(ids)
        if "rule" in step:
            matching &= set(ClientScore.objects.current().filter(client_id__in=ids).filter(to_q(step["rule"]))
                            .values_list("client_id", flat=True))
        if "journey" in step:
            matching &= {p.client_id for p in group if p.pk in happened_in_journey(step["journey"], group)}
        going = []
        for position in group:
            outcome = "yes" if position.client_id in matching else "no"
            going += self._done(position, step, outcome, step.get(outcome))
        return going

    def _do_split(self, step, group):
        going = []
        for position in group:
            point = split_point(position.pk, step["id"])
            total = 0
            for n, branch in enumerate(step["branches"]):
                total += branch["percent"]
                if point < total or n == len(step["branches"]) - 1:
                    going += self._done(position, step, f"{branch['percent']}%#{n + 1}", branch.get("next"))
                    break
        return going

    def _do_audience(self, step, group):
        segment = Segment.objects.get(slug=step["segment"], kind=Segment.Kind.JOURNEY)
        ids = [p.client_id for p in group]
        today = timezone.localdate(self.now)
        open_rows = SegmentMembership.objects.filter(segment=segment, client_id__in=ids, left_at__isnull=True)
        if step["action"] == "add":
            inside = set(open_rows.values_list("client_id", flat=True))
            SegmentMembership.objects.bulk_create(
                SegmentMembership(segment=segment, client_id=c, entered_at=today) for c in set(ids) - inside)
        else:
            open_rows.update(left_at=today)
        Segment.objects.filter(pk=segment.pk).update(
            size=SegmentMembership.objects.filter(segment=segment, left_at__isnull=True).count())
        return [g for p in group for g in self._done(p, step, "next", step.get("next"))]

    def _do_points(self, step, group):
        day = timezone.localdate(self.now)
        reason = step.get("reason") or f"journey step {step['id']}"
        PointsEntry.objects.bulk_create(
            PointsEntry(client_id=p.client_id, kind=PointsEntry.Kind.ADJUSTED, points=step["points"],
                        reason=reason[:255], day=day) for p in group)
        return [g for p in group for g in self._done(p, step, "next", step.get("next"))]

    def _do_webhook(self, step, group):
        """Held for the call after the commit (`webhooks.call_all`), which records the step."""
        for position in group:
            position.state = Position.State.RUNNING
            position.claim_token = self.token
            position.lease_until = self.now + timedelta(seconds=settings.CRM_JOURNEY_LEASE_SECONDS)
            self.calls.append((position.pk, self.token))
        return []

    def _do_exit(self, step, group):
        for position in group:
            self._done(position, step, "exit", None)
            position.reason, position.state = Position.Reason.EXIT_STEP, Position.State.EXITED
        return []

    # --- writing --------------------------------------------------------------------------------

    def write(self):
        if self.deliveries:
            # No conflict is possible: the occurrence names the position and its step number, and this
            # transaction holds the position. (Were one to happen, the chunk would roll back whole.)
            Delivery.objects.bulk_create(self.deliveries)
            by_key = {(d.campaign_id, d.occurrence): d.pk for d in self.deliveries}
            for run in self.runs:
                if run.delivery_key:
                    run.delivery_id = by_key[run.delivery_key]
            queue_pending(Delivery.objects.filter(pk__in=list(by_key.values())))
        # Unique (position, number): a step is recorded (and so done) at most once.
        StepRun.objects.bulk_create(self.runs)
        update_positions(self.positions)


# (column, PostgreSQL array type) a chunk writes back to its positions.
MOVED = (("state", "text"), ("reason", "text"), ("error", "text"), ("step", "text"), ("due_at", "timestamptz"),
         ("waiting_since", "timestamptz"), ("attempts", "int"), ("steps_done", "int"), ("claim_token", "text"),
         ("lease_until", "timestamptz"), ("finished_at", "timestamptz"))


def update_positions(positions):
    """Write the chunk's positions back in ONE `UPDATE ... FROM unnest(arrays)`: Django's bulk_update
    builds a CASE per field and row, which took most of a pass's time (bench/journeys.py)."""
    table = Position._meta.db_table
    columns = ", ".join(f"{name} = v.{name}" for name, _kind in MOVED)
    arrays = ", ".join(f"%s::{kind}[]" for _name, kind in (("id", "bigint"), *MOVED))
    names = ", ".join(["id", *(name for name, _kind in MOVED)])
    values = [[p.pk for p in positions], *([getattr(p, name) for p in positions] for name, _kind in MOVED)]
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} p SET {columns} FROM unnest({arrays}) AS v({names}) WHERE p.id = v.id",
                       values)


def split_point(position_id, step_id):
    """0..99, deterministic per position and step: the same client takes the same branch on a rerun."""
    digest = hashlib.sha256(f"split:{position_id}:{step_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def events_since(step, positions, now):
    """Ids of the positions whose client did the awaited thing since their wait began."""
    if not positions:
        return set()
    since = {p.client_id: p.waiting_since for p in positions}
    oldest = min(since.values())
    event = step["event"]
    if event == "order":
        rows = Purchase.objects.filter(client_id__in=since, status=Purchase.Status.COMPLETED,
                                       purchased_at__gte=oldest).values_list("client_id", "purchased_at")
    elif event == "activity":
        rows = Activity.objects.filter(client_id__in=since, kind=step["activity_kind"],
                                       occurred_at__gte=oldest).values_list("client_id", "occurred_at")
    else:
        field = "opened_at" if event == "open" else "clicked_at"
        rows = Delivery.objects.filter(client_id__in=since, **{f"{field}__gte": oldest}).values_list("client_id", field)
    done = {client for client, at in rows if since[client] <= at <= now}
    return {p.pk for p in positions if p.client_id in done}


def happened_in_journey(asked, positions):
    """Ids of the positions whose email of step `asked["step"]` was sent, opened or clicked."""
    flag = {"sent": "delivery__sent_at", "opened": "delivery__opened_at", "clicked": "delivery__clicked_at"}
    found = StepRun.objects.filter(position__in=[p.pk for p in positions], step=asked["step"],
                                   **{f"{flag[asked['event']]}__isnull": False})
    if asked["event"] == "opened":  # a click proves an open the tracking pixel missed
        found = found | StepRun.objects.filter(position__in=[p.pk for p in positions], step=asked["step"],
                                               delivery__clicked_at__isnull=False)
    return set(found.values_list("position_id", flat=True))


def release_abandoned(now=None):
    """Positions a pass held (a webhook call) whose lease ran out: due again now. The call may or may
    not have reached the endpoint; it carries an idempotency key (see `webhooks`)."""
    now = now or timezone.now()
    return Position.objects.abandoned(now).update(state=Position.State.WAITING, due_at=now, claim_token="",
                                                  lease_until=None)


def exit_converted(client_ids, now=None):
    """Clients who just ordered leave the journeys that exit on conversion at once (set-based)."""
    now = now or timezone.now()
    bought = Purchase.objects.filter(client_id=OuterRef("client_id"), status=Purchase.Status.COMPLETED,
                                     purchased_at__gt=OuterRef("entered_at"))
    return (Position.objects.filter(client_id__in=client_ids, state=Position.State.WAITING,
                                    journey__exit_on_conversion=True).filter(Exists(bought))
            .update(state=Position.State.EXITED, reason=Position.Reason.CONVERTED, due_at=None, finished_at=now))


def bring_forward(client_ids, now=None):
    """Positions of these clients waiting for an event: due now, to see whether it is theirs."""
    now = now or timezone.now()
    return Position.objects.filter(client_id__in=client_ids, state=Position.State.WAITING,
                                   waiting_since__isnull=False).update(due_at=now)
