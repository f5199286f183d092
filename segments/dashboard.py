"""Numbers for the scores dashboard in the admin, read from the current run (small GROUP BYs)."""

from django.conf import settings
from django.db.models import Avg, Count, Q, Sum

from . import rfm
from .builtin import band_name, segment_name
from .models import ClientScore

BAND_ORDER = {"high": 0, "medium": 1, "low": 2}


def rfm_grid():
    """Rows R 5..1, columns FM 1..5: {segment, clients, revenue} per cell."""
    levels = settings.CRM_RFM_LEVELS
    cells = {}
    groups = (ClientScore.objects.current().filter(frequency__gt=0).values("r", "f", "m")
              .annotate(clients=Count("id"), revenue=Sum("monetary")))
    for g in groups:
        r5 = rfm.five_point(g["r"], levels)
        fm5 = rfm.five_point((g["f"] + g["m"] + 1) // 2, levels)
        cell = cells.setdefault((r5, fm5), {"clients": 0, "revenue": 0})
        cell["clients"] += g["clients"]
        cell["revenue"] += g["revenue"] or 0
    return [
        {"r": r, "cells": [{"fm": fm + 1, "segment": name, "label": segment_name(name),
                            **cells.get((r, fm + 1), {"clients": 0, "revenue": 0})}
                           for fm, name in enumerate(rfm.SEGMENT_GRID[r])]}
        for r in (5, 4, 3, 2, 1)
    ]


def value_by_engagement():
    """Whether activity goes with value: clients, historic LTV and predicted value per band."""
    rows = (ClientScore.objects.current().values("engagement_band")
            .annotate(clients=Count("id"), buyers=Count("id", filter=Q(frequency__gt=0)),
                      ltv=Avg("monetary"), predicted=Avg("predicted_clv"), churn=Avg("churn_risk")))
    rows = sorted(rows, key=lambda row: BAND_ORDER.get(row["engagement_band"], 9))
    return [{**row, "band": band_name(row["engagement_band"])} for row in rows]
