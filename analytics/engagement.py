"""The engagement dashboard's part of the snapshot: the visit measures (segments/visits.py) by month,
by acquisition channel and by segment, LTV by quartile band of each measure, and how strongly each
measure, taken one churn horizon ago, goes with the revenue that followed.

The shop's orders and activity are read once (segments/aggregates.load, as the night reads them);
the by-channel, by-segment and LTV parts read the run's scores. Everything is as of the run.
"""

import math

import numpy as np
from django.conf import settings
from scipy import stats

from core import scan
from core.sql import rows, start_of, table
from crm.models import Client
from segments import aggregates, visits
from segments.models import ClientScore, Segment, SegmentMembership

from .months import first_day

MEASURES = visits.MEASURES
BANDS = 4  # quartiles
CORRELATION_CLIENTS = 200_000  # an evenly spread sample beyond this: the interval is then already narrow
Z95 = 1.959964


def compute(run, first, last):
    cut = aggregates.cut_time(run.as_of)
    cut_days = aggregates.epoch_days(cut)
    ids, first_seen = aggregates.client_ids(cut_days)
    events = aggregates.load(ids, first_seen, cut_days)
    return {
        "months": by_month(events, aggregates.micros(cut_days), ids.size, first, last),
        "channel": _grouped(run, "c.acquisition_channel", f"JOIN {table(Client)} c ON c.id = cs.client_id"),
        "segment": _grouped(run, "s.slug", f"JOIN {table(SegmentMembership)} m ON m.client_id = cs.client_id "
                                           f"AND m.left_at IS NULL JOIN {table(Segment)} s ON s.id = m.segment_id"),
        "bands": ltv_bands(_score_columns(run)),
        "correlation": correlation(events, cut_days, ids.size),
    }


def _month_starts(first, last):
    """Microseconds at which each month first..last + 1 starts in TIME_ZONE."""
    return np.array([aggregates.micros(aggregates.epoch_days(start_of(first_day(m))))
                     for m in range(first, last + 2)], dtype=np.int64)


def by_month(events, cut, n, first, last):
    """Per month of the window (by the visit's start): visits, distinct visitors, average seconds,
    bounce rate, conversion, median days between visits (the gaps ending in the month)."""
    gap_us = settings.CRM_SESSION_GAP_MINUTES * 60_000_000
    v = visits.visits(events.trail, cut, n, gap_us)
    converted = v.converted | visits.ordered_during(v.client, v.start, v.seconds, events.order_client,
                                                    events.order_time, np.iinfo(np.int64).min, cut, gap_us)
    bounds = _month_starts(first, last)
    months = last - first + 1
    month = np.searchsorted(bounds, v.start, side="right") - 1
    inside = (month >= 0) & (month < months)
    m, client, seconds, pages, converted = (month[inside], v.client[inside], v.seconds[inside], v.pages[inside],
                                            converted[inside])
    timed = np.isfinite(seconds)
    judged, bounced = visits.bounces(seconds, pages, settings.CRM_BOUNCE_SECONDS)
    count = np.bincount(m, minlength=months)
    visitors = np.bincount(np.unique(m.astype(np.int64) * (n + 1) + client) // (n + 1), minlength=months)

    follows, gaps = visits.gaps(v.client, v.start)
    gap_month = month[follows]
    kept = (gap_month >= 0) & (gap_month < months)
    gap_month, gaps = gap_month[kept], gaps[kept]
    medians = [float(np.median(gaps[gap_month == i])) if (gap_month == i).any() else None for i in range(months)]

    def share(part, whole):
        return [None if w == 0 else round(float(p) / float(w), 6) for p, w in zip(part, whole, strict=True)]

    return {
        "visits": count.tolist(),
        "visitors": visitors.tolist(),
        "seconds": share(np.bincount(m[timed], weights=seconds[timed], minlength=months),
                         np.bincount(m[timed], minlength=months)),
        "bounce_rate": share(np.bincount(m[bounced], minlength=months), np.bincount(m[judged], minlength=months)),
        "conversion": share(np.bincount(m[converted], minlength=months), count),
        "gap_days": medians,
    }


def _grouped(run, key, join):
    """[key, clients, average of each measure over the clients with one] per value of `key`."""
    averages = ", ".join(f"AVG(cs.{name})" for name in MEASURES)
    found = rows(f"SELECT {key}, COUNT(*), {averages} FROM {table(ClientScore)} cs {join} "
                 f"WHERE cs.run_id = %s GROUP BY 1 ORDER BY 2 DESC, 1", [run.pk])
    return [[k or "", int(clients), *(None if a is None else round(float(a), 6) for a in values)]
            for k, clients, *values in found]


def _score_columns(run):
    """The run's measures, revenue so far and predicted value, one numpy array each."""
    names = [*MEASURES, "monetary", "predicted_clv"]
    columns = [f"COALESCE(CAST({name} AS DOUBLE PRECISION), 'NaN')" for name in names]
    values = scan.read(table(ClientScore), columns, "run_id = %s", [run.pk], ["float"] * len(names))
    return dict(zip(names, values, strict=True))


def quartile_bands(values):
    """Each value's band 0..BANDS-1 by its rank, equal values always in the same band (so a measure
    with many equal values, e.g. no visits, may have fewer bands); -1 where NaN."""
    known = np.isfinite(values)
    band = np.full(values.shape, -1)
    ordered = np.sort(values[known])
    if ordered.size:
        band[known] = np.searchsorted(ordered, values[known], side="left") * BANDS // ordered.size
    return band


def ltv_bands(scores):
    """Per measure and band: [measure, band number (1..4), lowest, highest, clients, buyers, revenue
    per client, predicted value per client]."""
    out = []
    for name in MEASURES:
        values = scores[name]
        band = quartile_bands(values)
        for b in range(BANDS):
            members = band == b
            clients = int(members.sum())
            if not clients:
                continue
            out.append([name, b + 1, float(values[members].min()), float(values[members].max()), clients,
                        int((scores["monetary"][members] > 0).sum()),
                        round(float(scores["monetary"][members].mean()), 2),
                        round(float(scores["predicted_clv"][members].mean()), 2)])
    return out


def spearman(x, y):
    """(rank correlation, low, high, n) over the pairs where x is known; the 95% interval by Fisher's z
    with the Spearman standard error sqrt(1.06 / (n - 3)) (Fieller, Hartley and Pearson). None where
    it cannot be told (fewer than 10 pairs, or a constant column)."""
    known = np.isfinite(x) & np.isfinite(y)
    n = int(known.sum())
    if n < 10 or np.ptp(x[known]) == 0 or np.ptp(y[known]) == 0:
        return [None, None, None, n]
    rho = float(stats.spearmanr(x[known], y[known]).statistic)
    z, half = math.atanh(max(min(rho, 0.999999), -0.999999)), Z95 * math.sqrt(1.06 / (n - 3))
    return [round(rho, 4), round(math.tanh(z - half), 4), round(math.tanh(z + half), 4), n]


def correlation(events, cut_days, n):
    """Each measure one churn horizon before the as-of day against each client's revenue in the
    horizon after it (clients known then; an evenly spread sample on a big shop)."""
    horizon = settings.CRM_CHURN_HORIZON_DAYS
    then = cut_days - horizon
    step = max(1, -(-n // CORRELATION_CLIENTS))
    (measures,), (revenue,) = events.at([then], [(then, cut_days, "revenue")], step=step)
    known = np.isfinite(measures["age_days"])  # clients who existed then
    return {"horizon_days": horizon,
            "rows": [[name, *spearman(measures[name].astype(float)[known], revenue[known])] for name in MEASURES]}
