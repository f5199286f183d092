"""Why a client's churn risk and predicted value are what they are: their main drivers, in plain words.

A driver is a counterfactual put to the shipped model itself: the client's aggregates are changed to
what they would be without it, rescored, and the change in the prediction is that driver's weight:
- long_gap: no order for longer than usual. Without it: the last order one usual gap ago (the
  client's own mean gap, or the shop's median gap for a one-order client), if that is sooner.
- activity_down: activity in the last 30 days below the client's 90-day pace. Without it: 30-day
  activity at that pace.
- one_order: a single order. Without it: a second order one shop-typical gap before the first.
- rare_orders: orders further apart than 1.5 times the shop's typical gap. Without it: as many
  orders over the same span as the typical gap makes.
- big_orders / small_orders: orders above / below the shop's typical order value. Without it: the
  shop's typical order value.
- short_visits / bounces / rare_visits / visits_without_orders: visits shorter than the shop's
  typical (median) time per visit, a bounce rate above its typical one, visits further apart, a
  visit-to-order conversion below it (segments/visits.py). Without it: the shop's typical value.
- no_visits: no visit in the last 90 days (the 90-day measures unknown). Without it: the shop's
  typical visit (its typical time per visit, bounce rate and conversion).
Churn keeps the drivers that raise the risk, value those that move it (big orders raise it; the rest
lower it): the strongest always, the next ones when they move it by at least MIN_RISK_SHIFT
(probability points) or MIN_VALUE_SHIFT (share of the prediction). At most MAX_REASONS, the largest
first: the first is the client's main reason.
Pure numpy: `predict` is the model's own prediction over an aggregates dict.
"""

import numpy as np
from django.utils.translation import gettext_lazy as _

from crm.money import format_money

MAX_REASONS = 3
MIN_RISK_SHIFT = 0.05  # probability points
MIN_VALUE_SHIFT = 0.10  # share of the client's predicted value

# Code -> how a marketer reads it (shown on the client page, in emails and in the rule builder).
NAMES = {
    "long_gap": _("long gap since the last order"),
    "activity_down": _("activity dropped"),
    "one_order": _("one order only"),
    "rare_orders": _("orders rarely"),
    "big_orders": _("big orders"),
    "small_orders": _("small orders"),
    "short_visits": _("short visits"),
    "bounces": _("leaves visits at once"),
    "rare_visits": _("visits rarely"),
    "idle_visits": _("visits without buying"),
    "no_visits": _("no visits lately"),
}
# Visit measure -> the driver that names it where the client's value is on the worse side of the shop's
# typical (-1: below it, 1: above it).
VISIT_DRIVERS = {"visit_seconds": ("short_visits", -1), "bounce_rate": ("bounces", 1),
                 "visit_gap_days": ("rare_visits", 1), "visit_conversion": ("idle_visits", -1)}
VISIT_CODES = (*(driver for driver, _ in VISIT_DRIVERS.values()), "no_visits")
CHURN_CODES = ("long_gap", "activity_down", "one_order", "rare_orders", *VISIT_CODES)
VALUE_CODES = ("long_gap", "activity_down", "one_order", "rare_orders", "big_orders", "small_orders", *VISIT_CODES)


def shop_typicals(agg: dict) -> dict:
    """The shop's typical gap between orders (median over repeat buyers, else 365 days) and order value
    (median mean order over buyers): what a driver is measured against."""
    freq = agg["frequency"].astype(np.float64)
    repeat, buyer = freq > 1, freq > 0
    span = agg["first_days"] - agg["last_days"]
    gap = float(np.median(span[repeat] / (freq[repeat] - 1))) if repeat.any() else 365.0
    order = float(np.median(agg["monetary"][buyer] / freq[buyer])) if buyer.any() else 0.0
    typicals = {"shop_gap": max(gap, 1.0), "typical_order": order}
    for measure in VISIT_DRIVERS:  # medians over the buyers measured (a night without visits has none)
        known = agg[measure][buyer] if measure in agg else np.array([])
        known = known[~np.isnan(known)]
        if known.size:
            typicals[f"typical_{measure}"] = float(np.median(known))
    return typicals


def _counterfactuals(agg: dict, typicals: dict, spend: bool = True):
    """(driver, rows it applies to, their aggregates without it), one driver at a time: each holds a copy of
    its rows' aggregates (hundreds of MB on a big shop), so only one is kept at once. `spend`: with the
    order value's driver."""
    freq = agg["frequency"].astype(np.float64)
    first, last = agg["first_days"], agg["last_days"]
    with np.errstate(invalid="ignore", divide="ignore"):
        usual = np.where(freq > 1, (first - last) / (freq - 1), typicals["shop_gap"])
        avg_order = agg["monetary"] / freq
    pace = agg["activity_90"] / 3.0

    def changed(rows, **columns):
        sub = {key: value[rows] for key, value in agg.items() if key not in columns}  # (a copy: rows are indices)
        for key, value in columns.items():
            sub[key] = value[rows] if np.ndim(value) else np.full(len(rows), value)
        return rows, sub

    recent = np.minimum(last, usual)
    # A one-order client's first order is their last: it moves with it.
    yield "long_gap", *changed(np.flatnonzero(last > usual), last_days=recent,
                              first_days=np.where(freq == 1, recent, first))
    # Orders further apart than the shop's typical gap: as many orders as that gap would have made
    # over the same span, at the same order value.
    more = np.maximum(1.0 + (first - last) / typicals["shop_gap"], freq)
    yield "rare_orders", *changed(np.flatnonzero((freq > 1) & (usual > typicals["shop_gap"] * 1.5)),
                                 frequency=np.round(more).astype(agg["frequency"].dtype),
                                 monetary=agg["monetary"] * np.round(more) / np.maximum(freq, 1))
    yield "activity_down", *changed(np.flatnonzero(agg["activity_30"] < pace - 0.5),
                                   activity_30=np.round(np.maximum(agg["activity_30"], pace)))
    yield "one_order", *changed(np.flatnonzero(freq == 1), frequency=np.full(len(freq), 2),
                               monetary=agg["monetary"] * 2, first_days=last + typicals["shop_gap"])
    order = typicals["typical_order"]
    if spend and order > 0:
        yield "spend", *changed(np.flatnonzero(np.abs(avg_order - order) > 0.1 * order), monetary=freq * order)
    known = {measure: typicals[f"typical_{measure}"] for measure in VISIT_DRIVERS if f"typical_{measure}" in typicals}
    for measure, typical in known.items():
        driver, worse = VISIT_DRIVERS[measure]
        with np.errstate(invalid="ignore"):
            rows = np.flatnonzero(worse * (agg[measure] - typical) > 0)  # an unknown value (NaN) is no driver
        yield driver, *changed(rows, **{measure: typical})
    if known and "visits_90" in agg:
        recent = {m: t for m, t in known.items() if m != "visit_gap_days"}  # the 90-day measures
        yield "no_visits", *changed(np.flatnonzero(agg["visits_90"] == 0), visits_90=1, **recent)


def explain(agg: dict, prediction: np.ndarray, predict, kind: str, typicals: dict) -> np.ndarray:
    """Per client of `agg` (all with orders): their drivers' codes, comma-separated, main first ('' for none).

    prediction: the model's prediction for every client of agg; predict(aggregates) -> the same for
    other aggregates; kind: "churn" or "value".
    """
    n = len(agg["frequency"])
    weights, floor = {}, MIN_RISK_SHIFT if kind == "churn" else MIN_VALUE_SHIFT
    # What a client spends per order is no reason to leave: churn has no order value driver.
    for driver, rows, sub in _counterfactuals(agg, typicals, spend=kind != "churn"):
        shift = np.zeros(n)
        if len(rows):
            shift[rows] = prediction[rows] - predict(sub)
        if kind == "churn":
            weights[driver] = np.maximum(shift, 0.0)
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            relative = np.nan_to_num(shift / np.maximum(prediction, 1e-9))
        if driver == "spend":
            # Trees need not be monotone in the order value: a driver is named only where the
            # client's orders are on its side of the typical one.
            with np.errstate(invalid="ignore", divide="ignore"):
                above = agg["monetary"] / agg["frequency"] > typicals["typical_order"]
            weights["big_orders"] = np.where(above, np.maximum(relative, 0.0), 0.0)
            weights["small_orders"] = np.where(above, 0.0, np.maximum(-relative, 0.0))
        else:
            weights[driver] = np.maximum(-relative, 0.0)
    codes = list(weights)
    if not codes:
        return np.full(n, "", dtype=object)
    # Made and let go one after another: on a big shop each of these is most of the night's memory.
    table = -np.column_stack([weights.pop(c) for c in codes])
    order = np.argsort(table, axis=1, kind="stable")[:, :MAX_REASONS].copy()
    ranked = -np.take_along_axis(table, order, axis=1)
    del table
    # The strongest driver always says something (however small, it is the biggest); the others
    # only when they weigh enough to be worth reading.
    picked = (ranked >= floor) | ((np.arange(ranked.shape[1]) == 0) & (ranked > 0))
    # Each client's list as one number (digits: code index + 1, 0 for none), spelled once per distinct list.
    base = len(codes) + 1
    key = (np.where(picked, order + 1, 0) * base ** np.arange(order.shape[1])[::-1]).sum(axis=1)
    distinct, which = np.unique(key, return_inverse=True)

    def spell(k):
        digits = [(k // base**p) % base for p in range(order.shape[1] - 1, -1, -1)]
        return ",".join(codes[d - 1] for d in digits if d)

    return np.array([spell(k) for k in distinct], dtype=object)[which]


def main(codes: np.ndarray) -> np.ndarray:
    """The main reason (the first code) of each comma-separated list.

    Split once per distinct string object: explain() spells each distinct list once, so a million
    clients share a few hundred objects. (As fixed-width text for np.unique, the lists took 140 bytes a
    client: the night's peak memory.)"""
    keys = np.fromiter(map(id, codes), dtype=np.int64, count=len(codes))
    _, first, which = np.unique(keys, return_index=True, return_inverse=True)
    return np.array([codes[i].split(",")[0] for i in first.tolist()], dtype=object)[which]


PHRASES = {
    "long_gap": _("no order for %(days)s days; usually every %(gap)s"),
    "activity_down": _("activity down %(drop)s%% in 30 days"),
    "one_order": _("one order only"),
    "rare_orders": _("an order every %(gap)s days; the shop's typical is every %(shop_gap)s"),
    "big_orders": _("average order %(order)s; the shop's typical is %(typical)s"),
    "small_orders": _("average order %(order)s; the shop's typical is %(typical)s"),
    "short_visits": _("%(seconds)s seconds per visit; the shop's typical is %(typical_seconds)s"),
    "bounces": _("leaves %(bounce)s%% of visits at once; the shop's typical is %(typical_bounce)s%%"),
    "rare_visits": _("a visit every %(visit_gap)s days; the shop's typical is every %(typical_visit_gap)s"),
    "idle_visits": _("buys on %(conversion)s%% of visits; the shop's typical is %(typical_conversion)s%%"),
    "no_visits": _("no visit in the last 90 days"),
}


# The score's fields describe() reads: whoever builds a score of a few fields (an email's context)
# reads these too.
DESCRIBED_BY = ("avg_days_between", "activity_30", "activity_90", "recency_days", "avg_order_value",
                "visit_seconds", "bounce_rate", "visit_gap_days", "visit_conversion")


def describe(codes: str, score, typicals: dict) -> list[str]:
    """The phrases for one client's codes, with their own figures: ["no order for 140 days; usually
    every 35", ...]. score: their ClientScore; typicals: the run's (run.metrics["reasons"])."""
    gap = score.avg_days_between or typicals.get("shop_gap")
    pace = (score.activity_90 or 0) / 3.0
    values = {
        "days": score.recency_days, "gap": round(gap) if gap else "-",
        "shop_gap": round(typicals.get("shop_gap") or 0),
        "drop": round(100 * (1 - score.activity_30 / pace)) if pace else 0,
        "order": format_money(score.avg_order_value, decimals=0),
        "typical": format_money(typicals.get("typical_order"), decimals=0),
        "seconds": _rounded(getattr(score, "visit_seconds", None)),
        "typical_seconds": _rounded(typicals.get("typical_visit_seconds")),
        "bounce": _rounded(getattr(score, "bounce_rate", None), 100),
        "typical_bounce": _rounded(typicals.get("typical_bounce_rate"), 100),
        "visit_gap": _rounded(getattr(score, "visit_gap_days", None)),
        "typical_visit_gap": _rounded(typicals.get("typical_visit_gap_days")),
        "conversion": _rounded(getattr(score, "visit_conversion", None), 100),
        "typical_conversion": _rounded(typicals.get("typical_visit_conversion"), 100),
    }
    return [str(PHRASES[code]) % values for code in codes.split(",") if code in PHRASES]


def _rounded(value, scale=1):
    return "-" if value is None or value != value else round(value * scale)
