"""What a journey did: counts per step for its diagram, and its results against the holdout.

Results reuse mailing's: the same GroupStats, the same intervals (`mailing.uplift`: the difference of
conversion rates with its normal-approximation interval, Welch's interval for revenue per client,
incremental revenue), with the journey's entrants as the treated group and its holdout as the
control. A client's window opens when they enter and lasts CRM_JOURNEY_ATTRIBUTION_DAYS: a purchase
(completed) in it is a conversion, and its amount revenue.
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Purchase
from mailing import uplift
from mailing.results import GroupStats

from .models import Position, StepRun


def step_counts(journey, version):
    """({step id: "waiting N · done M"}, {(step id, outcome): n}) for the version's diagram."""
    waiting = dict(Position.objects.filter(version=version, state__in=Position.LIVE_STATES).order_by()
                   .values("step").annotate(n=Count("pk")).values_list("step", "n"))
    taken = {(s, o): n for s, o, n in StepRun.objects.filter(position__version=version).order_by()
             .values("step", "outcome").annotate(n=Count("pk")).values_list("step", "outcome", "n")}
    done = {}
    for (sid, _outcome), n in taken.items():
        done[sid] = done.get(sid, 0) + n
    sids = set(waiting) | set(done)
    boxes = {sid: str(_("waiting %(w)d · done %(d)d") % {"w": waiting.get(sid, 0), "d": done.get(sid, 0)})
             for sid in sids}
    return boxes, taken


def position_counts(journey):
    """{state or reason: n} over every version: entered, holdout, waiting, done, exited by reason, failed."""
    rows = Position.objects.filter(journey=journey).order_by().values("state", "reason").annotate(n=Count("pk"))
    out = {"entered": 0}
    for row in rows:
        out[row["state"]] = out.get(row["state"], 0) + row["n"]
        if row["reason"] and row["state"] != Position.State.HOLDOUT:
            out[row["reason"]] = out.get(row["reason"], 0) + row["n"]
        if row["state"] != Position.State.HOLDOUT:
            out["entered"] += row["n"]
    return out


@dataclass
class JourneyResults:
    days: int
    treated: GroupStats
    holdout: GroupStats
    conversion_uplift: uplift.Interval | None
    revenue_uplift: uplift.Interval | None
    incremental_revenue: uplift.Interval | None
    incremental_conversions: uplift.Interval | None


def journey_results(journey, now=None):
    now = now or timezone.now()
    days = settings.CRM_JOURNEY_ATTRIBUTION_DAYS
    positions = Position.objects.filter(journey=journey)
    sql, params = positions.values("pk", "client_id", "entered_at", "state").query.sql_with_params()
    purchases = Purchase._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT p.state = 'holdout', COUNT(*), COUNT(s.spent), COALESCE(SUM(s.spent), 0), "
            f"COALESCE(SUM(s.spent * s.spent), 0), SUM(CASE WHEN p.entered_at + %s > %s THEN 1 ELSE 0 END) "
            f"FROM ({sql}) p LEFT JOIN LATERAL (SELECT SUM(o.amount) AS spent FROM {purchases} o "
            f"WHERE o.client_id = p.client_id AND o.status = 'completed' AND o.purchased_at > p.entered_at "
            f"AND o.purchased_at <= p.entered_at + %s HAVING COUNT(*) > 0) s ON TRUE GROUP BY 1",
            [timedelta(days=days), now, *params, timedelta(days=days)])
        rows = cursor.fetchall()
    treated, holdout = GroupStats(_("Entered the journey")), GroupStats(_("Holdout"))
    for is_holdout, n, converted, revenue, revenue_sq, open_windows in rows:
        group = holdout if is_holdout else treated
        group.audience = group.measured = n
        group.conversions, group.open_windows = converted, open_windows or 0
        group.revenue, group.revenue_sq = Decimal(revenue).quantize(Decimal("0.01")), float(revenue_sq)
    revenue = uplift.mean_difference(treated.measured, float(treated.revenue), treated.revenue_sq,
                                     holdout.measured, float(holdout.revenue), holdout.revenue_sq)
    conversion = uplift.proportion_difference(treated.conversions, treated.measured, holdout.conversions,
                                              holdout.measured)
    return JourneyResults(days=days, treated=treated, holdout=holdout, conversion_uplift=conversion,
                          revenue_uplift=revenue, incremental_revenue=uplift.scaled(revenue, treated.measured),
                          incremental_conversions=uplift.scaled(conversion, treated.measured))
