"""Per-client aggregates as of several points in time: the shop's rows read once, the aggregates
computed in numpy.

Buys: the aggregates at every point the night needs for the price of one read of the shop (bench/segmentation.py).

`load` reads every completed order (client, time, amount) and every activity event (client, time)
before a point in time, once, as plain rows (core/scan.py: arrays that numpy reads without a Python
object per value). `Events.at` then gives, per client, the aggregates below at any number of points
and what each client bought in given windows, for every client or for an evenly spread sample of
them. The nightly run loads once and asks twice: the as-of time for every client, then the past
cut-offs the models learn from for a sample.

Why not GROUP BY in SQL: the run needs the aggregates at nine points. With a FILTER aggregate per
point and measure the database's work grew with every point, and reading the past points apart,
for a sample of clients, took a second scan of the table. Reading the rows once and computing
every point in numpy costs less than the as-of aggregate alone did.

The aggregates at a point (`Events.at`), a dict of numpy arrays aligned with the clients; the
models' features are built from them (segments/features.py), and tests/segments/oracles.py holds
the plain reference they are checked against:

    frequency      int64    completed orders before the cut-off
    monetary       float64  their total amount
    first_days     float64  days from the first order to the cut-off (NaN if no orders)
    last_days      float64  days from the last order to the cut-off = recency (NaN if no orders)
    activity_30    int64    activity events in the 30 days before the cut-off
    activity_90    int64    activity events in the 90 days before the cut-off
    activity_days  float64  days from the last activity to the cut-off (NaN if none)
    age_days       float64  days from when the client was first seen to the cut-off: the earliest of
                            first_seen (if before the cut-off), first order and first activity
                            (NaN if none of these exists)
    visits_30, visits_90, visit_seconds, bounce_rate, visit_gap_days, visit_conversion
                            the visit measures (segments/visits.py)

Times travel as integer microseconds since 1970-01-01 UTC, so "before the cut-off" compares exactly
what the database stores; they become float days since then (the unit of the aggregates) only in
the results.

"As of" is strict: a point in time `cut` sees only rows with time < cut, so the run for a day
sees that whole day and nothing after it.
"""

import datetime as dt
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from core import pgcopy, scan
from core.sql import execute, set_local, start_of, table
from crm.models import Activity, Client, Purchase

from . import visits

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
AGGREGATE = "segments_aggregate"  # the temporary table of per_client


def cut_time(as_of):
    """The first instant after the as-of day in TIME_ZONE: a night (and whatever is computed as of
    that day: scores, points, dashboards) sees what happened before it."""
    return start_of(as_of + dt.timedelta(days=1))


def epoch_days(moment):
    """An aware datetime as float days since 1970-01-01 UTC: the time unit of the aggregates."""
    return (moment - EPOCH).total_seconds() / 86400


def micros(days):
    """A point in epoch days as integer microseconds since 1970, rounded as a datetime would be."""
    return (dt.timedelta(days=float(days)) // dt.timedelta(microseconds=1))


def _days(us):
    """Microseconds since 1970 (int64 array) as float epoch days (NaN for none: int64 max)."""
    with np.errstate(invalid="ignore"):
        return np.where(us == pgcopy.INFINITY_TIME, np.nan, (us / 1e6) / 86400.0)


def _when(days):
    """A point in epoch days as the database compares it with a timestamp column."""
    return connection.ops.adapt_datetimefield_value(EPOCH + dt.timedelta(days=float(days)))


def placer(ids):
    """place(out, client_ids, values): rows of `values` into `out` at the positions of their
    clients in `ids`. Clients not in `ids` (first seen after the as-of day, though with older
    orders, e.g. a guest checkout before sign-up) are dropped, never put on a neighbour's row."""
    position = _positions(ids)

    def place(out, client_ids, values):
        at, values = _of_clients(position, client_ids.astype(np.int64), values)
        out[at] = values

    return place


# Client ids are a sequence, nearly dense: up to this many table slots per client, a position is
# one look-up in a table indexed by id (0.08 s for 10,000,000 rows, where a binary search of the
# sorted ids took 2.6 s: most of the night's read once the rows are in memory).
DENSE_SLOTS = 4


def _positions(ids):
    """position(client_ids): each id's index in the sorted `ids`, -1 for an id not there."""
    if ids.size == 0:
        return lambda client_ids: np.full(len(client_ids), -1)
    top = int(ids[-1])
    if ids[0] >= 0 and top < DENSE_SLOTS * ids.size + 1_000_000:
        table = np.full(top + 2, -1)  # the last slot, -1, answers every id outside 0..top
        table[ids] = np.arange(ids.size)
        return lambda client_ids: table[np.clip(client_ids, -1, top + 1)]

    def position(client_ids):
        at = np.searchsorted(ids, client_ids)
        return np.where(ids[np.minimum(at, ids.size - 1)] == client_ids, at, -1)

    return position


def _of_clients(position, client_ids, *columns):
    """[positions, *columns] of the rows whose client is in `ids` (see _positions); the columns
    themselves, not copies, when every row's client is (as nearly always)."""
    at = position(client_ids)
    known = at >= 0
    if known.all():
        return [at, *columns]
    return [at[known], *(c[known] for c in columns)]


def per_client(sql, params, width, n, place):
    """Run an aggregate query (first column client id, then `width` numbers) into an (n, width)
    float array, NaN where a client has no row or a value is NULL; `place` from placer(ids). The
    aggregate runs as CREATE TEMP TABLE ... AS, which may use parallel workers (a COPY of a query
    may not)."""
    out = np.full((n, width), np.nan)
    columns = ["client_id", *(f"COALESCE(CAST(c{i} AS DOUBLE PRECISION), 'NaN')" for i in range(width))]
    kinds = ["id", *["float"] * width]
    with transaction.atomic():
        set_local("work_mem", settings.CRM_NIGHTLY_WORK_MEM)
        execute(f"DROP TABLE IF EXISTS {AGGREGATE}")
        execute(f"CREATE TEMPORARY TABLE {AGGREGATE} ON COMMIT DROP AS {sql}", params)
        client_id, *values = scan.read(AGGREGATE, columns, "TRUE", (), kinds)
    place(out, client_id, np.column_stack(values))
    return out


def client_ids(as_of_cut):
    """Clients known at the as-of time (first seen before it, or with no first-seen date), sorted,
    and when each was first seen (epoch days, NaN if unknown)."""
    ids, seen = scan.read(table(Client), ["id", "COALESCE(first_seen, 'infinity')"],
                           "first_seen IS NULL OR first_seen < %s", [_when(as_of_cut)], ["id", "time"])
    order = np.argsort(ids, kind="stable")
    return ids[order], _days(seen[order])


@dataclass
class Events:
    """The rows `load` read: completed orders and activity, client as a position in `ids`."""

    ids: np.ndarray
    first_seen: np.ndarray  # epoch days per client, NaN if unknown
    until: int  # microseconds: rows from here on were not read
    order_client: np.ndarray
    order_time: np.ndarray  # microseconds since 1970
    order_amount: np.ndarray
    trail: visits.Trail  # every activity row: its client and time are the activity aggregates' events

    def at(self, points, windows=(), *, step=1):
        """Aggregates at each point, and per window (start, end, what) the orders or revenue in it.

        points: cut times in epoch days; windows: [(start, end, "orders" | "revenue")], start < end.
        step: only every step-th client (by position: ids[::step]) is aggregated, for a sample.
        Returns ([aggregates dict per point], [array per window]), aligned with ids[::step].
        """
        if micros(max([*points, *(stop for _, stop, _ in windows)], default=0)) > self.until:
            raise ValueError("a point or window ends after the rows that were read")
        n = -(-self.ids.size // step)
        orders = self._sample(step, self.order_client, self.order_time, self.order_amount)
        trail = self.trail.sample(step)
        events = (trail.client, trail.occurred)
        first_order = _extreme(np.minimum, orders[0], orders[1], n)
        first_event = _extreme(np.minimum, events[0], events[1], n)
        first_seen = self.first_seen[::step]
        result = [_aggregates(orders, events, micros(p), p, n, first_order, first_event, first_seen)
                  | visits.measures(trail, orders[0], orders[1], micros(p), n, settings.CRM_SESSION_GAP_MINUTES,
                                    settings.CRM_BOUNCE_SECONDS)
                  for p in points]
        window_values = []
        for start, stop, what in windows:
            client, time, amount = orders
            inside = (time >= micros(start)) & (time < micros(stop))
            weights = amount[inside] if what == "revenue" else None
            window_values.append(np.bincount(client[inside], weights=weights, minlength=n).astype(np.float64))
        return result, window_values

    @staticmethod
    def _sample(step, client, *columns):
        if step == 1:
            return (client, *columns)
        kept = client % step == 0
        return (client[kept] // step, *(c[kept] for c in columns))


def _extreme(ufunc, client, time, n):
    """Per client the min (or max) time in microseconds; the identity's opposite where none."""
    out = np.full(n, np.iinfo(np.int64).max if ufunc is np.minimum else np.iinfo(np.int64).min, dtype=np.int64)
    ufunc.at(out, client, time)  # numpy >= 1.25 runs ufunc.at on a fast path
    return out


def _aggregates(orders, events, cut, p, n, first_order, first_event, first_seen):
    """The aggregate contract at one point (cut in microseconds, p the same in epoch days)."""
    client, time, amount = orders
    before = time < cut
    client, time, amount = client[before], time[before], amount[before]
    frequency = np.bincount(client, minlength=n).astype(np.int64)
    has_orders = frequency > 0
    monetary = np.bincount(client, weights=amount, minlength=n)
    first_time = np.where(has_orders, _days(first_order), np.nan)
    last_time = np.where(has_orders, _days(_extreme(np.maximum, client, time, n)), np.nan)

    client, time = events
    before = time < cut
    client, time = client[before], time[before]
    recent = {days: np.bincount(client[time >= micros(p - days)], minlength=n).astype(np.int64) for days in (30, 90)}
    last_event = _extreme(np.maximum, client, time, n)
    active = last_event != np.iinfo(np.int64).min
    last_event = np.where(active, _days(last_event), np.nan)

    seen = np.where(np.isfinite(first_seen) & (first_seen < p), first_seen, np.nan)
    earliest = np.fmin(np.fmin(seen, first_time), np.where(active, _days(first_event), np.nan))
    return {
        "frequency": frequency,
        "monetary": np.where(has_orders, monetary, 0.0),
        "first_days": p - first_time,
        "last_days": p - last_time,
        "activity_30": recent[30],
        "activity_90": recent[90],
        "activity_days": p - last_event,
        "age_days": p - earliest,
        # Not part of the model contract: the pipeline stores the dates of first and last order.
        "first_time": first_time,
        "last_time": last_time,
    }


def load(ids, first_seen, until):
    """Completed orders and activity events of the clients `ids` (sorted, as client_ids returns
    them) before `until` (epoch days), with first_seen per client: the input of Events.at."""
    position = _positions(ids)
    params = [_when(until)]
    orders = _of_clients(position, *scan.read(
        table(Purchase), ["client_id", "purchased_at", "CAST(amount AS DOUBLE PRECISION)"],
        "status = 'completed' AND purchased_at < %s", params, ["id", "time", "float"]))
    events = _of_clients(position, *scan.read(table(Activity), ["client_id", "occurred_at", *_VISIT_COLUMNS],
                                              "occurred_at < %s", params, ["id", "time", "time", "float", "float",
                                                                           "float"]))
    return Events(ids, first_seen, micros(until), *orders, visits.Trail.sorted(events))


# A visit's start, duration, pages and code (visits.Trail): columns PostgreSQL keeps from the
# session's properties (crm/session_properties.py).
_VISIT_COLUMNS = ["COALESCE(visit_start, occurred_at)", "COALESCE(visit_seconds, 'NaN')",
                  "COALESCE(visit_pages, 'NaN')", "CAST(visit_code AS double precision)"]
