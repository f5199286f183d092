"""The pages' numbers: the newest snapshot (precompute.py) read for a chosen period of months,
plus the few small live tables (segment sizes, the last run's migration matrix, marketing spend).

Each chart function takes a Report and returns a charts.Chart; PAGES says which page shows which.
Nothing here touches purchases or scores: a page costs a handful of small queries.
"""

from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Sum
from django.utils.translation import gettext_lazy as _

from segments import builtin, rfm
from segments.models import Segment, SegmentSize
from segments.rules import LABELS as MEASURE_NAMES

from . import metrics
from .charts import (
    CORRELATION,
    MONEY,
    NONE_LABEL,
    NUMBER,
    POINTS,
    SCORE,
    SHARE,
    TEXT,
    Chart,
    Column,
    heat_class,
)
from .models import MarketingSpend
from .months import first_day, parse

DEFAULT_MONTHS = 12
SIZE_RUNS = 90  # runs shown in "segment sizes over time"
COHORT_ROWS = 24  # cohorts shown in the heat map (the CSV has every cohort of the period)


@dataclass
class Period:
    first: int  # index in the snapshot's months
    last: int

    @property
    def months(self):
        return self.last - self.first + 1


def choose_period(data, start=None, end=None):
    """The period asked for ('YYYY-MM' texts), kept inside the snapshot's months; by default the
    last DEFAULT_MONTHS months. Unreadable values fall back to the default."""
    n = len(data["months"])
    base = data["first"]

    def index(text, default):
        try:
            return min(max(parse(text) - base, 0), n - 1)
        except (TypeError, ValueError, AttributeError):
            return default

    last = index(end, n - 1)
    first = index(start, max(0, last - DEFAULT_MONTHS + 1))
    return Period(min(first, last), max(first, last))


class Report:
    def __init__(self, snapshot, period):
        self.snapshot = snapshot
        self.data = snapshot.data
        self.period = period

    @property
    def months(self):
        return self.data["months"][self.period.first:self.period.last + 1]

    def span(self):
        return range(self.period.first, self.period.last + 1)

    def total(self, series):
        return sum(series[i] for i in self.span())

    def definitions(self):
        keys = ("period", "active", "arpu", "arppu", "aov", "frequency", "repeat", "days_between")
        window = self.data["lapse_months"]
        return [metrics.DEFINITIONS[k] for k in keys] + [
            str(metrics.DEFINITIONS["retention"]).format(window=window, window_before=window - 1)]

    # --- the period's headline numbers -------------------------------------------------------------
    def kpis(self):
        d, a, b = self.data, self.period.first, self.period.last
        monthly = d["monthly"]
        revenue, orders = self.total(monthly["revenue"]), self.total(monthly["orders"])
        paying, active, repeat = d["buyers_range"][a][b], d["active_pairs"][a][b], d["repeat_range"][a][b]
        gap_days = metrics.range_sum(d["gap_days"], a, b)
        gaps = metrics.range_sum(d["gaps"], a, b)
        rates = [row["retention"] for row in d["retention"][a:b + 1] if row["retention"] is not None]
        retention = sum(rates) / len(rates) if rates else None
        return [
            (_("Revenue"), Column("", MONEY).shown(revenue), "period"),
            (_("Active clients"), Column("").shown(active), "active"),
            (_("Paying clients"), Column("").shown(paying), "active"),
            (_("New clients"), Column("").shown(self.total(monthly["new_buyers"])), "cac"),
            (_("ARPU"), Column("", MONEY).shown(metrics.arpu(revenue, active)), "arpu"),
            (_("ARPPU"), Column("", MONEY).shown(metrics.arppu(revenue, paying)), "arppu"),
            (_("Average order value"), Column("", MONEY).shown(metrics.average_order_value(revenue, orders)), "aov"),
            (_("Purchase frequency"), Column("", NUMBER).shown(metrics.purchase_frequency(orders, paying)),
             "frequency"),
            (_("Repeat purchase rate"), Column("", SHARE).shown(metrics.repeat_purchase_rate(repeat, paying)),
             "repeat"),
            (_("Average days between orders"), Column("", NUMBER).shown(metrics.average_days_between(gap_days, gaps)),
             "days_between"),
            (_("Monthly retention rate (average)"), Column("", SHARE).shown(retention), "retention"),
            (_("Monthly churn rate (average)"), Column("", SHARE).shown(None if retention is None else 1 - retention),
             "retention"),
        ]


# --- Overview -------------------------------------------------------------------------------------

def revenue_by_month(report):
    m = report.data["monthly"]
    rows = [[report.data["months"][i], m["revenue"][i], m["orders"][i]] for i in report.span()]
    return Chart("revenue", _("Revenue by month"), "bar",
                 [Column(_("month"), TEXT), Column(_("revenue"), MONEY, plotted=True), Column(_("orders"))], rows,
                 definition=metrics.DEFINITIONS["period"])


def clients_by_month(report):
    d = report.data
    m = d["monthly"]
    rows = [[d["months"][i], d["active_pairs"][i][i], m["buyers"][i], m["new_buyers"][i]] for i in report.span()]
    return Chart("clients", _("Clients by month"), "line",
                 [Column(_("month"), TEXT), Column(_("active clients"), plotted=True),
                  Column(_("paying clients"), plotted=True), Column(_("new clients"), plotted=True)], rows,
                 definition=metrics.DEFINITIONS["active"])


def arpu_by_month(report):
    d = report.data
    m = d["monthly"]
    rows = [[d["months"][i], metrics.arpu(m["revenue"][i], d["active_pairs"][i][i]),
             metrics.arppu(m["revenue"][i], m["buyers"][i]),
             metrics.average_order_value(m["revenue"][i], m["orders"][i])] for i in report.span()]
    return Chart("arpu", _("ARPU, ARPPU and average order value by month"), "line",
                 [Column(_("month"), TEXT), Column(_("ARPU"), MONEY, plotted=True),
                  Column(_("ARPPU"), MONEY, plotted=True), Column(_("average order value"), MONEY, plotted=True)],
                 rows, definition=" ".join(str(metrics.DEFINITIONS[k]) for k in ("arpu", "arppu", "aov")))


def rfm_grid(report):
    rows = []
    for row in report.data["rfm_grid"]:
        for cell in row["cells"]:
            rows.append([f"R{row['r']} FM{cell['fm']}", _rfm_name(cell["segment"]), cell["clients"], cell["revenue"]])
    chart = Chart("rfm", _("RFM grid: clients and revenue"), "heatmap",
                  [Column(_("cell"), TEXT), Column(_("segment"), TEXT), Column(_("clients")),
                   Column(_("revenue"), MONEY)], rows, definition=metrics.DEFINITIONS["rfm"], heat_columns=(2,))
    # Drawn as the 5 x 5 grid; the table and the CSV list the cells.
    top = max((c["clients"] for row in report.data["rfm_grid"] for c in row["cells"]), default=0)
    chart.grid = [{"r": row["r"], "cells": [
        {"name": _rfm_name(cell["segment"]), "clients_text": Column("").shown(cell["clients"]),
         "revenue_text": Column("", MONEY).shown(cell["revenue"]),
         "heat": heat_class(cell["clients"] / top if top else 0)} for cell in row["cells"]]}
        for row in report.data["rfm_grid"]]
    return chart


def _segment_name(slug, own_name):
    """The nightly run's segments in the reader's language; rule segments and tiers by their own names."""
    return builtin.segment_name(slug) if slug in builtin.NAMES else own_name


def segment_sizes(report):
    segments = list(Segment.objects.filter(kind=Segment.Kind.RFM, is_active=True).order_by("slug"))
    sizes = defaultdict(dict)
    runs = list(SegmentSize.objects.filter(segment__in=segments).order_by("-as_of")
                .values_list("as_of", flat=True).distinct()[:SIZE_RUNS])
    if runs:
        for as_of, segment_id, size in SegmentSize.objects.filter(segment__in=segments, as_of__gte=min(runs)) \
                .values_list("as_of", "segment_id", "size"):
            sizes[as_of][segment_id] = size
    rows = [[as_of.isoformat(), *(sizes[as_of].get(s.pk, 0) for s in segments)] for as_of in sorted(sizes)]
    return Chart("segment-sizes", _("RFM segment sizes over time"), "line",
                 [Column(_("as of"), TEXT),
                  *(Column(_segment_name(s.slug, s.name), plotted=True) for s in segments)], rows,
                 definition=_("Clients in each RFM segment after each nightly run."))


def _rfm_name(slug):
    return builtin.segment_name(slug) if slug else NONE_LABEL


def migration(report):
    matrix = report.snapshot.run.migration or {}
    order = list(rfm.SEGMENT_NAMES)

    def place(slug):  # champions first, "no segment" (prospects, new clients) last
        return order.index(slug) if slug in order else len(order)

    targets = sorted({t for row in matrix.values() for t in row}, key=place)
    sources = sorted(matrix, key=place)
    rows = [[_rfm_name(source), *(matrix[source].get(t) or 0 for t in targets)] for source in sources]
    # Those who stayed (the diagonal) are most clients: coloured, they would pale every move.
    stayed = frozenset((n, targets.index(source) + 1) for n, source in enumerate(sources) if source in targets)
    return Chart("migration", _("Last run: RFM migration (from rows to columns)"), "heatmap",
                 [Column(_("from \\ to"), TEXT), *(Column(_rfm_name(t)) for t in targets)], rows,
                 definition=metrics.DEFINITIONS["migration"], heat_columns=tuple(range(1, len(targets) + 1)),
                 heat_skip=stayed)


# --- Retention and cohorts -------------------------------------------------------------------------

def retention(report):
    d = report.data
    rows = [[d["months"][i], r["at_start"], r["at_end"], r["new"], r["returning"], r["retained"], r["retention"],
             r["churn"]] for i, r in zip(report.span(), d["retention"][report.period.first:report.period.last + 1],
                                          strict=True)]
    window = d["lapse_months"]
    return Chart("retention", _("Retention and churn by month"), "line",
                 [Column(_("month"), TEXT), Column(_("clients at start")), Column(_("clients at end")),
                  Column(_("new")), Column(_("returning")), Column(_("retained")),
                  Column(_("retention rate"), SHARE, plotted=True), Column(_("churn rate"), SHARE, plotted=True)],
                 rows, definition=str(metrics.DEFINITIONS["retention"]).format(window=window,
                                                                                window_before=window - 1))


def cohorts(report, limit=COHORT_ROWS):
    d = report.data
    a, b = report.period.first, report.period.last
    width = b - a + 1
    picked = list(range(a, b + 1))[-limit:] if limit else list(range(a, b + 1))
    rows = []
    for c in picked:
        counts = d["cohorts"][c]
        size = counts[0]
        shares = metrics.cohort_shares([size], [counts[:len(d["months"]) - c]])[0]
        rows.append([d["months"][c], size, *(shares[k] if k < len(shares) else None for k in range(width))])
    columns = [Column(_("first order"), TEXT), Column(_("clients")),
               *(Column(_("month %(n)s") % {"n": k}, SHARE) for k in range(width))]
    # Month 0 (column 2) is always 100%: uncoloured, so the colours spread over the later months.
    return Chart("cohorts", _("Cohorts: share of clients ordering in each month after their first"), "heatmap",
                 columns, rows, definition=metrics.DEFINITIONS["cohorts"], heat_columns=tuple(range(3, width + 2)))


def cohorts_csv(report):
    return cohorts(report, limit=None)


# --- LTV and CAC ------------------------------------------------------------------------------------

def _ltv_row(row):
    historic = metrics.ratio(row["revenue"], row["buyers"])
    predicted = metrics.ratio(row["predicted"], row["buyers"])
    total = None if historic is None else historic + (predicted or 0)
    return [row["clients"], row["buyers"], historic, predicted, total]


def _ltv_columns(first):
    return [Column(first, TEXT), Column(_("clients")), Column(_("paying clients")),
            Column(_("historic LTV"), MONEY, plotted=True), Column(_("predicted value"), MONEY, plotted=True),
            Column(_("predicted LTV"), MONEY)]


def _ltv_definition():
    return str(metrics.DEFINITIONS["ltv"]).format(horizon=settings.CRM_CLV_HORIZON_DAYS)


def ltv_by_channel(report):
    rows = [[r["key"] or NONE_LABEL, *_ltv_row(r)] for r in report.data["ltv"]["channel"]]
    return Chart("ltv-channel", _("LTV by acquisition channel"), "bar", _ltv_columns(_("channel")), rows,
                 definition=_ltv_definition())


def ltv_by_cohort(report):
    months = set(report.months)
    rows = [[r["key"], *_ltv_row(r)] for r in report.data["ltv"]["cohort"] if r["key"] in months]
    return Chart("ltv-cohort", _("LTV by first-order cohort"), "bar", _ltv_columns(_("first order")), rows,
                 definition=_ltv_definition())


def ltv_by_band(report):
    rows = [[builtin.band_name(r["key"]) if r["key"] else NONE_LABEL, *_ltv_row(r)] for r in report.data["ltv"]["band"]]
    return Chart("ltv-band", _("LTV by engagement band"), "bar", _ltv_columns(_("engagement band")), rows,
                 definition=_ltv_definition())


def spend_by_channel(report):
    """{channel: spend in the period}: a GROUP BY over the small spend table."""
    start = first_day(report.data["first"] + report.period.first)
    end = first_day(report.data["first"] + report.period.last)
    return {r["channel"]: r["total"] for r in MarketingSpend.objects.filter(month__gte=start, month__lte=end)
            .values("channel").annotate(total=Sum("amount")).order_by()}


def cac(report):
    spend = spend_by_channel(report)
    ltv = {r["key"]: _ltv_row(r)[4] for r in report.data["ltv"]["channel"]}
    customers = {r["key"]: r["buyers"] for r in report.data["ltv"]["channel"]}
    channels = report.data["channels"]
    rows = []
    for name in sorted(set(spend) | set(channels), key=lambda c: (-float(spend.get(c) or 0), c)):
        series = channels.get(name, {})
        new = report.total(series["new_buyers"]) if series else 0
        revenue = report.total(series["revenue"]) if series else 0
        money = spend.get(name)
        acquisition = metrics.cac(money, new) if money is not None else None
        monthly = metrics.ratio(metrics.ratio(revenue, report.period.months), customers.get(name))
        rows.append([name or NONE_LABEL, float(money) if money is not None else None, new, acquisition,
                     ltv.get(name), metrics.ltv_to_cac(ltv.get(name), acquisition), monthly,
                     metrics.payback_months(acquisition, monthly)])
    return Chart("cac", _("CAC, LTV:CAC and payback by channel"), "bar",
                 [Column(_("channel"), TEXT), Column(_("spend"), MONEY), Column(_("new clients")),
                  Column(_("CAC"), MONEY, plotted=True), Column(_("predicted LTV"), MONEY, plotted=True),
                  Column(_("LTV:CAC"), NUMBER), Column(_("monthly revenue per client"), MONEY),
                  Column(_("payback, months"), NUMBER)], rows, definition=metrics.DEFINITIONS["cac"],
                 note=_("Spend is entered per channel and month in Analytics → Marketing spend (or imported as CSV)."))


# --- Surveys -------------------------------------------------------------------------------------

def _survey_totals(report):
    """{(segment, kind): counts per score} over the period's months."""
    a, b = report.period.first, report.period.last
    totals = defaultdict(lambda: [0] * 11)
    for segment, kind, month, score, count in report.data["surveys"]["rows"]:
        if a <= month <= b:
            totals[(segment, kind)][score] += count
    return totals


def _survey_groups(totals, kind):
    """(segment, counts) of one kind: everyone who answered first, then each segment (all-clients
    is left out by the snapshot: the same people), by the segments' kind and name."""
    rank = {"": (0, "")}
    rank.update({slug: (1 + KIND_ORDER.index(k) if k in KIND_ORDER else 9, slug)
                 for slug, k in Segment.objects.values_list("slug", "kind")})
    groups = [(seg, counts) for (seg, k), counts in totals.items() if k == kind]
    return sorted(groups, key=lambda g: rank.get(g[0], (9, g[0])))


KIND_ORDER = ["rfm", "churn", "engagement", "tier", "rule", "builtin"]


def _segment_label(report, slug):
    if not slug:
        return _("All clients who answered")
    return _segment_name(slug, report.data["surveys"]["names"].get(slug, slug))


def nps_by_segment(report):
    totals = _survey_totals(report)
    rows = []
    for segment, counts in _survey_groups(totals, "nps"):
        rows.append([_segment_label(report, segment), sum(counts), sum(counts[9:11]), sum(counts[7:9]),
                     sum(counts[0:7]), metrics.nps(counts)])
    return Chart("nps", _("NPS by segment"), "bar",
                 [Column(_("segment"), TEXT), Column(_("answers")), Column(_("promoters (9–10)")),
                  Column(_("passives (7–8)")), Column(_("detractors (0–6)")), Column(_("NPS"), SCORE, plotted=True)],
                 rows, definition=metrics.DEFINITIONS["nps"])


def csat_by_segment(report):
    totals = _survey_totals(report)
    rows = []
    for segment, counts in _survey_groups(totals, "csat"):
        scale = counts[1:6]
        rows.append([_segment_label(report, segment), sum(scale), sum(scale[3:5]), metrics.csat(scale)])
    return Chart("csat", _("CSAT by segment"), "bar",
                 [Column(_("segment"), TEXT), Column(_("answers")), Column(_("satisfied (4–5)")),
                  Column(_("CSAT"), SHARE, plotted=True)], rows, definition=metrics.DEFINITIONS["nps"])


def surveys_by_month(report):
    per_month = defaultdict(lambda: [0] * 11)
    for segment, kind, month, score, count in report.data["surveys"]["rows"]:
        if not segment:
            per_month[(kind, month)][score] += count
    rows = []
    for i in report.span():
        nps_counts, csat_counts = per_month[("nps", i)], per_month[("csat", i)][1:6]
        rows.append([report.data["months"][i], sum(nps_counts), metrics.nps(nps_counts), sum(csat_counts),
                     metrics.csat(csat_counts)])
    return Chart("surveys-month", _("NPS by month"), "line",
                 [Column(_("month"), TEXT), Column(_("NPS answers")), Column(_("NPS"), SCORE, plotted=True),
                  Column(_("CSAT answers")), Column(_("CSAT"), SHARE)], rows, definition=metrics.DEFINITIONS["nps"])


# --- Campaigns -------------------------------------------------------------------------------------

def campaigns(report):
    rows = [[c["name"], c["launched_at"], c["sent"], c["holdout"], c["conversions"], c["conversion_rate"],
             c["holdout_rate"], c["revenue"], c["uplift"], c["uplift_low"], c["uplift_high"], c["open_windows"]]
            for c in report.data["campaigns"]]
    return Chart("campaigns", _("Last campaigns: conversion of the sent group and of the holdout"), "bar",
                 [Column(_("campaign"), TEXT), Column(_("launched"), TEXT), Column(_("sent")),
                  Column(_("holdout")), Column(_("conversions")),
                  Column(_("conversion rate"), SHARE, plotted=True), Column(_("holdout conversion rate"), SHARE,
                                                                              plotted=True),
                  Column(_("revenue"), MONEY), Column(_("uplift"), POINTS), Column(_("uplift, low"), POINTS),
                  Column(_("uplift, high"), POINTS), Column(_("windows still open"))], rows,
                 definition=metrics.DEFINITIONS["campaigns"])


# --- Engagement -----------------------------------------------------------------------------------
# The visit measures (segments/visits.py, docs/scoring.md#visits); snapshots from before them have none.

MEASURE_KINDS = {"visits_30": NUMBER, "visits_90": NUMBER, "visit_seconds": NUMBER, "bounce_rate": SHARE,
                 "visit_gap_days": NUMBER, "visit_conversion": SHARE}
_VISIT_DEFINITION = _("A visit is a session sent by the shop, or page views and events with no longer pause than "
                      "the inactivity gap. Bounce: one page at most, or shorter than the bounce time. Conversion: "
                      "a target action, or an order during the visit or within the gap after it.")


def _engagement(report):
    return report.data.get("engagement") or {}


def visits_by_month(report):
    months = _engagement(report).get("months")
    rows = [[report.data["months"][i], months["visits"][i], months["visitors"][i]] for i in report.span()] \
        if months else []
    return Chart("engagement-visits", _("Visits by month"), "line",
                 [Column(_("month"), TEXT), Column(_("visits"), plotted=True), Column(_("visitors"), plotted=True)],
                 rows, definition=_VISIT_DEFINITION)


def visit_quality_by_month(report):
    months = _engagement(report).get("months")
    rows = [[report.data["months"][i], months["seconds"][i], months["bounce_rate"][i], months["conversion"][i],
             months["gap_days"][i]] for i in report.span()] if months else []
    return Chart("engagement-quality", _("Time per visit, bounce rate and conversion by month"), "line",
                 [Column(_("month"), TEXT), Column(MEASURE_NAMES["visit_seconds"], NUMBER),
                  Column(MEASURE_NAMES["bounce_rate"], SHARE, plotted=True),
                  Column(MEASURE_NAMES["visit_conversion"], SHARE, plotted=True),
                  Column(MEASURE_NAMES["visit_gap_days"], NUMBER)], rows,
                 definition=_("By the month each visit started; the median days between visits by the month of "
                              "the later visit."))


def _measure_columns(first):
    return [Column(first, TEXT), Column(_("clients")),
            *(Column(MEASURE_NAMES[name], MEASURE_KINDS[name], plotted=name == "visits_90")
              for name in MEASURE_KINDS)]


_AVERAGES = _("Averages over the clients with a value, from the last nightly run.")


def engagement_by_channel(report):
    rows = [[key or NONE_LABEL, *values] for key, *values in _engagement(report).get("channel", [])]
    return Chart("engagement-channel", _("Visit measures by acquisition channel"), "bar",
                 _measure_columns(_("channel")), rows, definition=_AVERAGES)


def engagement_by_segment(report):
    names = dict(Segment.objects.values_list("slug", "name"))
    rows = [[_segment_name(slug, names.get(slug, slug)), *values]
            for slug, *values in _engagement(report).get("segment", [])]
    return Chart("engagement-segment", _("Visit measures by segment"), "bar", _measure_columns(_("segment")), rows,
                 definition=_AVERAGES)


def ltv_by_measure_band(report):
    rows = []
    for name, band, low, high, clients, buyers, revenue, predicted in _engagement(report).get("bands", []):
        column = Column("", MEASURE_KINDS[name])
        rows.append([f"{MEASURE_NAMES[name]}: Q{band} ({column.shown(low)} – {column.shown(high)})", clients, buyers,
                     revenue, predicted])
    return Chart("engagement-ltv", _("LTV by quartile of each visit measure"), "bar",
                 [Column(_("measure: quartile (range)"), TEXT), Column(_("clients")), Column(_("paying clients")),
                  Column(_("revenue per client"), MONEY, plotted=True),
                  Column(_("predicted value per client"), MONEY, plotted=True)], rows,
                 definition=_("Clients with a value, split into four equal groups by it (Q1 lowest); equal values "
                              "stay in one group, so a measure with many equal values has fewer. Revenue to date and "
                              "predicted value per client of the group, paying or not."))


def measure_correlation(report):
    found = _engagement(report).get("correlation") or {}
    rows = [[MEASURE_NAMES[name], rho, low, high, n] for name, rho, low, high, n in found.get("rows", [])]
    return Chart("engagement-correlation", _("How each visit measure goes with next-period revenue"), "bar",
                 [Column(_("measure"), TEXT), Column(_("rank correlation"), CORRELATION, plotted=True),
                  Column(_("interval, low"), CORRELATION), Column(_("interval, high"), CORRELATION),
                  Column(_("clients"))], rows,
                 definition=_("Spearman's rank correlation between each measure as it was %(days)s days before the "
                              "last nightly run and the client's revenue in those %(days)s days, over the clients "
                              "known then with a value; its 95%% interval by Fisher's z. From -1 to 1: 0 means the "
                              "measure tells nothing about the revenue that followed.")
                 % {"days": found.get("horizon_days", settings.CRM_CHURN_HORIZON_DAYS)})


PAGES = {
    "overview": (_("Overview"), [revenue_by_month, clients_by_month, arpu_by_month, rfm_grid, segment_sizes,
                                 migration]),
    "retention": (_("Retention and cohorts"), [retention, cohorts]),
    "ltv": (_("LTV and CAC"), [ltv_by_channel, cac, ltv_by_cohort, ltv_by_band]),
    "engagement": (_("Engagement"), [visits_by_month, visit_quality_by_month, engagement_by_channel,
                                     engagement_by_segment, ltv_by_measure_band, measure_correlation]),
    "surveys": (_("Surveys: NPS and CSAT"), [nps_by_segment, csat_by_segment, surveys_by_month]),
    "campaigns": (_("Campaigns"), [campaigns]),
}
# A chart's CSV address -> the function that makes it (the cohorts' CSV holds every cohort of the period).
CSV_CHARTS = {"revenue": revenue_by_month, "clients": clients_by_month, "arpu": arpu_by_month, "rfm": rfm_grid,
              "segment-sizes": segment_sizes, "migration": migration, "retention": retention, "cohorts": cohorts_csv,
              "ltv-channel": ltv_by_channel, "ltv-cohort": ltv_by_cohort, "ltv-band": ltv_by_band, "cac": cac,
              "nps": nps_by_segment, "csat": csat_by_segment, "surveys-month": surveys_by_month,
              "campaigns": campaigns, "engagement-visits": visits_by_month,
              "engagement-quality": visit_quality_by_month, "engagement-channel": engagement_by_channel,
              "engagement-segment": engagement_by_segment, "engagement-ltv": ltv_by_measure_band,
              "engagement-correlation": measure_correlation}
