"""Reference implementations that the nightly run's fast paths are checked against: plain, slow
and obviously right. bench/churn_backtest.py builds its simulated shops' aggregates with them too."""

import datetime as dt

import numpy as np

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)  # day 0 of the float days the run's times travel in

# The aggregates of segments/aggregates.py (Events.at), which aggregates_at gives as a reference.
AGGREGATE_KEYS = (
    "frequency",
    "monetary",
    "first_days",
    "last_days",
    "activity_30",
    "activity_90",
    "activity_days",
    "age_days",
)


def aggregates_at(client_index, order_times, order_amounts, activity_client_index, activity_times,
                  n_clients, as_of, first_seen=None):
    """The aggregates (AGGREGATE_KEYS) of every client as of `as_of`, from plain arrays: the
    reference for segments.aggregates.Events.at.

    Times are float days since any fixed epoch, and a row counts when its time is at or before
    `as_of` (the run counts rows strictly before its cut-off: a test shifts `as_of` a hair below it).
    `order_*` describe completed orders only; `first_seen` is an optional per-client array of sign-up
    times (NaN where unknown): a sign-up at or before `as_of` is when the client was first seen, else
    the earlier of first order and first activity.
    """
    ci = np.asarray(client_index, dtype=np.int64)
    ot = np.asarray(order_times, dtype=np.float64)
    amounts = np.asarray(order_amounts, dtype=np.float64)
    aci = np.asarray(activity_client_index, dtype=np.int64)
    at = np.asarray(activity_times, dtype=np.float64)

    past = ot <= as_of
    ci, ot, amounts = ci[past], ot[past], amounts[past]
    frequency = np.bincount(ci, minlength=n_clients).astype(np.int64)
    monetary = np.bincount(ci, weights=amounts, minlength=n_clients).astype(np.float64)
    first_order = _per_client_extreme(np.minimum, ci, ot, n_clients, np.inf)
    last_order = _per_client_extreme(np.maximum, ci, ot, n_clients, -np.inf)

    past = at <= as_of
    aci, at = aci[past], at[past]
    activity_30 = np.bincount(aci[at > as_of - 30.0], minlength=n_clients).astype(np.int64)
    activity_90 = np.bincount(aci[at > as_of - 90.0], minlength=n_clients).astype(np.int64)
    first_activity = _per_client_extreme(np.minimum, aci, at, n_clients, np.inf)
    last_activity = _per_client_extreme(np.maximum, aci, at, n_clients, -np.inf)

    seen = np.minimum(first_order, first_activity)
    if first_seen is not None:
        fs = np.asarray(first_seen, dtype=np.float64)
        seen = np.where(fs <= as_of, fs, seen)  # NaN <= as_of is False: unknown sign-up falls back

    def since(t):
        with np.errstate(invalid="ignore"):
            return np.where(np.isfinite(t), as_of - t, np.nan)

    return {
        "frequency": frequency,
        "monetary": monetary,
        "first_days": since(first_order),
        "last_days": since(last_order),
        "activity_30": activity_30,
        "activity_90": activity_90,
        "activity_days": since(last_activity),
        "age_days": since(seen),
    }


def _per_client_extreme(ufunc, client_index, times, n_clients, empty):
    out = np.full(n_clients, empty, dtype=np.float64)
    ufunc.at(out, client_index, times)
    return out


def _in_window(order_times, start, horizon_days):
    t = np.asarray(order_times, dtype=np.float64)
    return (t > start) & (t <= start + horizon_days)


def window_orders(client_index, order_times, n_clients, start, horizon_days):
    """Per client, the number of orders in the half-open window (start, start + horizon_days]: the
    reference for Events.at's "orders" windows."""
    inside = _in_window(order_times, start, horizon_days)
    return np.bincount(np.asarray(client_index)[inside], minlength=n_clients).astype(np.int64)


def window_revenue(client_index, order_times, order_amounts, n_clients, start, horizon_days):
    """Per client, the total amount of orders in the half-open window (start, start + horizon_days]:
    the reference for Events.at's "revenue" windows."""
    inside = _in_window(order_times, start, horizon_days)
    amounts = np.asarray(order_amounts, dtype=np.float64)[inside]
    return np.bincount(np.asarray(client_index)[inside], weights=amounts, minlength=n_clients).astype(np.float64)


def score_rows(client_ids, cols, as_of):
    """What a score row holds, built one plain Python value at a time (None for missing), in
    scoring.ROW_COLUMNS order: the reference for scoring.binary_rows and the staging INSERT."""
    def nullable(values, cast=float):
        return [None if v != v else cast(v) for v in values.tolist()]  # v != v is NaN

    def when(days):
        return [None if v != v else EPOCH + dt.timedelta(days=v) for v in days.tolist()]

    def date_after(days):  # the next order's date, capped at ten years
        return [None if v != v else as_of + dt.timedelta(days=int(min(v, 3650))) for v in days.tolist()]

    ordered = [
        client_ids.tolist(),
        nullable(cols["recency_days"], int),
        cols["frequency"].tolist(),
        cols["monetary"].tolist(),
        nullable(cols["avg_order_value"]),
        when(cols["first_purchase_at"]),
        when(cols["last_purchase_at"]),
        nullable(cols["avg_days_between"]),
        [v or None for v in cols["r"].tolist()],
        [v or None for v in cols["f"].tolist()],
        [v or None for v in cols["m"].tolist()],
        cols["rfm_segment"].tolist(),
        nullable(cols["churn_risk"]),
        cols["churn_band"].tolist(),
        cols["predicted_clv"].tolist(),
        date_after(cols["next_order_at"]),
        cols["activity_30"].tolist(),
        cols["activity_90"].tolist(),
        nullable(cols["days_since_activity"], int),
        cols["engagement_score"].tolist(),
        cols["engagement_band"].tolist(),
        cols["tier"].tolist(),
        cols["visits_30"].tolist(),
        cols["visits_90"].tolist(),
        *(nullable(cols[name]) for name in ("visit_seconds", "bounce_rate", "visit_gap_days", "visit_conversion")),
        cols["churn_reasons"].tolist(),
        cols["churn_reason"].tolist(),
        cols["value_reasons"].tolist(),
        cols["value_reason"].tolist(),
    ]
    return zip(*ordered)


def visit_measures(rows, orders, n_clients, cut, gap_minutes, bounce_seconds):
    """The visit measures (segments/visits.py) one client at a time, in plain Python: the reference
    for visits.measures. rows: (client, occurred, start, seconds, pages, code) with times in
    microseconds, NaN for an unknown duration or page count; orders: (client, time)."""
    day, gap = 86_400_000_000, gap_minutes * 60_000_000
    out = {name: [] for name in ("visits_30", "visits_90", "visit_seconds", "bounce_rate", "visit_gap_days",
                                 "visit_conversion")}
    for client in range(n_clients):
        mine = sorted((r for r in rows if r[0] == client and r[1] < cut), key=lambda r: r[2])
        sessions = [r for r in mine if r[5] != 0]
        found = []  # (start, seconds, pages, converted by itself)
        if sessions:
            found = [(r[2], r[3], r[4], r[5] == 2) for r in sessions]
        else:
            group = []
            for r in mine:
                if group and r[2] - group[-1][2] > gap:
                    found.append((group[0][2], (group[-1][2] - group[0][2]) / 1e6, float(len(group)), False))
                    group = []
                group.append(r)
            if group:
                found.append((group[0][2], (group[-1][2] - group[0][2]) / 1e6, float(len(group)), False))
        mine_orders = [t for c, t in orders if c == client and cut - 90 * day <= t < cut]
        recent = [v for v in found if v[0] >= cut - 90 * day]
        timed = [v[1] for v in recent if v[1] == v[1]]
        judged = [v for v in recent if v[1] == v[1] or v[2] == v[2]]
        bounced = [v for v in judged if (v[2] == v[2] and v[2] <= 1) or (v[1] == v[1] and v[1] < bounce_seconds)]

        def ordered(v, mine_orders=mine_orders):
            end = v[0] + int((v[1] if v[1] == v[1] else 0) * 1e6) + gap
            return any(v[0] // 1_000_000 <= t // 1_000_000 <= end // 1_000_000 for t in mine_orders)

        converted = [v for v in recent if v[3] or ordered(v)]
        starts = [v[0] for v in found if v[0] >= cut - 365 * day]
        gaps = [(b - a) / day for a, b in zip(starts, starts[1:])]
        out["visits_30"].append(sum(v[0] >= cut - 30 * day for v in found))
        out["visits_90"].append(len(recent))
        out["visit_seconds"].append(sum(timed) / len(timed) if timed else np.nan)
        out["bounce_rate"].append(len(bounced) / len(judged) if judged else np.nan)
        out["visit_gap_days"].append(float(np.median(gaps)) if gaps else np.nan)
        out["visit_conversion"].append(len(converted) / len(recent) if recent else np.nan)
    return {name: np.array(values, dtype=np.float64) for name, values in out.items()}
