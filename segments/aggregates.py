"""Per-client aggregates as of several points in time, read set-based in two passes of SQL.

One pass over purchases and one over activity compute, for every client, the aggregates of the
contract in segments/features.py at the run's as-of time *and* at the past cut-offs the models
learn from, plus what each client bought in the window after each cut-off. Times travel as float
days since 1970-01-01 UTC so numpy can do the rest.

"As of" is strict: a point in time `cut` sees only rows with time < cut, so the run for a day
sees that whole day and nothing after it.
"""

import numpy as np
from django.db import connection

CHUNK = 50_000


def _epoch_days(column):
    if connection.vendor == "postgresql":
        return f"(CAST(EXTRACT(EPOCH FROM {column}) AS DOUBLE PRECISION) / 86400.0)"
    # SQLite keeps UTC text; julianday() of it minus the Julian day of 1970-01-01.
    return f"(julianday({column}) - 2440587.5)"


def _fetch(sql, params, width, n, index_of):
    """Run an aggregate query (first column client id) into an (n, width) float array."""
    out = np.full((n, width), np.nan)
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(CHUNK):
            block = np.array(rows, dtype=np.float64)
            out[index_of(block[:, 0])] = block[:, 1:]
    return out


def client_ids(as_of_cut):
    """Clients known at the as-of time (first seen before it, or with no first-seen date)."""
    t = float(as_of_cut)
    sql = (f"SELECT id, {_epoch_days('first_seen')} FROM crm_client "
           f"WHERE first_seen IS NULL OR {_epoch_days('first_seen')} < %s ORDER BY id")
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, [t])
        blocks = []
        while rows := cursor.fetchmany(CHUNK):
            blocks.append(np.array(rows, dtype=np.float64))
    data = np.concatenate(blocks) if blocks else np.empty((0, 2))
    return data[:, 0].astype(np.int64), data[:, 1]


def read(points, windows, ids, first_seen):
    """Aggregates at each point, and per window (start, end, what) the orders or revenue in it.

    points: cut times in epoch days, the first being the run's as-of.
    windows: [(start, end, "orders" | "revenue")], each start < end <= points[0].
    Returns ([aggregates dict per point], [array per window]).
    """
    n = ids.size
    end = max(points)
    lo, hi = (int(ids[0]), int(ids[-1])) if n else (0, -1)

    def fetch(sql, width):
        if n == 0:
            return np.empty((0, width))
        return _fetch(sql, [lo, hi, end], width, n, lambda col: np.searchsorted(ids, col.astype(np.int64)))

    cols = ["MIN(t)"]
    for p in points:
        cols += [f"SUM(CASE WHEN t < {p!r} THEN 1 ELSE 0 END)",
                 f"SUM(CASE WHEN t < {p!r} THEN amount ELSE 0 END)",
                 f"MAX(CASE WHEN t < {p!r} THEN t END)"]
    for start, stop, what in windows:
        value = "1" if what == "orders" else "amount"
        cols.append(f"SUM(CASE WHEN t >= {start!r} AND t < {stop!r} THEN {value} ELSE 0 END)")
    purchases = fetch(
        f"SELECT client_id, {', '.join(cols)} FROM ("
        f"  SELECT client_id, CAST(amount AS DOUBLE PRECISION) AS amount, {_epoch_days('purchased_at')} AS t"
        f"  FROM crm_purchase WHERE status = 'completed' AND client_id BETWEEN %s AND %s) x "
        f"WHERE t < %s GROUP BY client_id",
        len(cols))

    cols = ["MIN(t)"]
    for p in points:
        cols += [f"SUM(CASE WHEN t < {p!r} AND t >= {p - 30!r} THEN 1 ELSE 0 END)",
                 f"SUM(CASE WHEN t < {p!r} AND t >= {p - 90!r} THEN 1 ELSE 0 END)",
                 f"MAX(CASE WHEN t < {p!r} THEN t END)"]
    activity = fetch(
        f"SELECT client_id, {', '.join(cols)} FROM ("
        f"  SELECT client_id, {_epoch_days('occurred_at')} AS t FROM crm_activity"
        f"  WHERE client_id BETWEEN %s AND %s) x "
        f"WHERE t < %s GROUP BY client_id",
        len(cols))

    aggregates = _assemble(purchases, activity, points, first_seen)
    base = 1 + 3 * len(points)
    window_values = [np.nan_to_num(purchases[:, base + i]) for i in range(len(windows))]
    return aggregates, window_values


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
