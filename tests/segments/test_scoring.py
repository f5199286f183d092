"""The binary COPY path of the score writer stores what the plain-rows oracle says."""

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest

from crm.models import Client
from nightly import pipeline
from segments import scoring
from segments.aggregates import epoch_days
from segments.models import ClientScore, ScoringRun

from .oracles import score_rows

pytestmark = pytest.mark.django_db

NAN = np.nan


def columns():
    return {
        "recency_days": np.array([3.0, NAN]),
        "frequency": np.array([2, 0]),
        "monetary": np.array([1234.56, 0.0]),
        "avg_order_value": np.array([617.28, NAN]),
        "first_purchase_at": np.array([20000.5, NAN]),
        # Times come from stored instants (whole microseconds) as float days.
        "last_purchase_at": np.array([epoch_days(dt.datetime(2025, 1, 12, 2, 57, 46, 123457, tzinfo=dt.UTC)), NAN]),
        "avg_days_between": np.array([99.62, NAN]),
        "r": np.array([5, 0], dtype=np.int16),
        "f": np.array([3, 0], dtype=np.int16),
        "m": np.array([4, 0], dtype=np.int16),
        "rfm_segment": np.array(["champions", ""], dtype=object),
        "churn_risk": np.array([0.123456, NAN]),
        "churn_band": np.array(["low", ""], dtype=object),
        "predicted_clv": np.array([99.99, 0.0]),
        "next_order_at": np.array([12.0, NAN]),
        "activity_30": np.array([1, 0]),
        "activity_90": np.array([4, 0]),
        "days_since_activity": np.array([2.0, NAN]),
        "engagement_score": np.array([55.5, 0.0]),
        "engagement_band": np.array(["medium", "low"], dtype=object),
        "tier": np.array(["gold", ""], dtype=object),
        "visits_30": np.array([2, 0]),
        "visits_90": np.array([5, 0]),
        "visit_seconds": np.array([312.5, NAN]),
        "bounce_rate": np.array([0.2, NAN]),
        "visit_gap_days": np.array([11.25, NAN]),
        "visit_conversion": np.array([0.4, NAN]),
        "churn_reasons": np.array(["long_gap,activity_down", ""], dtype=object),
        "churn_reason": np.array(["long_gap", ""], dtype=object),
        "value_reasons": np.array(["big_orders", ""], dtype=object),
        "value_reason": np.array(["big_orders", ""], dtype=object),
    }


def test_it_writes_the_same_values_as_the_plain_rows():
    clients = [Client.objects.create(external_id=f"c{i}") for i in range(2)]
    ids = np.array([c.pk for c in clients])
    as_of = dt.date(2026, 6, 30)
    run = ScoringRun.objects.create(as_of=as_of)
    pipeline._write_scores(run, ids, columns())
    stored = {s.client_id: s for s in ClientScore.objects.filter(run=run)}
    for row in score_rows(ids, columns(), as_of):
        score = stored[row[0]]
        for name, expected in zip(scoring.ROW_COLUMNS[1:], row[1:]):
            got = getattr(score, name)
            if isinstance(got, Decimal):
                got = float(got)
            assert got == expected, (name, got, expected)
