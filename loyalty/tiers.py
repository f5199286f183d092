"""Tiers as of a night: each client's points and active days over each tier's rolling window, read
set-based, then the highest-ranked tier whose thresholds they meet (numpy). Every tier has a
segment `tier-<slug>` kept by the nightly run, so entering and leaving a tier is in the membership
history and triggered campaigns can fire on "reached Gold" (entering tier-gold)."""

import datetime as dt

import numpy as np
from django.db import transaction
from django.utils.translation import gettext_noop

from core.sql import day_number, local_day, start_of, table
from crm.models import Activity
from segments import aggregates
from segments.models import Segment

from .models import PointsEntry, Tier

TIER_KIND = Segment.Kind.TIER
DESCRIPTION = gettext_noop("Clients in this loyalty tier as of the last nightly run.")


def assign(tiers, points, active_days, n):
    """The slug of each of `n` clients' tier ('' for none).

    tiers: [(rank, slug, min_points, min_active_days, window_days)]; points, active_days:
    {window_days: array per client}. The highest-ranked tier whose thresholds a client meets wins."""
    out = np.full(n, "", dtype=object)
    for _rank, slug, min_points, min_days, window in sorted(tiers):
        meets = np.ones(n, dtype=bool)
        if min_points > 0:
            meets &= points[window] >= min_points
        if min_days > 0:
            meets &= active_days[window] >= min_days
        out[meets] = slug
    return out


def tiers_as_of(ids, as_of, cut):
    """Each client's tier slug as of the day (ids sorted, as segments.aggregates.client_ids gives them)."""
    tiers = [(t.rank, t.slug, t.min_points, t.min_active_days, t.window_days) for t in Tier.objects.all()]
    if not tiers or ids.size == 0:
        return np.full(ids.size, "", dtype=object)
    point_windows = sorted({w for _, _, p, _, w in tiers if p > 0})
    day_windows = sorted({w for _, _, _, d, w in tiers if d > 0})
    place = aggregates.placer(ids)
    n = ids.size
    points, days = {}, {}
    params = {"as_of": as_of, "cut": cut}
    if point_windows:
        cols = []
        for i, w in enumerate(point_windows):
            params[f"from{i}"] = as_of - dt.timedelta(days=w - 1)
            cols.append(f"SUM(points) FILTER (WHERE day >= %(from{i})s) AS c{i}")
        params["earliest"] = params[f"from{len(point_windows) - 1}"]  # the widest window's start
        found = aggregates.per_client(
            f"SELECT client_id, {', '.join(cols)} FROM {table(PointsEntry)} "
            f"WHERE kind IN ('earned', 'adjusted') AND day >= %(earliest)s AND day <= %(as_of)s GROUP BY client_id",
            params, len(point_windows), n, place)
        points = {w: np.nan_to_num(found[:, i]) for i, w in enumerate(point_windows)}
    if day_windows:
        # Whole local days: a window of w days ends with the as-of day.
        cols = []
        for i, w in enumerate(day_windows):
            params[f"dfrom{i}"] = start_of(as_of - dt.timedelta(days=w - 1))
            cols.append(f"COUNT(DISTINCT dn) FILTER (WHERE t >= %(dfrom{i})s) AS c{i}")
        found = aggregates.per_client(
            f"SELECT client_id, {', '.join(cols)} FROM (SELECT client_id, occurred_at AS t, "
            f"{day_number(local_day('occurred_at'))} AS dn FROM {table(Activity)} "
            f"WHERE occurred_at >= %(dfrom{len(day_windows) - 1})s AND occurred_at < %(cut)s) a GROUP BY client_id",
            params, len(day_windows), n, place)
        days = {w: np.nan_to_num(found[:, i]) for i, w in enumerate(day_windows)}
    return assign(tiers, points, days, n)


def sync_segments():
    """A segment per tier (named like it, kind "tier"), switched off when its tier is gone: its
    history stays. A slug taken by a segment of another kind is left alone (the tier form refuses it)."""
    with transaction.atomic():
        wanted = {t.segment_slug: t for t in Tier.objects.all()}
        existing = {s.slug: s for s in Segment.objects.filter(slug__in=wanted)}
        for slug, tier in wanted.items():
            segment = existing.get(slug)
            if segment is None:
                Segment.objects.create(slug=slug, name=tier.name, kind=TIER_KIND, description=DESCRIPTION)
            elif segment.kind == TIER_KIND and (segment.name != tier.name or not segment.is_active):
                Segment.objects.filter(pk=segment.pk).update(name=tier.name, is_active=True)
        Segment.objects.filter(kind=TIER_KIND, is_active=True).exclude(slug__in=wanted).update(is_active=False)
