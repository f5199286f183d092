"""Per-client aggregates as of several points in time: the shop's rows read once, the aggregates
computed in numpy.

`load` reads every completed order (client, time, amount) and every activity event (client, time)
before a point in time, once, as plain rows (see _scan: arrays that numpy reads without a
Python object per value). `Events.at` then gives, per
client, the aggregates of the contract in segments/features.py at any number of points and what
each client bought in given windows, for every client or for an evenly spread sample of them. The
nightly run loads once and asks twice: the as-of time for every client, then the past cut-offs the
models learn from for a sample.

Why not GROUP BY in SQL: the run needs the aggregates at nine points. With a FILTER aggregate per
point and measure the database's work grew with every point, so the past points were read apart,
for a sample of clients, in a second scan of the table. Measured on 1M clients / 10M orders: the
as-of aggregate alone took 9.1 s and both reads at once 14.2 s; reading the rows takes 6.4 s, and
then the as-of point 0.3 s and the eight past ones for the sample 0.7 s of numpy.

Times travel as integer microseconds since 1970-01-01 UTC, so "before the cut" compares exactly
what the database stores; they become float days since then (the unit of the contract) only in
the results.

"As of" is strict: a point in time `cut` sees only rows with time < cut, so the run for a day
sees that whole day and nothing after it.
"""

import datetime as dt
import re
import struct
import zoneinfo
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from . import apart

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_PG_EPOCH_US = 946_684_800_000_000  # PostgreSQL's binary times count from 2000-01-01
_PG_INFINITY = np.iinfo(np.int64).max  # binary 'infinity' of timestamptz


def cut_time(as_of):
    """The first instant after the as-of day in TIME_ZONE: a night (and whatever is computed as of
    that day: scores, points, dashboards) sees what happened before it."""
    return dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), tzinfo=zoneinfo.ZoneInfo(settings.TIME_ZONE))


def epoch_days(moment):
    """An aware datetime as float days since 1970-01-01 UTC: the time unit of the aggregates."""
    return (moment - EPOCH).total_seconds() / 86400


def micros(days):
    """A point in epoch days as integer microseconds since 1970, rounded as a datetime would be."""
    return (dt.timedelta(days=float(days)) // dt.timedelta(microseconds=1))


def _days(us):
    """Microseconds since 1970 (int64 array) as float epoch days (NaN for none: int64 max)."""
    with np.errstate(invalid="ignore"):
        return np.where(us == _PG_INFINITY, np.nan, (us / 1e6) / 86400.0)


def _when(days):
    """A point in epoch days as the database compares it with a timestamp column."""
    return connection.ops.adapt_datetimefield_value(EPOCH + dt.timedelta(days=float(days)))


def _scan(table, columns, where, params, kinds):
    """The rows of `table` that match `where`, as one numpy array per column.

    columns: SQL expressions, none NULL (COALESCE them); kinds: "id", "time" or "float" for each.
    Times come back as microseconds since 1970 (binary timestamps count from 2000: shifted in numpy).

    The table is read a range of pages at a time (a TID range scan), each range's rows coming
    back as one row of arrays that numpy reads as they are: a COPY of the rows themselves costs a
    message, and Python's handling of it, per row. All ranges are read in one snapshot; where work
    may go apart and there are several ranges, two connections read alternate ones, the second in
    the snapshot the first exports (as pg_dump's parallel jobs share theirs)."""
    query = (table, columns, where, params, kinds)
    go_apart, outermost = apart.may_go_apart(), not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if outermost:  # every range in one snapshot (inside a caller's transaction, the caller's rules)
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        ranges = _page_ranges(cursor, table)
        if not go_apart or len(ranges) < 2:
            return _joined(kinds, _read_ranges(cursor, ranges, *query))
        cursor.execute("SELECT pg_export_snapshot()")
        (snapshot,) = cursor.fetchone()
        with ThreadPoolExecutor(1) as pool:
            theirs = pool.submit(apart.on_own_connection(_read_in_snapshot), snapshot, ranges[1::2], *query)
            read = [None] * len(ranges)
            read[0::2] = _read_ranges(cursor, ranges[0::2], *query)
            read[1::2] = theirs.result()
            # In page order, as one connection reads them: sums then add up in the same order,
            # so a night comes out the same to the last bit either way.
            return _joined(kinds, read)


def _read_in_snapshot(snapshot, ranges, *query):
    if not re.fullmatch(r"[0-9A-F-]+", snapshot):
        raise ValueError(f"unexpected snapshot id {snapshot!r}")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        return _read_ranges(cursor, ranges, *query)


def _page_ranges(cursor, table):
    """(first, stop) page numbers of SCAN_PAGES each; the last is open (stop None): pages added
    since the size was taken are read too."""
    cursor.execute("SELECT pg_relation_size(%s) / current_setting('block_size')::int", [table])
    (pages,) = cursor.fetchone()
    starts = range(0, pages + 1, SCAN_PAGES)
    return [(first, first + SCAN_PAGES if first + SCAN_PAGES <= pages else None) for first in starts]


def _read_ranges(cursor, ranges, table, columns, where, params, kinds):
    """Per range of pages, the matching rows' columns as arrays: [[array per column] per range]."""
    arrays = ", ".join(f"array_agg({c})" for c in columns)
    out = []
    for first, stop in ranges:
        upper = f"AND ctid < '({stop},0)'" if stop is not None else ""
        sql = f"SELECT {arrays} FROM {table} WHERE ctid >= '({first},0)' {upper} AND ({where})"
        with cursor.cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT binary)", params or None) as copy:
            data = b"".join(bytes(chunk) for chunk in copy)
        out.append(_binary_arrays(data, kinds))
    return out


def _joined(kinds, ranges):
    """One native-order array per column from the ranges' big-endian ones; times shifted to 1970."""
    out = []
    for i, kind in enumerate(kinds):
        values = np.concatenate([r[i] for r in ranges]).astype(np.float64 if kind == "float" else np.int64)
        if kind == "time":
            values[values != _PG_INFINITY] += _PG_EPOCH_US
        out.append(values)
    return out


SCAN_PAGES = 8192  # 64 MB of table per range with PostgreSQL's 8 kB pages
_PGCOPY_HEADER = 19  # signature (11), flags (4), header extension length (4, always 0 here)


def _binary_arrays(data, kinds):
    """The one-dimensional arrays (int8, timestamptz or float8 elements, by kind) of a binary COPY
    holding one row; a NULL field (array_agg of no rows) is an empty array."""
    at = _PGCOPY_HEADER + 2  # the row's field count
    out = []
    for kind in kinds:
        element = np.dtype([("length", ">i4"), ("value", ">f8" if kind == "float" else ">i8")])
        (length,) = struct.unpack_from(">i", data, at)
        at += 4
        if length < 0:
            out.append(np.empty(0, dtype=element["value"]))
            continue
        ndim, _flags, _type, size = struct.unpack_from(">iiii", data, at)
        body = at + 12 + 8 * ndim  # after the header and each dimension's size and lower bound
        out.append(np.frombuffer(data, dtype=element, count=size if ndim else 0, offset=body)["value"])
        at += length
    return out


def _placer(ids):
    """place(out, client_ids, values): rows of `values` into `out` at the positions of their
    clients in `ids`. Clients not in `ids` (first seen after the as-of day, though with older
    orders, e.g. a guest checkout before sign-up) are dropped, never put on a neighbour's row."""
    position = _positions(ids)

    def place(out, client_ids, values):
        at, values = _of_clients(position, client_ids.astype(np.int64), values)
        out[at] = values

    return place


def _positions(ids):
    """position(client_ids): each id's index in the sorted `ids`, -1 for an id not there."""
    def position(client_ids):
        if ids.size == 0:
            return np.full(len(client_ids), -1)
        at = np.searchsorted(ids, client_ids)
        return np.where(ids[np.minimum(at, ids.size - 1)] == client_ids, at, -1)

    return position


def _of_clients(position, client_ids, *columns):
    """(positions, *columns) of the rows whose client is in `ids` (see _positions)."""
    at = position(client_ids)
    known = at >= 0
    return (at[known], *(c[known] for c in columns))


def _fetch(sql, params, width, n, place):
    """Run an aggregate query (first column client id, then `width` numbers) into an (n, width)
    float array, NaN where a client has no row or a value is NULL. The aggregate runs as CREATE
    TEMP TABLE ... AS, which may use parallel workers (a COPY of a query may not)."""
    out = np.full((n, width), np.nan)
    columns = ["client_id", *(f"COALESCE(CAST(c{i} AS DOUBLE PRECISION), 'NaN')" for i in range(width))]
    kinds = ["id", *["float"] * width]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = %s", [settings.CRM_NIGHTLY_WORK_MEM])
        cursor.execute("DROP TABLE IF EXISTS segments_aggregate")
        cursor.execute(f"CREATE TEMPORARY TABLE segments_aggregate ON COMMIT DROP AS {sql}", params)
        client_id, *values = _scan("segments_aggregate", columns, "TRUE", (), kinds)
    place(out, client_id, np.column_stack(values))
    return out


def client_ids(as_of_cut):
    """Clients known at the as-of time (first seen before it, or with no first-seen date), sorted,
    and when each was first seen (epoch days, NaN if unknown)."""
    ids, seen = _scan("crm_client", ["id", "COALESCE(first_seen, 'infinity')"],
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
    event_client: np.ndarray
    event_time: np.ndarray

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
        events = self._sample(step, self.event_client, self.event_time)
        first_order = _extreme(np.minimum, orders[0], orders[1], n)
        first_event = _extreme(np.minimum, events[0], events[1], n)
        first_seen = self.first_seen[::step]
        result = [_aggregates(orders, events, micros(p), p, n, first_order, first_event, first_seen) for p in points]
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
    orders = _scan("crm_purchase", ["client_id", "purchased_at", "CAST(amount AS DOUBLE PRECISION)"],
                   "status = 'completed' AND purchased_at < %s", params, ["id", "time", "float"])
    events = _scan("crm_activity", ["client_id", "occurred_at"], "occurred_at < %s", params,
                   ["id", "time"])
    return Events(ids, first_seen, micros(until), *_of_clients(position, *orders), *_of_clients(position, *events))
