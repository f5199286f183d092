"""From aggregates and model outputs to the columns of a ClientScore row. Pure numpy."""

import numpy as np

from core import pgcopy

from . import engagement, reasons, rfm
from .aggregates import EPOCH


def churn_bands(probability, medium, high):
    out = np.full(probability.shape, "", dtype=object)
    known = np.isfinite(probability)
    out[known] = "low"
    out[known & (probability >= medium)] = "medium"
    out[known & (probability >= high)] = "high"
    return out


def calendar_days(days_before_cut):
    """Whole days between the as-of date and the day of an event (0 = on the as-of day itself).
    The cut-off is the midnight after the as-of day, so an event d days before it is on day ceil(d) - 1."""
    return np.ceil(days_before_cut) - 1


def global_cuts(current, levels):
    """Cut-offs computed once over all clients, so id ranges can be scored apart and agree."""
    buyers = current["frequency"] > 0
    return {
        "r": rfm.boundaries(current["last_days"][buyers], levels).tolist(),
        "f": rfm.boundaries(current["frequency"][buyers].astype(float), levels).tolist(),
        "m": rfm.boundaries(current["monetary"][buyers], levels).tolist(),
        "engagement": engagement.reference(current),
    }


def columns(current, churn, value, cuts, levels, bands, as_of, tier, why):
    """Score columns (numpy arrays) for the clients of `current`; `tier`: each client's loyalty tier
    slug ('' for none); `why`: {"churn": codes, "value": codes}, each client's drivers
    (segments/reasons.py, comma-separated, main first; '' for none)."""
    frequency = current["frequency"]
    buyers = frequency > 0
    last_days = np.where(buyers, current["last_days"], np.nan)
    r = rfm.score_lower_is_better(last_days, np.array(cuts["r"]))
    f = rfm.score_higher_is_better(np.where(buyers, frequency, np.nan), np.array(cuts["f"]))
    m = rfm.score_higher_is_better(np.where(buyers, current["monetary"], np.nan), np.array(cuts["m"]))
    spans = current["last_time"] - current["first_time"]
    with np.errstate(invalid="ignore", divide="ignore"):
        avg_between = np.where(frequency > 1, spans / (frequency - 1), np.nan)
        aov = np.where(buyers, current["monetary"] / frequency, np.nan)
    score = engagement.scores(current, cuts["engagement"])
    churn_p = np.where(buyers, churn.probability, np.nan)
    next_days = np.where(buyers, value.next_order_days, np.nan)
    return {
        "recency_days": calendar_days(last_days),
        "frequency": frequency,
        "monetary": np.round(current["monetary"], 2),
        "avg_order_value": np.round(aov, 2),
        "first_purchase_at": current["first_time"],
        "last_purchase_at": current["last_time"],
        "avg_days_between": np.round(avg_between, 2),
        "r": r,
        "f": f,
        "m": m,
        "rfm_segment": rfm.named_segments(r, f, m, levels),
        "churn_risk": np.round(churn_p, 6),
        "churn_band": churn_bands(churn_p, *bands),
        "predicted_clv": np.round(np.maximum(np.nan_to_num(value.expected_revenue), 0), 2),
        "next_order_at": np.floor(next_days),  # days after as-of; turned into dates when written
        "activity_30": current["activity_30"],
        "activity_90": current["activity_90"],
        "days_since_activity": calendar_days(current["activity_days"]),
        "engagement_score": score,
        "engagement_band": engagement.bands(score),
        "tier": tier,
        "visits_30": current["visits_30"],
        "visits_90": current["visits_90"],
        "visit_seconds": np.round(current["visit_seconds"], 1),
        "bounce_rate": np.round(current["bounce_rate"], 4),
        "visit_gap_days": np.round(current["visit_gap_days"], 2),
        "visit_conversion": np.round(current["visit_conversion"], 4),
        "churn_reasons": why["churn"],
        "churn_reason": reasons.main(why["churn"]),
        "value_reasons": why["value"],
        "value_reason": reasons.main(why["value"]),
    }


ROW_COLUMNS = [
    "client_id", "recency_days", "frequency", "monetary", "avg_order_value", "first_purchase_at",
    "last_purchase_at", "avg_days_between", "r", "f", "m", "rfm_segment", "churn_risk", "churn_band",
    "predicted_clv", "next_order_at", "activity_30", "activity_90", "days_since_activity", "engagement_score",
    "engagement_band", "tier", "visits_30", "visits_90", "visit_seconds", "bounce_rate", "visit_gap_days",
    "visit_conversion", "churn_reasons", "churn_reason", "value_reasons", "value_reason",
]


# --- binary rows ---------------------------------------------------------------------------------
# Score rows turned into Python objects one value at a time cost more than all the maths of the
# night, so the columns go as one block of fixed-width binary COPY rows, built by numpy, into a
# staging table (nightly/pipeline.py, _write_scores). Fixed width means no NULLs on the wire: a
# missing number travels as NaN, a missing time or date as 'infinity', a missing R/F/M as 0, and
# text as a code into a vocabulary; the INSERT from the staging table turns them back.
# (name, staging type, big-endian numpy type)
STAGE_COLUMNS = [
    ("client_id", "bigint", ">i8"),
    ("recency_days", "double precision", ">f8"),
    ("frequency", "bigint", ">i8"),
    ("monetary", "double precision", ">f8"),
    ("avg_order_value", "double precision", ">f8"),
    ("first_purchase_at", "timestamp with time zone", ">i8"),
    ("last_purchase_at", "timestamp with time zone", ">i8"),
    ("avg_days_between", "double precision", ">f8"),
    ("r", "smallint", ">i2"),
    ("f", "smallint", ">i2"),
    ("m", "smallint", ">i2"),
    ("rfm_segment", "smallint", ">i2"),
    ("churn_risk", "double precision", ">f8"),
    ("churn_band", "smallint", ">i2"),
    ("predicted_clv", "double precision", ">f8"),
    ("next_order_at", "date", ">i4"),
    ("activity_30", "bigint", ">i8"),
    ("activity_90", "bigint", ">i8"),
    ("days_since_activity", "double precision", ">f8"),
    ("engagement_score", "double precision", ">f8"),
    ("engagement_band", "smallint", ">i2"),
    ("tier", "smallint", ">i2"),
    ("visits_30", "bigint", ">i8"),
    ("visits_90", "bigint", ">i8"),
    ("visit_seconds", "double precision", ">f8"),
    ("bounce_rate", "double precision", ">f8"),
    ("visit_gap_days", "double precision", ">f8"),
    ("visit_conversion", "double precision", ">f8"),
    ("churn_reasons", "smallint", ">i2"),
    ("churn_reason", "smallint", ">i2"),
    ("value_reasons", "smallint", ">i2"),
    ("value_reason", "smallint", ">i2"),
]
TEXT_COLUMNS = ("rfm_segment", "churn_band", "engagement_band", "tier", "churn_reasons", "churn_reason",
                "value_reasons", "value_reason")
_PG_EPOCH_DAYS = (pgcopy.EPOCH - EPOCH.date()).days  # binary timestamps count from there


def binary_rows(client_ids, cols, as_of):
    """(binary COPY rows without header or trailer, {text column: vocabulary}) for STAGE_COLUMNS.

    A text column's value is vocabulary[code]. Times are microseconds since 2000-01-01 UTC, rounded
    from epoch days (float days carry well under a microsecond of error at today's dates, so the
    rounding gives back the stored instant); the next order's date is as_of + days, capped at ten
    years.
    """
    def micros(days):
        finite = np.isfinite(days)
        us = np.rint((np.where(finite, days, 0.0) - _PG_EPOCH_DAYS) * 86_400_000_000.0).astype(np.int64)
        return np.where(finite, us, pgcopy.INFINITY_TIME)

    next_days = cols["next_order_at"]
    finite = np.isfinite(next_days)
    base = (as_of - pgcopy.EPOCH).days
    next_date = np.where(finite, base + np.minimum(np.where(finite, next_days, 0.0), 3650), pgcopy.INFINITY_DATE)

    vocabularies = {}
    values = {"client_id": client_ids, "first_purchase_at": micros(cols["first_purchase_at"]),
              "last_purchase_at": micros(cols["last_purchase_at"]), "next_order_at": next_date}
    for name in TEXT_COLUMNS:
        vocabulary, codes = np.unique(cols[name].astype(str), return_inverse=True)
        vocabularies[name] = vocabulary.tolist()
        values[name] = codes
    out = pgcopy.records([(name, kind) for name, _, kind in STAGE_COLUMNS], len(client_ids))
    for name, _, _ in STAGE_COLUMNS:
        out[name] = values[name] if name in values else cols[name]
    return out.tobytes(), vocabularies
