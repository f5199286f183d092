"""Figures for the loyalty page in the admin: does rewarding activity pay? Small GROUP BYs."""

from django.conf import settings
from django.db.models import Avg, Count, Q, Sum
from django.db.models.functions import TruncMonth

from segments.models import ClientScore, Segment, SegmentSize

from .models import PointsEntry, Tier

RUNS_SHOWN = 30


def points_by_month():
    """[{month, issued, spent, expired, adjusted}] newest first: issued is earned points; spent and
    expired are shown as positive numbers taken off balances; adjusted is the net of hand changes."""
    rows = (PointsEntry.objects.annotate(month=TruncMonth("day")).values("month", "kind")
            .annotate(points=Sum("points")).order_by())
    months = {}
    for row in rows:
        month = months.setdefault(row["month"], {"month": row["month"], "issued": 0, "spent": 0, "expired": 0,
                                                 "adjusted": 0})
        if row["kind"] == PointsEntry.Kind.EARNED:
            month["issued"] += row["points"]
        elif row["kind"] == PointsEntry.Kind.ADJUSTED:
            month["adjusted"] += row["points"]
        else:
            month[row["kind"]] -= row["points"]
    return sorted(months.values(), key=lambda m: m["month"], reverse=True)


def tier_sizes():
    """(tier names, [{as_of, sizes: [per tier]}]) for the last runs, newest first."""
    segments = list(Segment.objects.filter(kind=Segment.Kind.TIER).order_by("slug"))
    ranks = {t.segment_slug: t.rank for t in Tier.objects.all()}
    segments.sort(key=lambda s: (-ranks.get(s.slug, -1), s.slug))
    sizes = {}
    for row in (SegmentSize.objects.filter(segment__in=segments).order_by("-as_of", "-run_id")
                .values("run_id", "as_of", "segment_id", "size")):
        sizes.setdefault((row["as_of"], row["run_id"]), {})[row["segment_id"]] = row["size"]
    runs = sorted(sizes, reverse=True)[:RUNS_SHOWN]
    return ([s.display_name for s in segments],
            [{"as_of": as_of, "sizes": [sizes[(as_of, run)].get(s.pk, 0) for s in segments]} for as_of, run in runs])


def value_by_tier():
    """Per tier in the current scores: clients, buyers, retention (buyers with an order within the
    churn horizon), repeat rate (buyers with 2+ orders), historic LTV, predicted value, churn risk."""
    horizon = settings.CRM_CHURN_HORIZON_DAYS
    names = {t.slug: t.name for t in Tier.objects.all()}
    ranks = {t.slug: t.rank for t in Tier.objects.all()}
    rows = (ClientScore.objects.current().values("tier")
            .annotate(clients=Count("id"), buyers=Count("id", filter=Q(frequency__gt=0)),
                      retained=Count("id", filter=Q(frequency__gt=0, recency_days__lte=horizon)),
                      repeat=Count("id", filter=Q(frequency__gt=1)),
                      ltv=Avg("monetary"), predicted=Avg("predicted_clv"), churn=Avg("churn_risk")))
    out = []
    for row in rows:
        buyers = row["buyers"] or 0
        out.append({**row, "name": names.get(row["tier"], row["tier"]),
                    "retention": row["retained"] / buyers if buyers else None,
                    "repeat_rate": row["repeat"] / buyers if buyers else None})
    return sorted(out, key=lambda r: -ranks.get(r["tier"], -1))
