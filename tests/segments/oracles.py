"""Reference implementations that the nightly run's fast paths are checked against."""

import datetime as dt

from segments.aggregates import EPOCH


def score_rows(client_ids, cols, as_of):
    """What a score row holds, built one plain Python value at a time (None for missing), in
    scoring.ROW_COLUMNS order: the reference for scoring.binary_rows and the staging INSERT."""
    def nullable(values, cast=float):
        return [None if v != v else cast(v) for v in values.tolist()]  # v != v is NaN

    def when(days):
        return [None if v != v else EPOCH + dt.timedelta(days=v) for v in days.tolist()]

    def date_after(days):  # the next order's date, capped at ten years
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
        cols["tier"].tolist(),
    ]
    return zip(*ordered)
