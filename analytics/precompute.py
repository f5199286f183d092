"""The dashboards' snapshot: everything heavy, computed once after a nightly run has succeeded.

    build_snapshot(run, full=False)  is called by the task queued from receivers.py, and by
                                     `manage.py build_analytics [--full]` (the current run).

The purchase series and matrices are put together from the months' pieces that history.py keeps
between nights (recomputing only the months whose orders or activity changed; `full` recomputes
every month): per-month totals and (month, month) pairs, from which metrics.range_counts answers
"distinct clients in months a..b" for every period of whole months, so the pages never touch
purchases. The parts that come from the night's scores (LTV groups, the RFM grid, surveys by
segment, campaigns, engagement) are computed every night. Everything is "as of" the run: rows at or
after the end of its as-of day are not read.

Buys: every dashboard page and chart answers from one stored snapshot (bench/analytics_pages.py).
"""

import datetime as dt
import logging
import time
from contextlib import contextmanager
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from core.sql import rows, table
from crm.models import SurveyAnswer
from segments import dashboard
from segments.aggregates import cut_time
from segments.models import ClientScore, Segment, SegmentMembership

from . import engagement, history, metrics
from .models import Snapshot
from .months import index_of, label

log = logging.getLogger(__name__)
MAX_MONTHS = 60  # months kept in the snapshot's monthly series and matrices: five years
LAST_CAMPAIGNS = 10
KEEP_SNAPSHOTS = 7
CHANNEL_SERIES = ("revenue", "new_buyers")  # what CAC and payback read (reports.cac)


def lapse_months():
    """Months without an order after which a client no longer counts (retention): the churn horizon."""
    return max(1, round(settings.CRM_CHURN_HORIZON_DAYS / 30))


def build_snapshot(run, full=False):
    """Compute and store the snapshot of `run` (replacing one it had); keep the last few. `full`:
    recompute every month of the history, not only the months that changed (history.py)."""
    started = time.monotonic()
    data = compute(run, full)
    seconds = round(time.monotonic() - started, 2)
    snapshot, _ = Snapshot.objects.update_or_create(run=run, defaults={"data": data, "seconds": seconds})
    old = Snapshot.objects.order_by("-run__finished_at", "-id").values_list("pk", flat=True)[KEEP_SNAPSHOTS:]
    Snapshot.objects.filter(pk__in=list(old)).delete()
    log.info("analytics snapshot of run %s computed in %.1f s (%d months recomputed)", run.pk, seconds,
             len(data["recomputed"]))
    return snapshot


class _Clock:
    """Seconds per part, kept in the snapshot (data["seconds"]): where the night's time goes."""

    def __init__(self):
        self.seconds = {}

    @contextmanager
    def __call__(self, name):
        started = time.monotonic()
        yield
        self.seconds[name] = round(time.monotonic() - started, 2)


def compute(run, full=False):
    cut = cut_time(run.as_of)
    last = index_of(run.as_of)
    clock = _Clock()
    with clock("history"):
        recomputed = history.update(cut, full)
        pieces = history.pieces()
    ordered = [m for m, piece in pieces.items() if piece["totals"][1]]
    first = last if not ordered else max(min(ordered), last - MAX_MONTHS + 1)
    data = {
        "as_of": run.as_of.isoformat(), "run": run.pk, "currency": settings.CRM_CURRENCY,
        "months": [label(m) for m in range(first, last + 1)], "first": first,
        "partial_last": (run.as_of + dt.timedelta(days=1)).day != 1,
        "lapse_months": lapse_months(),
        # The months whose pieces this snapshot recomputed (all of them on a full rebuild).
        "recomputed": [label(m) for m in sorted(recomputed)],
    }
    with clock("purchase tables"):
        data.update(purchase_tables(pieces, first, last, lapse_months()))
        data["active_pairs"] = active_pairs(pieces, first, last)
    with clock("ltv"):
        data["ltv"] = ltv_groups(run)
    with clock("engagement"):
        data["engagement"] = engagement.compute(run, first, last)
    with clock("rfm grid"):
        data["rfm_grid"] = _plain(dashboard.rfm_grid())
    with clock("surveys"):
        data["surveys"] = survey_counts(cut, first)
    with clock("campaigns"):
        data["campaigns"] = campaign_summaries()
    data["seconds"] = clock.seconds
    return data


def _plain(value):
    """JSON-safe: Decimals to floats, recursively."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def purchase_tables(pieces, first, last, w):
    """The purchase series and matrices of the window first..last from the months' pieces
    (history.compute_pieces): monthly totals, range counts of buyers and repeat buyers, gaps between
    orders by (month, month), retention, cohorts and the channels' series. w: lapse_months()."""
    n = last - first + 1
    span = range(first, last + 1)

    def at(month):
        return month - first

    monthly = {key: [0] * n for key in ("revenue", "orders", "buyers", "new_buyers", "gap_days", "gaps")}
    gap_days = [[0.0] * n for _ in range(n)]
    gaps = [[0] * n for _ in range(n)]
    cohorts = [[0] * n for _ in range(n)]
    channels = {}
    pair_events, repeat_events = [], []
    # Spells (retention: metrics.lapse_coverage) are counted over every month with data, not just
    # the window: clients at the start of the window's first month come from before it.
    spells = {}
    for m in sorted(pieces):
        piece = pieces[m]
        links = piece["links"]  # [previous month, next month, two orders or more, clients]
        if not links:  # activity only
            continue
        spells[m] = (sum(c for p, _, _, c in links if p is None or m - p > w),
                     sum(c for p, _, _, c in links if p is None),
                     sum(c for _, after, _, c in links if after is None or after - m > w))
        # Clients with two orders in months a..b: for a in (prev, m] the first order from a on is
        # in m, and the second in m again (two orders that month) or in the next month with one.
        for p, after, two, c in links:
            second = m if two else after
            if second is not None and second >= first:
                repeat_events += [(_idx(p, first, after=True), at(second), c), (at(m) + 1, at(second), -c)]
        if m not in span:
            continue
        i = at(m)
        cents, orders, gap_us, count = piece["totals"]
        days = gap_us / history.DAY_US
        monthly["revenue"][i] = round(cents / 100, 2)
        monthly["orders"][i], monthly["buyers"][i], monthly["new_buyers"][i] = orders, sum(
            c for *_, c in links), spells[m][1]
        monthly["gap_days"][i], monthly["gaps"][i] = days, count
        gap_days[i][i], gaps[i][i] = days, count
        # Gaps between consecutive orders in two different months, by (earlier month, later month).
        for p, c, gap_us in piece["pairs"]:
            pair_events.append((_idx(p, first), i, c))
            if p is not None and p >= first:
                gap_days[at(p)][i] += gap_us / history.DAY_US
                gaps[at(p)][i] += c
        for first_m, c in piece["cohorts"]:
            if first_m >= first:
                cohorts[at(first_m)][m - first_m] = c
        for channel, _, cents, new in piece["channels"]:
            row = channels.setdefault(channel or "", {k: [0] * n for k in CHANNEL_SERIES})
            row["revenue"][i], row["new_buyers"][i] = round(cents / 100, 2), new
    lo = min([*spells, first])
    starts, new, ends = ([spells.get(m, (0, 0, 0))[j] for m in range(lo, last + 1)] for j in range(3))
    retention = metrics.retention_by_month(starts, new, ends, w)[first - lo:]
    buyers = metrics.range_counts(metrics.pair_events(pair_events), n)
    repeat = metrics.range_counts(repeat_events, n)
    return {"monthly": monthly, "buyers_range": buyers.tolist(), "repeat_range": repeat.tolist(),
            "gap_days": gap_days, "gaps": gaps, "retention": retention, "cohorts": cohorts,
            "channels": channels}


def active_pairs(pieces, first, last):
    """Range counts of clients with an order or an activity event (the ARPU denominator)."""
    n = last - first + 1
    found = ((_idx(p, first), m - first, c) for m, piece in pieces.items() if first <= m <= last
             for p, c in piece["active"])
    return metrics.range_counts(metrics.pair_events(found), n).tolist()


def _idx(month, first, after=False):
    """A month number as an index in the window; None stays None (no earlier month)."""
    if month is None:
        return None
    return month - first + (1 if after else 0)


def ltv_groups(run):
    """Historic and predicted value per paying client by acquisition channel, first-order cohort
    and engagement band, from the run's scores (three GROUP BYs over the scores)."""
    scores = ClientScore.objects.filter(run=run)
    paying = Q(frequency__gt=0)
    sums = {"clients": Count("id"), "buyers": Count("id", filter=paying),
            "revenue": Sum("monetary", filter=paying), "predicted": Sum("predicted_clv", filter=paying)}

    def grouped(queryset, key):
        return [{"key": key(r), "clients": r["clients"], "buyers": r["buyers"],
                 "revenue": float(r["revenue"] or 0), "predicted": float(r["predicted"] or 0)} for r in queryset]

    by_channel = grouped(scores.values("client__acquisition_channel").annotate(**sums).order_by(),
                      lambda r: r["client__acquisition_channel"] or "")
    tz = timezone.get_default_timezone()
    by_cohort = grouped(scores.filter(paying).annotate(cohort=TruncMonth("first_purchase_at", tzinfo=tz))
                     .values("cohort").annotate(**sums).order_by("cohort"),
                     lambda r: r["cohort"].strftime("%Y-%m") if r["cohort"] else "")
    by_band = grouped(scores.values("engagement_band").annotate(**sums).order_by(), lambda r: r["engagement_band"])
    return {"channel": sorted(by_channel, key=lambda r: -r["buyers"]), "cohort": by_cohort,
            "band": sorted(by_band, key=lambda r: dashboard.BAND_ORDER.get(r["key"], 9))}


def survey_counts(cut, first):
    """Answers per (segment, kind, month, score): rows [segment slug or "" for everyone, kind,
    month index in the window (answers before the window are left out), score, count]."""
    month, params = history.month_sql("a.answered_at")
    answers = table(SurveyAnswer)
    segments = list(Segment.objects.values_list("pk", "slug", "name"))
    slugs = {pk: slug for pk, slug, _ in segments}
    # all-clients holds everyone: its rows would be the overall ones again.
    everyone = next((pk for pk, slug, _ in segments if slug == "all-clients"), -1)
    overall = [["", kind, m - first, score, count] for kind, m, score, count in rows(
        f"SELECT a.kind, {month}, a.score, COUNT(*) FROM {answers} a WHERE a.answered_at < %s GROUP BY 1, 2, 3",
        [*params, cut]) if m >= first]
    by_segment = [[slugs.get(seg, str(seg)), kind, m - first, score, count] for seg, kind, m, score, count in rows(
        f"SELECT s.segment_id, a.kind, {month}, a.score, COUNT(*) FROM {answers} a "
        f"JOIN {table(SegmentMembership)} s ON s.client_id = a.client_id AND s.left_at IS NULL "
        f"WHERE a.answered_at < %s AND s.segment_id <> %s GROUP BY 1, 2, 3, 4", [*params, cut, everyone]) if m >= first]
    return {"rows": overall + by_segment, "names": {slug: name for _, slug, name in segments}}


def campaign_summaries():
    """The last launched campaigns' results (mailing/results.py), a row each."""
    from mailing.models import Campaign
    from mailing.results import campaign_results

    rows = []
    for campaign in Campaign.objects.filter(launched_at__isnull=False).order_by("-launched_at")[:LAST_CAMPAIGNS]:
        try:
            r = campaign_results(campaign)
        except Exception:  # one campaign's results must not cost the night its dashboards
            log.exception("results of campaign %s could not be computed", campaign.pk)
            continue
        uplift = r.conversion_uplift
        rows.append({
            "id": campaign.pk, "name": campaign.name, "slug": campaign.slug,
            "launched_at": timezone.localtime(campaign.launched_at).strftime("%Y-%m-%d"),
            "sent": r.sent_group.sent, "holdout": r.holdout.audience, "conversions": r.sent_group.conversions,
            "conversion_rate": r.sent_group.conversion_rate, "holdout_rate": r.holdout.conversion_rate,
            "revenue": float(r.sent_group.revenue),
            "uplift": uplift.estimate if uplift else None, "uplift_low": uplift.low if uplift else None,
            "uplift_high": uplift.high if uplift else None,
            "significant": bool(uplift and uplift.excludes_zero), "open_windows": r.total.open_windows,
        })
    return rows
