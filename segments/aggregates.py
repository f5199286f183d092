"""Per-client aggregates as of several points in time, read set-based in two passes of SQL.

One pass over purchases and one over activity compute, per client, the aggregates of the
contract in segments/features.py at any number of points in time, plus what each client bought in
given windows. The nightly run reads twice: the as-of time for every client, then the past cut-offs
the models learn from (and the windows after them) for a sample of clients on a big shop (see
pipeline.history_step): every extra point is three more FILTER aggregates per row, so reading all
of them for everyone cost several times the as-of read alone. Times travel as float days since
1970-01-01 UTC so numpy can do the rest.

"As of" is strict: a point in time `cut` sees only rows with time < cut, so the run for a day
sees that whole day and nothing after it.

Speed: rows are compared as timestamps (cheap) with FILTER clauses, and only the per-client
results are turned into day numbers, so the database does no date arithmetic per row.
"""

import datetime as dt
import zoneinfo

import numpy as np
from django.conf import settings
from django.db import connection, transaction

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
CHUNK = 50_000
COPY_BLOCK = 4 << 20


def _sql_epoch_days(expression):
    if connection.vendor == "postgresql":
        return f"(CAST(EXTRACT(EPOCH FROM {expression}) AS DOUBLE PRECISION) / 86400.0)"
    # SQLite keeps UTC text; julianday() of it minus the Julian day of 1970-01-01.
    return f"(julianday({expression}) - 2440587.5)"


def cut_time(as_of):
    """The first instant after the as-of day in TIME_ZONE: a night (and whatever is computed as of
    that day: scores, points, dashboards) sees what happened before it."""
    return dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), tzinfo=zoneinfo.ZoneInfo(settings.TIME_ZONE))


def epoch_days(moment):
    """An aware datetime as float days since 1970-01-01 UTC: the time unit of the aggregates."""
    return (moment - EPOCH).total_seconds() / 86400


def _when(days):
    """A point in epoch days as the database compares it with a timestamp column."""
    moment = EPOCH + dt.timedelta(days=float(days))
    return connection.ops.adapt_datetimefield_value(moment)


def _placer(ids):
    """place(out, client_ids, values): rows of `values` into `out` at the positions of their
    clients in `ids`. Clients not in `ids` (first seen after the as-of day, though with older
    orders, e.g. a guest checkout before sign-up) are dropped, never put on a neighbour's row."""

    def place(out, client_ids, values):
        client_ids = client_ids.astype(np.int64)
        at = np.searchsorted(ids, client_ids)
        known = (at < ids.size) & (ids[np.minimum(at, ids.size - 1)] == client_ids)
        out[at[known]] = values[known]

    return place


def _fetch(sql, params, width, n, place):
    """Run an aggregate query (first column client id) into an (n, width) float array."""
    if connection.vendor == "postgresql":
        return _fetch_postgres(sql, params, width, n, place)
    out = np.full((n, width), np.nan)
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(CHUNK):
            block = np.array(rows, dtype=np.float64)
            place(out, block[:, 0], block[:, 1:])
    return out


_PGCOPY_HEADER = 19  # signature (11), flags (4), header extension length (4, always 0 here)


def _fetch_postgres(sql, params, width, n, place):
    """The same on PostgreSQL, fast: the aggregate runs as CREATE TEMP TABLE ... AS, which may
    use parallel workers (a server-side cursor may not), with room to hash in memory; the result
    comes back by binary COPY as fixed-width float8 rows that numpy reads without a Python object
    per value (a million clients by forty columns would otherwise be forty million floats)."""
    out = np.full((n, width), np.nan)
    names = [f"c{i}" for i in range(width)]
    row = np.dtype([("fields", ">i2"), *[(f, t) for name in ["id", *names] for f, t in
                                         ((f"len_{name}", ">i4"), (name, ">f8"))]])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = %s", [settings.CRM_NIGHTLY_WORK_MEM])
        cursor.execute("DROP TABLE IF EXISTS segments_aggregate")
        cursor.execute(f"CREATE TEMPORARY TABLE segments_aggregate ON COMMIT DROP AS {sql}", params)
        select = ", ".join(["CAST(client_id AS DOUBLE PRECISION)",
                            *(f"COALESCE(CAST({c} AS DOUBLE PRECISION), 'NaN')" for c in names)])
        buffer = bytearray()

        def take_whole_rows(start):
            whole = (len(buffer) - start) // row.itemsize
            block = np.frombuffer(buffer, dtype=row, count=whole, offset=start)
            place(out, block["id"], np.column_stack([block[name] for name in names]))
            del block
            del buffer[: start + whole * row.itemsize]

        start = _PGCOPY_HEADER
        with cursor.cursor.copy(f"COPY (SELECT {select} FROM segments_aggregate) TO STDOUT (FORMAT binary)") as copy:
            for chunk in copy:  # PostgreSQL sends a message per row: parse in blocks of ~4 MB
                buffer += chunk
                if len(buffer) >= COPY_BLOCK:
                    take_whole_rows(start)
                    start = 0
        take_whole_rows(start)  # what is left is the 2-byte end marker
    return out


def client_ids(as_of_cut):
    """Clients known at the as-of time (first seen before it, or with no first-seen date)."""
    sql = (f"SELECT id, {_sql_epoch_days('first_seen')} FROM crm_client "
           f"WHERE first_seen IS NULL OR first_seen < %s ORDER BY id")
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, [_when(as_of_cut)])
        blocks = []
        while rows := cursor.fetchmany(CHUNK):
            blocks.append(np.array(rows, dtype=np.float64))
    data = np.concatenate(blocks) if blocks else np.empty((0, 2))
    return data[:, 0].astype(np.int64), data[:, 1]


SAMPLE = "segments_sample_clients"


def read(points, windows, ids, first_seen, *, sample=False):
    """Aggregates at each point, and per window (start, end, what) the orders or revenue in it.

    points: cut times in epoch days.
    windows: [(start, end, "orders" | "revenue")], each start < end.
    sample: `ids` are a sample of the clients (sorted, as client_ids returns them): only their
    rows are read, which is what makes many past cut-offs affordable on a big shop.
    Returns ([aggregates dict per point], [array per window]).
    """
    if not sample:
        return _read(points, windows, ids, first_seen, "")
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {SAMPLE}")
        cursor.execute(f"CREATE TEMPORARY TABLE {SAMPLE} (id bigint PRIMARY KEY)")
        if connection.vendor == "postgresql":
            cursor.execute(f"INSERT INTO {SAMPLE} SELECT unnest(CAST(%s AS bigint[]))", [ids.tolist()])
        else:
            cursor.executemany(f"INSERT INTO {SAMPLE} VALUES (%s)", [(v,) for v in ids.tolist()])
        cursor.execute(f"ANALYZE {SAMPLE}")
    try:
        return _read(points, windows, ids, first_seen, f"AND client_id IN (SELECT id FROM {SAMPLE}) ")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {SAMPLE}")


def _read(points, windows, ids, first_seen, only):
    n = ids.size
    lo, hi = (int(ids[0]), int(ids[-1])) if n else (0, -1)
    params = {"lo": lo, "hi": hi, "end": _when(max([*points, *(stop for _, stop, _ in windows)]))}
    for i, p in enumerate(points):
        params |= {f"p{i}": _when(p), f"p{i}_30": _when(p - 30), f"p{i}_90": _when(p - 90)}
    for i, (start, stop, _) in enumerate(windows):
        params |= {f"w{i}_start": _when(start), f"w{i}_stop": _when(stop)}

    def fetch(sql, width):
        if n == 0:
            return np.empty((0, width))
        return _fetch(sql, params, width, n, _placer(ids))

    amount = "CAST(amount AS DOUBLE PRECISION)"
    cols = [_sql_epoch_days("MIN(purchased_at)")]
    for i in range(len(points)):
        before = f"FILTER (WHERE purchased_at < %(p{i})s)"
        cols += [f"COUNT(*) {before}", f"SUM({amount}) {before}", _sql_epoch_days(f"MAX(purchased_at) {before}")]
    for i, (_, _, what) in enumerate(windows):
        value = "COUNT(*)" if what == "orders" else f"SUM({amount})"
        cols.append(f"{value} FILTER (WHERE purchased_at >= %(w{i}_start)s AND purchased_at < %(w{i}_stop)s)")
    purchases = fetch(
        f"SELECT client_id, {_named(cols)} FROM crm_purchase "
        f"WHERE status = 'completed' AND client_id BETWEEN %(lo)s AND %(hi)s AND purchased_at < %(end)s {only}"
        f"GROUP BY client_id",
        len(cols))

    cols = [_sql_epoch_days("MIN(occurred_at)")]
    for i in range(len(points)):
        cols += [f"COUNT(*) FILTER (WHERE occurred_at < %(p{i})s AND occurred_at >= %(p{i}_30)s)",
                 f"COUNT(*) FILTER (WHERE occurred_at < %(p{i})s AND occurred_at >= %(p{i}_90)s)",
                 _sql_epoch_days(f"MAX(occurred_at) FILTER (WHERE occurred_at < %(p{i})s)")]
    activity = fetch(
        f"SELECT client_id, {_named(cols)} FROM crm_activity "
        f"WHERE client_id BETWEEN %(lo)s AND %(hi)s AND occurred_at < %(end)s {only}GROUP BY client_id",
        len(cols))

    aggregates = _assemble(purchases, activity, points, first_seen)
    base = 1 + 3 * len(points)
    window_values = [np.nan_to_num(purchases[:, base + i]) for i in range(len(windows))]
    return aggregates, window_values


def _named(columns):
    return ", ".join(f"{expression} AS c{i}" for i, expression in enumerate(columns))


def _assemble(purchases, activity, points, first_seen):
    result = []
    for i, p in enumerate(points):
        first_order = purchases[:, 0]
        frequency = np.nan_to_num(purchases[:, 1 + 3 * i]).astype(np.int64)
        has_orders = frequency > 0
        last_order = purchases[:, 3 + 3 * i]
        first_activity = activity[:, 0]
        last_activity = activity[:, 3 + 3 * i]
        seen = np.where(np.isfinite(first_seen) & (first_seen < p), first_seen, np.nan)
        earliest = np.fmin(np.fmin(seen, np.where(has_orders, first_order, np.nan)),
                           np.where(np.isfinite(last_activity), first_activity, np.nan))
        result.append({
            "frequency": frequency,
            "monetary": np.where(has_orders, np.nan_to_num(purchases[:, 2 + 3 * i]), 0.0),
            "first_days": np.where(has_orders, p - first_order, np.nan),
            "last_days": np.where(has_orders, p - last_order, np.nan),
            "activity_30": np.nan_to_num(activity[:, 1 + 3 * i]).astype(np.int64),
            "activity_90": np.nan_to_num(activity[:, 2 + 3 * i]).astype(np.int64),
            "activity_days": p - last_activity,
            "age_days": p - earliest,
            # Not part of the model contract: the pipeline stores the dates of first and last order.
            "first_time": np.where(has_orders, first_order, np.nan),
            "last_time": np.where(has_orders, last_order, np.nan),
        })
    return result
