"""From aggregates and model outputs to the columns of a ClientScore row. Pure numpy."""

import datetime as dt

import numpy as np

from . import engagement, rfm
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
    The cut is the midnight after the as-of day, so an event d days before it is on day ceil(d) - 1."""
    return np.ceil(days_before_cut) - 1


def global_cuts(current, levels):
    """Cut-offs computed once over all clients, so id ranges can be scored apart and agree."""
    buyers = current["frequency"] > 0
    return {
        "r": rfm.boundaries(current["last_days"][buyers], levels).tolist(),
        "f": rfm.boundaries(current["frequency"][buyers].astype(float), levels).tolist(),
        "m": rfm.boundaries(current["monetary"][buyers], levels).tolist(),
        "engagement": list(engagement.reference(current["activity_30"], current["activity_90"])),
    }


def columns(current, churn, value, cuts, levels, bands, as_of):
    """Score columns (numpy arrays) for the clients of `current`."""
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
    score = engagement.scores(current["activity_30"], current["activity_90"], current["activity_days"],
                              tuple(cuts["engagement"]))
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
    }


def python_rows(client_ids, cols, as_of):
    """Rows of plain Python values (None for missing) in ClientScore column order."""
    def nullable(values, cast=float):
        return [None if v != v else cast(v) for v in values.tolist()]  # v != v is NaN

    def when(days):
        return [None if v != v else EPOCH + dt.timedelta(days=v) for v in days.tolist()]

    def date_after(days):
        return [None if v != v else as_of + dt.timedelta(days=int(min(v, 3650))) for v in days.tolist()]

    ordered = [
        client_ids.tolist(),
        nullable(cols["recency_days"], int),
        cols["frequency"].tolist(),
        cols["monetary"].tolist(),
        nullable(cols["avg_order_value"]),
        when(cols["first_purchase_at"]),
        when(cols["last_purchase_at"]),
        nullable(cols["avg_days_between"]),
        [v or None for v in cols["r"].tolist()],
        [v or None for v in cols["f"].tolist()],
        [v or None for v in cols["m"].tolist()],
        cols["rfm_segment"].tolist(),
        nullable(cols["churn_risk"]),
        cols["churn_band"].tolist(),
        cols["predicted_clv"].tolist(),
        date_after(cols["next_order_at"]),
        cols["activity_30"].tolist(),
        cols["activity_90"].tolist(),
        nullable(cols["days_since_activity"], int),
        cols["engagement_score"].tolist(),
        cols["engagement_band"].tolist(),
    ]
    return zip(*ordered)


ROW_COLUMNS = [
    "client_id", "recency_days", "frequency", "monetary", "avg_order_value", "first_purchase_at",
    "last_purchase_at", "avg_days_between", "r", "f", "m", "rfm_segment", "churn_risk", "churn_band",
    "predicted_clv", "next_order_at", "activity_30", "activity_90", "days_since_activity", "engagement_score",
    "engagement_band",
]
