"""Predicted value: expected revenue in the next `horizon_days` and expected days to the next order.

The model is histogram gradient boosting with a Poisson loss (log link: predictions are
non-negative means, and a client who will most likely buy nothing still gets their small expected
value rather than a median of zero) on the aggregates plus BG/NBD and Gamma-Gamma outputs, with
the Gamma-Gamma expected order value as exposure, trained on past cut-offs whose next window is
fully observed.

Clients with no orders (prospects) get a small prior: the mean next-window revenue of the clients
who were known but had no orders at the newest history cut-off (0 when there is no history);
their next-order days are NaN.

With too little history, or when the model's back-test is no better than BG/NBD + Gamma-Gamma's,
the result falls back to BG/NBD + Gamma-Gamma fitted on `current`, and if even that cannot be
fitted, to `rule_value`; `method` and `note` say which.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import stats
from sklearn.ensemble import HistGradientBoostingRegressor

from segments import btyd, features, notes
from segments.notes import Note as _  # noqa: N814 - a note keeps its message, for each reader's language

MIN_TRAIN_ROWS = 1_000
MIN_BUYING_ROWS = 50  # rows with revenue in the window, in training and in the test window
RANDOM_STATE = 0
# Beyond five years "days to the next order" says nothing useful: report NaN (probably lapsed).
MAX_NEXT_ORDER_DAYS = 5 * 365.0
RULE_MIN_TENURE_DAYS = 365.0

_BGNBD_GG = features.FEATURE_NAMES.index("bgnbd_gg_revenue")
_GG_SPEND = features.FEATURE_NAMES.index("gg_spend")
_LOG_AVG_ORDER = features.FEATURE_NAMES.index("log_avg_order")


@dataclass
class ValueResult:
    expected_revenue: np.ndarray  # next horizon_days, >= 0
    next_order_days: np.ndarray  # expected days from as_of to the next order (NaN when not meaningful)
    method: str  # "model", "bgnbd_gg" or "rule"
    note: str
    metrics: dict = field(default_factory=dict)  # {"candidates": {name: {"mae", ...}}, "chosen", ...}
    # The shipped model's revenue as a function of aggregates (clients with orders): for segments/reasons.py.
    predict: Callable[[dict], np.ndarray] | None = None


def rule_value(current: dict, horizon_days: int) -> tuple[np.ndarray, np.ndarray]:
    """The last fallback, when not even BG/NBD + Gamma-Gamma can be fitted.

    Rule: a client keeps spending at their average daily spend since their first order, with that
    tenure counted as at least 365 days (so one order last week is not read as a weekly habit):
        expected_revenue = monetary / max(first_days, 365) * horizon
        next_order_days  = max(first_days, 365) / frequency
    Clients with no orders get 0 and NaN.
    """
    freq = current["frequency"].astype(np.float64)
    tenure = np.maximum(np.nan_to_num(current["first_days"]), RULE_MIN_TENURE_DAYS)
    revenue = np.where(freq > 0, np.maximum(current["monetary"], 0.0) / tenure * horizon_days, 0.0)
    with np.errstate(divide="ignore"):
        days = np.where(freq > 0, tenure / freq, np.nan)
    return revenue, _meaningful(days)


def _meaningful(days: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.where(days <= MAX_NEXT_ORDER_DAYS, days, np.nan)


def _next_order_days(expected_orders: np.ndarray, horizon_days: int) -> np.ndarray:
    """Days to the next order at the pace of `expected_orders` per horizon (a Poisson mean wait)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _meaningful(horizon_days / expected_orders)


def _too_small(history: list) -> str:
    if len(history) < 2:
        return _("the model needs at least two fully observed past windows (one to train, the newest to check it), "
                 "got %(n)d") % {"n": len(history)}
    for name, items in (("training", history[1:]), ("test", history[:1])):
        revenue = np.concatenate([np.asarray(rev)[features.buyers(agg)] for agg, rev in items])
        if name == "training" and len(revenue) < MIN_TRAIN_ROWS:
            return _("only %(n)d training rows (clients with an order before a cut-off), need %(need)d") % {
                "n": len(revenue), "need": MIN_TRAIN_ROWS}
        if int((revenue > 0).sum()) < MIN_BUYING_ROWS:
            message = (_("the training window(s) have %(n)d buying clients, need %(need)d") if name == "training"
                       else _("the test window(s) have %(n)d buying clients, need %(need)d"))
            return message % {"n": int((revenue > 0).sum()), "need": MIN_BUYING_ROWS}
    return ""


def _order_value(gg_spend: np.ndarray, avg_order: np.ndarray) -> np.ndarray:
    """Expected value of a client's next order: Gamma-Gamma, else their own mean, else 1.

    This is the model's exposure (see _fit). The last resort of 1 (currency unit) only concerns
    clients whose orders were all free or shops where Gamma-Gamma could not be fitted at all.
    """
    value = np.where(np.isfinite(gg_spend) & (gg_spend > 0), gg_spend, avg_order)
    return np.where(np.isfinite(value) & (value > 0), value, 1.0)


def _exposure(X: np.ndarray) -> np.ndarray:
    return _order_value(X[:, _GG_SPEND], np.expm1(X[:, _LOG_AVG_ORDER]))


class _Bins:
    """Per-feature bin edges at quantiles of the exposure-weighted training rows, and the map
    from values to bin numbers (NaN stays NaN).

    Histogram boosting bins every feature itself, but with sample weights scikit-learn computes
    each of the 254 edges of each feature by a separate weighted percentile (a full sort each):
    that was most of the value model's fitting time. Features handed over already as fewer
    than 256 distinct bin numbers take its cheap path, and the edges are the same idea, computed
    with one sort per feature.
    """

    def __init__(self, X: np.ndarray, weight: np.ndarray, max_bins: int = 255):
        self.edges = []
        levels = np.arange(1, max_bins) / max_bins
        for column in X.T:
            finite = np.isfinite(column)
            values, w = column[finite], weight[finite]
            order = np.argsort(values, kind="stable")
            values, w = values[order], np.cumsum(w[order])
            if values.size == 0 or w[-1] <= 0:
                self.edges.append(np.unique(values))
                continue
            at = np.minimum(np.searchsorted(w, levels * w[-1], side="left"), values.size - 1)
            self.edges.append(np.unique(values[at]))

    def __call__(self, X: np.ndarray) -> np.ndarray:
        out = np.empty_like(X, dtype=np.float64)
        for j, edges in enumerate(self.edges):
            column = X[:, j]
            out[:, j] = np.where(np.isfinite(column), np.searchsorted(edges, column, side="left"), np.nan)
        return out


def _fit(X: np.ndarray, y: np.ndarray) -> tuple[_Bins, HistGradientBoostingRegressor]:
    """Boosted trees on Poisson deviance, with the expected order value as exposure.

    The trees learn "orders' worth of revenue" (revenue / order value, weighted by order value,
    which is the Poisson likelihood with a log(order value) offset): Gamma-Gamma's smooth
    per-client spend carries the money scale and the trees the when-and-whether, which beat
    learning raw revenue on both MAE and RMSE on the simulated shops (raw revenue leaves big
    spenders at the mercy of leaf averages). Fixed size, no early stopping: see churn._fit.
    """
    value = _exposure(X)
    bins = _Bins(X, value)
    with features.limited_threads():
        return bins, HistGradientBoostingRegressor(
            loss="poisson",
            # 75 rounds at 0.2 score about as well as 150 at 0.1 on bench/churn_backtest.py (MAE),
            # with half the trees to predict every client with. (50 at 0.3 did as well there, but
            # its back-test MAE on bench/segmentation.py's shop was far worse.)
            learning_rate=0.2,
            max_iter=75,
            max_leaf_nodes=15,
            min_samples_leaf=300,
            l2_regularization=10.0,
            early_stopping=False,
            random_state=RANDOM_STATE,
            # refunds must not make a negative mean, hence the floor at 0
        ).fit(features.trainable(bins(X)), np.maximum(y, 0.0) / value, sample_weight=value)


def _predict_orders(model, X: np.ndarray) -> np.ndarray:
    """Expected orders' worth of revenue in the horizon (multiply by the order value for money)."""
    bins, trees = model
    with features.limited_threads():
        return trees.predict(bins(X))


def _scores(pred: np.ndarray, actual: np.ndarray) -> dict:
    """How one candidate did on the back-test window: MAE, Spearman rank correlation with the actual
    revenue, total predicted / total actual (MAE alone rewards predicting the median, zero for most
    clients; the total keeps the level honest, the rank correlation the ordering)."""
    pred = np.nan_to_num(pred)
    ties = np.ptp(pred) == 0 or np.ptp(actual) == 0
    return {
        "mae": float(np.mean(np.abs(pred - actual))),
        "spearman": float("nan") if ties else float(stats.spearmanr(pred, actual).statistic),
        "total_ratio": float(pred.sum() / actual.sum()) if actual.sum() > 0 else float("nan"),
    }


def _fit_pareto(agg: dict) -> btyd.ParetoNBDParams | None:
    try:
        return btyd.fit_pareto_nbd(*btyd.rfm(agg), max_rows=features.BTYD_FIT_ROWS, seed=RANDOM_STATE)
    except btyd.FitError:
        return None


def _textbook(agg: dict, fit: btyd.BTYDFit, pareto, days: float) -> dict:
    """{candidate: revenue in the next `days` per client of agg} for the textbook models that could be fitted."""
    out = {}
    if fit.bgnbd is not None and fit.gamma_gamma is not None:
        out["bgnbd_gg"] = btyd.bgnbd_gg_revenue(fit, agg, days)
    if pareto is not None and fit.gamma_gamma is not None:
        out["pareto_gg"] = btyd.pareto_gg_revenue(pareto, fit.gamma_gamma, agg, days)
    return out


def _backtest(history: list, days: int, blocks: list | None, trees: str) -> dict:
    """Every candidate judged on the newest window of `history` (its length: `days`).

    The trees (when `blocks` has rows to learn from) fit on all cut-offs but the newest; the textbook
    models fit on the newest snapshot itself. All predict the same rows: the newest cut-off's
    buyers that the trees' block holds (all of them on a shop below features.MAX_TRAIN_ROWS).
    """
    agg, target = history[0]
    rows = features.cutoff_rows(agg, 0, len(history), seed=RANDOM_STATE)
    actual = np.asarray(target)[rows]
    sub = features.take(agg, rows)
    preds = _textbook(sub, btyd.fit_btyd(agg, max_rows=features.BTYD_FIT_ROWS, seed=RANDOM_STATE), _fit_pareto(agg),
                      days)
    metrics = {"window_days": days, "n_test": len(actual)}
    if blocks is not None:
        X_train, y_train = features.stack(blocks[1:])
        X_test = blocks[0][0]
        preds = {trees: _predict_orders(_fit(X_train, y_train), X_test) * _exposure(X_test), **preds}
        metrics |= {"n_train": len(y_train), "cutoffs": len(blocks)}
    metrics["candidates"] = {name: _scores(pred, actual) for name, pred in preds.items()}
    return metrics


def _prospect_prior(history: list) -> float:
    """Mean next-window revenue of the prospects known at the newest cut-off (0 without any).

    Only clients already seen by then count (age_days known): someone who signed up and bought
    inside the window was not a prospect at the cut-off and would inflate the prior.
    """
    if not history:
        return 0.0
    agg, revenue = history[0]
    prospects = (np.asarray(agg["frequency"]) == 0) & np.isfinite(agg["age_days"])
    return float(np.mean(np.maximum(np.asarray(revenue)[prospects], 0.0))) if prospects.any() else 0.0


# Calibration factors beyond these are not trusted: a back-test that far off says the window was
# unusual (a sale, an outage), not that every client's value should move that much.
MIN_CALIBRATION, MAX_CALIBRATION = 0.5, 2.0
# A back-test total within this of the actual is left as it is: raising a total that is nearly right costs
# every client's error more than it mends the sum (bench/churn_backtest.py, the 6- and 9-month shops).
CALIBRATE_BEYOND = 0.10


def score_value(current: dict, history: list, horizon_days: int, current_fit: btyd.BTYDFit | None = None, *,
                short_history: list = (), short_days: int = 0) -> ValueResult:
    """Expected revenue in the next `horizon_days` and expected days to the next order, per client.

    history: newest first; (aggregates at c, revenue each client made in (c, c + horizon]).
    short_history: the same over shorter windows of `short_days` (the churn horizon's), for shops
    whose history holds too few horizon-long windows to learn from.
    current_fit: features.fit_current(current) when the caller already has it.

    Candidates: boosted trees on horizon-long windows ("model"); trees on short windows, their
    pace carried to the horizon by BG/NBD ("short_model"); BG/NBD + Gamma-Gamma; Pareto/NBD +
    Gamma-Gamma. The back-test on the newest window that can be learned from (horizon-long if the
    trees have rows there, else short) judges them all; the lowest MAE ships. Its total over that
    window, predicted / actual, then calibrates the aggregate: every prediction is divided by it,
    so that the shop's predicted total is as right as the back-test can tell.
    """
    prior = _prospect_prior(history)
    fit = current_fit or features.fit_current(current)
    plan = _plan(history, horizon_days, short_history, short_days)
    if plan is None:
        return _rule(current, horizon_days, prior, fit)
    window, days, trees, reason = plan
    blocks = None if trees is None else features.labelled_blocks(window, days, seed=RANDOM_STATE)
    metrics = _backtest(window, days, blocks, trees)
    candidates = metrics["candidates"]
    if not candidates:
        return _rule(current, horizon_days, prior, fit)
    chosen = min(candidates, key=lambda name: candidates[name]["mae"])
    ratio = candidates[chosen]["total_ratio"]
    calibration = 1.0
    # Trees on horizon-long windows match their training total by construction (Poisson deviance,
    # log link); the textbook models and the short-window trees extrapolate, and their back-test
    # total says by how much they miss.
    if chosen != "model" and ratio and ratio > 0 and abs(ratio - 1.0) > CALIBRATE_BEYOND:
        calibration = float(np.clip(1.0 / ratio, MIN_CALIBRATION, MAX_CALIBRATION))
    metrics |= {"chosen": chosen, "calibration": calibration, **candidates[chosen]}
    if "bgnbd_gg" in candidates:  # the textbook baseline, as earlier runs recorded it
        metrics["baseline_mae"] = candidates["bgnbd_gg"]["mae"]

    rows = features.buyers(current)
    sub = features.take(current, rows)
    if chosen in ("model", "short_model"):
        model = _fit(*features.stack(blocks))

        def orders_of(agg):
            return features.predict_all(lambda X: _predict_orders(model, X), agg, days, fit, features.buyers(agg))

        def revenue_of(agg, orders):
            n_orders, mean_order = btyd.spend_arrays(agg)
            gg_spend = np.full(len(n_orders), np.nan)
            if fit.gamma_gamma is not None:
                gg_spend = btyd.expected_spend(fit.gamma_gamma, n_orders, mean_order)
            return orders * _order_value(gg_spend, mean_order) * _stretch(fit, agg, days, horizon_days) * calibration

        def predict(agg):
            return revenue_of(agg, orders_of(agg))

        orders = orders_of(sub)
        buyer_revenue = revenue_of(sub, orders)
        buyer_days = _next_order_days(orders, days)
    else:
        pareto = _fit_pareto(current) if chosen == "pareto_gg" else None

        def predict(agg):
            return np.nan_to_num(_textbook(agg, fit, pareto, horizon_days)[chosen]) * calibration

        expected = (btyd.expected_purchases(fit.bgnbd, horizon_days, *btyd.rfm(sub)) if chosen == "bgnbd_gg" else
                    btyd.pareto_expected_purchases(pareto, horizon_days, *btyd.rfm(sub)))
        buyer_revenue = predict(sub)
        buyer_days = _next_order_days(expected, horizon_days)
    revenue = np.full(len(current["frequency"]), prior)
    next_days = np.full(len(current["frequency"]), np.nan)
    revenue[rows] = buyer_revenue
    next_days[rows] = buyer_days
    note = _("%(method)s chosen by the back-test on the newest %(days)d-day window (MAE %(mae).2f, Spearman "
             "%(spearman).3f, predicted / actual total %(total_ratio).3f); predictions calibrated x%(calibration).3f "
             "so the total matches; prospects get the prior %(prior).2f") % {
        "method": notes.Note(notes.METHODS[chosen]), "days": days, "prior": prior,
        **{key: metrics[key] for key in ("mae", "spearman", "total_ratio", "calibration")}}
    if reason:
        note = _("%(note)s (%(reason)s)") % {"note": note, "reason": reason}
    return ValueResult(revenue, next_days, chosen, note, metrics, predict)


def _plan(history, horizon_days, short_history, short_days):
    """(history to back-test on, its window in days, the trees' candidate or None, why not the
    horizon-long trees), or None when not even a textbook model has a window to be judged on."""
    reason = _too_small(history)
    if not reason:
        return history, horizon_days, "model", ""
    if short_history and not _too_small(short_history):
        return short_history, short_days, "short_model", reason
    for window, days in ((short_history, short_days), (history, horizon_days)):
        if window and len(features.buyers(window[0][0])) >= btyd.MIN_FIT_CLIENTS:
            return window, days, None, reason
    return None


def _stretch(fit: btyd.BTYDFit, agg: dict, days: int, horizon_days: int) -> np.ndarray:
    """Per client, purchases expected over the horizon / over `days` by BG/NBD: what carries a
    pace learned on short windows to the horizon (a client likely to drop out gains less than
    horizon / days). Without BG/NBD, horizon / days."""
    if days == horizon_days or fit.bgnbd is None:
        return np.full(len(agg["frequency"]), horizon_days / days)
    rfm = btyd.rfm(agg)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = btyd.expected_purchases(fit.bgnbd, horizon_days, *rfm) / btyd.expected_purchases(fit.bgnbd, days, *rfm)
    return np.where(np.isfinite(ratio), ratio, horizon_days / days)


def _rule(current: dict, horizon_days: int, prior: float, fit: btyd.BTYDFit) -> ValueResult:
    revenue, days = rule_value(current, horizon_days)
    revenue[current["frequency"] == 0] = prior
    note = _("rule used (average daily spend x horizon): no window to judge a model on; BG/NBD + Gamma-Gamma: "
             "%(why)s") % {"why": fit.note or "-"}
    return ValueResult(revenue, days, "rule", note, {}, lambda agg: rule_value(agg, horizon_days)[0])
