"""Engagement: how often a client comes back, from their activity trail. Pure numpy.

score (0..100) = 100 * (0.5 * a30 + 0.3 * a90 + 0.2 * fresh), where
  a30, a90 = log(1 + events in the last 30 / 90 days) relative to the same for the shop's
             90th percentile client (capped at 1), so a few very busy clients do not flatten it;
  fresh    = exp(-days since the last event / 30) (0 without any event).
Bands: high >= 60 > medium >= 25 > low. Clients with no activity at all are "low".
"""

import numpy as np

BANDS = (("high", 60.0), ("medium", 25.0), ("low", -np.inf))


def reference(activity_30, activity_90):
    """The shop-wide reference levels (a global cut-off of the run, like the RFM quantiles)."""
    ref30 = np.percentile(activity_30, 90) if activity_30.size else 0
    ref90 = np.percentile(activity_90, 90) if activity_90.size else 0
    return float(max(ref30, 1)), float(max(ref90, 1))


def scores(activity_30, activity_90, days_since_activity, ref):
    ref30, ref90 = ref
    a30 = np.minimum(np.log1p(activity_30) / np.log1p(ref30), 1.0)
    a90 = np.minimum(np.log1p(activity_90) / np.log1p(ref90), 1.0)
    fresh = np.where(np.isfinite(days_since_activity), np.exp(-np.nan_to_num(days_since_activity) / 30.0), 0.0)
    return np.round(100 * (0.5 * a30 + 0.3 * a90 + 0.2 * fresh), 2)


def bands(score):
    out = np.full(score.shape, BANDS[-1][0], dtype=object)
    for name, threshold in reversed(BANDS[:-1]):
        out[score >= threshold] = name
    return out
