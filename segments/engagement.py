"""Engagement: how often a client comes back and what their visits are like (segments/visits.py). Pure numpy.

score (0..100) = 100 * (0.30 * v30 + 0.20 * v90 + 0.15 * fresh + 0.15 * time + 0.10 * stay + 0.10 * conv), where
  v30, v90 = log(1 + visits in the last 30 / 90 days) relative to the same for the shop's 90th
             percentile client (capped at 1), so a few very busy clients do not flatten it;
  fresh    = exp(-days since the last activity / 30) (0 without any);
  time     = log(1 + average seconds per visit) relative to the same for the 90th percentile of the
             clients with a known time (capped at 1; 0 when unknown);
  stay     = 1 - bounce rate (0 when unknown);
  conv     = visit-to-order conversion relative to the 90th percentile of the clients with visits
             (capped at 1; 0 without visits).
Bands: high >= 60 > medium >= 25 > low. Clients with no activity at all are "low".
"""

import numpy as np

BANDS = (("high", 60.0), ("medium", 25.0), ("low", -np.inf))
WEIGHTS = {"v30": 0.30, "v90": 0.20, "fresh": 0.15, "time": 0.15, "stay": 0.10, "conv": 0.10}


def _p90(values, floor):
    known = values[np.isfinite(values)]
    return float(max(np.percentile(known, 90) if known.size else 0, floor))


def reference(current):
    """The shop-wide reference levels from the as-of aggregates (a global cut-off of the run, like
    the RFM quantiles): visits in 30 and 90 days, seconds per visit, conversion."""
    return [_p90(current["visits_30"].astype(float), 1), _p90(current["visits_90"].astype(float), 1),
            _p90(current["visit_seconds"], 1), _p90(current["visit_conversion"], 0.01)]


def scores(current, ref):
    ref30, ref90, ref_seconds, ref_conversion = ref

    def relative(values, level):
        return np.minimum(np.log1p(np.nan_to_num(values)) / np.log1p(level), 1.0)

    days = current["activity_days"]
    parts = {
        "v30": relative(current["visits_30"], ref30),
        "v90": relative(current["visits_90"], ref90),
        "fresh": np.where(np.isfinite(days), np.exp(-np.nan_to_num(days) / 30.0), 0.0),
        "time": relative(current["visit_seconds"], ref_seconds),
        "stay": 1.0 - np.nan_to_num(current["bounce_rate"], nan=1.0),
        "conv": np.minimum(np.nan_to_num(current["visit_conversion"]) / ref_conversion, 1.0),
    }
    return np.round(100 * sum(WEIGHTS[name] * part for name, part in parts.items()), 2)


def bands(score):
    out = np.full(score.shape, BANDS[-1][0], dtype=object)
    for name, threshold in reversed(BANDS[:-1]):
        out[score >= threshold] = name
    return out
