"""The dashboards' snapshot: everything heavy, computed once after a nightly run has succeeded.

    build_snapshot(run)  is called by the task queued from receivers.py, and by
                         `manage.py build_analytics` (the current run).

Purchases are read once into a temporary table of (client, month) rows with their orders, revenue
and first and last order time, and each row's neighbours (previous, next month with an order):
about one row per client and month they bought in. Small GROUP BYs over it give per-month totals
and (month, month) pairs, from which metrics.range_counts answers "distinct clients in months a..b"
for every period of whole months, so the pages never touch purchases. Everything is "as of" the
run: rows at or after the end of its as-of day are not read.

Buys: every dashboard page and chart answers from one stored snapshot (bench/analytics_pages.py).
"""

import datetime as dt
import logging
import time
from contextlib import contextmanager
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from core.sql import execute, rows, set_local, table
from crm.models import Activity, Client, Purchase, SurveyAnswer
from segments import dashboard
from segments.aggregates import cut_time
from segments.models import ClientScore, Segment, SegmentMembership

from . import engagement, metrics
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


def build_snapshot(run):
    """Compute and store the snapshot of `run` (replacing one it had); keep the last few."""
    started = time.monotonic()
    data = compute(run)
    seconds = round(time.monotonic() - started, 2)
    snapshot, _ = Snapshot.objects.update_or_create(run=run, defaults={"data": data, "seconds": seconds})
    old = Snapshot.objects.order_by("-run__finished_at", "-id").values_list("pk", flat=True)[KEEP_SNAPSHOTS:]
    Snapshot.objects.filter(pk__in=list(old)).delete()
    log.info("analytics snapshot of run %s computed in %.1f s", run.pk, seconds)
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


def compute(run):
    cut = cut_time(run.as_of)
    last = index_of(run.as_of)
    clock = _Clock()
    with transaction.atomic():
        with clock("client months"):
            reader = _Reader(cut)
        first_month = reader.first_month()
        first = last if first_month is None else max(first_month, last - MAX_MONTHS + 1)
        data = {
            "as_of": run.as_of.isoformat(), "run": run.pk, "currency": settings.CRM_CURRENCY,
            "months": [label(m) for m in range(first, last + 1)], "first": first,
            "partial_last": (run.as_of + dt.timedelta(days=1)).day != 1,
            "lapse_months": lapse_months(),
        }
        with clock("purchase tables"):
            data.update(reader.purchases(first, last))
        with clock("active clients"):
            data["active_pairs"] = reader.active_pairs(first, last)
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


# date_part (double precision) rather than EXTRACT (numeric): on a big shop the numeric arithmetic
# alone took longer than reading the table.

def _epoch_days(expression):
    return f"(date_part('epoch', {expression}) / 86400.0)"


def _month(column):
    """SQL for the month number (year * 12 + month - 1) of a timestamp column in TIME_ZONE."""
    tz = settings.TIME_ZONE
    local = f"({column} AT TIME ZONE %s)"
    return f"CAST(date_part('year', {local}) * 12 + date_part('month', {local}) - 1 AS INTEGER)", [tz, tz]


class _Reader:
    """The temporary (client, month) tables and the small GROUP BYs over them, inside the caller's
    transaction, which drops the tables at its commit."""

    CM = "analytics_client_month"
    CMW = "analytics_client_month_w"

    def __init__(self, cut):
        self.cut = cut
        set_local("work_mem", settings.CRM_NIGHTLY_WORK_MEM)
        set_local("jit", "off")  # JIT compiles each of these statements for longer than it saves
        for name in (self.CM, self.CMW):
            execute(f"DROP TABLE IF EXISTS {name}")
        month, params = _month("purchased_at")
        execute(
            f"CREATE TEMPORARY TABLE {self.CM} ON COMMIT DROP AS "
            f"SELECT client_id, {month} AS m, COUNT(*) AS n, SUM(CAST(amount AS DOUBLE PRECISION)) AS amt, "
            f"{_epoch_days('MIN(purchased_at)')} AS first_d, {_epoch_days('MAX(purchased_at)')} AS last_d "
            f"FROM {table(Purchase)} WHERE status = 'completed' AND purchased_at < %s GROUP BY 1, 2",
            [*params, cut])
        # Each (client, month) row with its neighbours: the previous and next month the client ordered in.
        execute(
            f"CREATE TEMPORARY TABLE {self.CMW} ON COMMIT DROP AS "
            f"SELECT client_id, m, n, amt, first_d, last_d, LAG(m) OVER w AS prev_m, LAG(last_d) OVER w AS prev_last, "
            f"LEAD(m) OVER w AS next_m, FIRST_VALUE(m) OVER w AS first_m FROM {self.CM} "
            f"WINDOW w AS (PARTITION BY client_id ORDER BY m)")

    def first_month(self):
        return rows(f"SELECT MIN(m) FROM {self.CM}")[0][0]

    def purchases(self, first, last):
        n = last - first + 1
        w = lapse_months()
        span = range(first, last + 1)

        def at(month):
            return month - first

        monthly = {key: [0] * n for key in ("revenue", "orders", "buyers", "new_buyers", "gap_days", "gaps")}
        # Spells (retention: metrics.lapse_coverage) are counted over every month with data, not just
        # the window: clients at the start of the window's first month come from before it.
        spells = {}
        for m, amt, orders, buyers, new, gap_days, gaps, starts, ends in rows(
                f"SELECT m, SUM(amt), SUM(n), COUNT(*), SUM(CASE WHEN prev_m IS NULL THEN 1 ELSE 0 END), "
                f"SUM(last_d - first_d), SUM(n - 1), "
                f"SUM(CASE WHEN prev_m IS NULL OR m - prev_m > {w} THEN 1 ELSE 0 END), "
                f"SUM(CASE WHEN next_m IS NULL OR next_m - m > {w} THEN 1 ELSE 0 END) "
                f"FROM {self.CMW} GROUP BY m"):
            spells[m] = (int(starts), int(new), int(ends))
            if m in span:
                i = at(m)
                monthly["revenue"][i] = round(float(amt or 0), 2)
                monthly["orders"][i], monthly["buyers"][i] = int(orders), int(buyers)
                monthly["new_buyers"][i] = int(new)
                monthly["gap_days"][i], monthly["gaps"][i] = float(gap_days or 0), int(gaps or 0)
        lo = min([*spells, first])
        starts, new, ends = ([spells.get(m, (0, 0, 0))[j] for m in range(lo, last + 1)] for j in range(3))
        retention = metrics.retention_by_month(starts, new, ends, w)[first - lo:]

        # Gaps between consecutive orders in two different months, by (earlier month, later month).
        pair_rows = rows(
            f"SELECT prev_m, m, COUNT(*), SUM(CASE WHEN prev_m IS NULL THEN 0 ELSE first_d - prev_last END) "
            f"FROM {self.CMW} WHERE m >= %s GROUP BY prev_m, m", [first])
        buyers = metrics.range_counts(metrics.pair_events((_idx(p, first), at(m), c) for p, m, c, _ in pair_rows), n)
        gap_days = [[0.0] * n for _ in range(n)]
        gaps = [[0] * n for _ in range(n)]
        for i in range(n):
            gap_days[i][i], gaps[i][i] = monthly["gap_days"][i], monthly["gaps"][i]
        for p, m, count, days in pair_rows:
            if p is not None and p >= first:
                gap_days[at(p)][at(m)] += float(days or 0)
                gaps[at(p)][at(m)] += int(count)

        # Clients with two orders in months a..b: for a in (prev, m] the first order from a on is
        # in m, and the second in m again (two orders that month) or in the next month with one.
        second = "CASE WHEN n >= 2 THEN m ELSE next_m END"
        events = [(_idx(p, first, after=True), at(b), int(c)) for p, b, c in rows(
            f"SELECT prev_m, {second}, COUNT(*) FROM {self.CMW} WHERE {second} >= %s GROUP BY 1, 2", [first])]
        events += [(at(m) + 1, at(b), -int(c)) for m, b, c in rows(
            f"SELECT m, {second}, COUNT(*) FROM {self.CMW} WHERE {second} >= %s GROUP BY 1, 2", [first])]
        repeat = metrics.range_counts(events, n)

        cohorts = [[0] * n for _ in range(n)]
        for first_m, m, count in rows(
                f"SELECT first_m, m, COUNT(*) FROM {self.CMW} WHERE first_m >= %s GROUP BY 1, 2", [first]):
            cohorts[at(first_m)][m - first_m] = int(count)

        channels = {}
        for channel, m, amt, new in rows(
                f"SELECT c.acquisition_channel, w.m, SUM(w.amt), "
                f"SUM(CASE WHEN w.prev_m IS NULL THEN 1 ELSE 0 END) FROM {self.CMW} w "
                f"JOIN {table(Client)} c ON c.id = w.client_id WHERE w.m >= %s GROUP BY 1, 2", [first]):
            row = channels.setdefault(channel or "", {k: [0] * n for k in CHANNEL_SERIES})
            row["revenue"][at(m)], row["new_buyers"][at(m)] = round(float(amt or 0), 2), int(new)

        return {"monthly": monthly, "buyers_range": buyers.tolist(), "repeat_range": repeat.tolist(),
                "gap_days": gap_days, "gaps": gaps, "retention": retention, "cohorts": cohorts,
                "channels": channels}

    def active_pairs(self, first, last):
        """Range counts of clients with an order or an activity event (the ARPU denominator)."""
        month, params = _month("occurred_at")
        found = rows(
            f"SELECT prev_m, m, COUNT(*) FROM (SELECT m, LAG(m) OVER (PARTITION BY client_id ORDER BY m) AS prev_m "
            f"FROM (SELECT client_id, m FROM {self.CM} UNION "
            f"SELECT client_id, {month} FROM {table(Activity)} WHERE occurred_at < %s) u) x "
            f"WHERE m >= %s GROUP BY prev_m, m", [*params, self.cut, first])
        n = last - first + 1
        counts = metrics.range_counts(metrics.pair_events((_idx(p, first), m - first, c) for p, m, c in found), n)
        return counts.tolist()


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
    month, params = _month("a.answered_at")
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
