"""Churn risk: the probability that a client makes no purchase in the next `horizon_days`.

The model is histogram gradient boosting on the aggregates plus BG/NBD outputs (see
`segments.features.design_matrix`), trained on past cut-offs whose next window is fully observed,
on log loss, whose probabilities are calibrated by construction (a 0.7 means about 70% of such
clients do not buy; the back-test records Brier score and calibration error).
Clients with no orders are prospects, not churners: they get NaN.

With too little history to learn from (and check) a model, `rule_churn` is used instead and the
result says why in `note`.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from segments import btyd, features
from segments.notes import Note as _  # noqa: N814 - a note keeps its message, for each reader's language

# Below these the model and its back-test are too noisy to trust over the rule.
MIN_TRAIN_ROWS = 1_000
MIN_CLASS_ROWS = 50  # of each class (buyers and non-buyers), in training and in the test window
RANDOM_STATE = 0

_LAST_DAYS = features.FEATURE_NAMES.index("last_days")
_BGNBD_SILENT = features.FEATURE_NAMES.index("bgnbd_no_purchase")


@dataclass
class ChurnResult:
    probability: np.ndarray  # P(no purchase in next horizon) per client; NaN for clients with no orders
    method: str  # "model" or "rule"
    note: str  # human sentence for the run record, e.g. why the rule was used
    metrics: dict = field(default_factory=dict)  # back-test on the newest window; empty for the rule
    # The shipped model as a function of aggregates (clients with orders): what segments/reasons.py asks.
    predict: Callable[[dict], np.ndarray] | None = None


def rule_churn(current: dict, horizon_days: int) -> np.ndarray:
    """The fallback when there is too little history to train on.

    Rule: a client is expected to buy every g days, where g is their own mean gap between orders
    with one extra "typical" gap added (the shop's median gap among repeat buyers, or 365 days if
    nobody has bought twice), so short histories lean on the shop:
        g = (first_days - last_days + shop_gap) / frequency.
    Until they are one gap late the client counts as alive; after that the chance they are still
    a customer falls by a factor e with every further gap of silence:
        alive = exp(-max(0, last_days - g) / g).
    An alive client buying every g days on average misses the next horizon with probability
    exp(-horizon / g) (Poisson), a lapsed one always does:
        P(no purchase) = 1 - alive * (1 - exp(-horizon / g)).
    Clients with no orders get NaN (prospects are not scored).
    """
    freq = current["frequency"].astype(np.float64)
    span = current["first_days"] - current["last_days"]
    repeat = freq > 1
    shop_gap = float(np.median(span[repeat] / (freq[repeat] - 1.0))) if repeat.any() else 365.0
    shop_gap = max(shop_gap, 1.0)  # same-day repeat orders must not make the gap zero
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.where(freq > 0, (span + shop_gap) / freq, np.nan)
        alive = np.exp(-np.maximum(0.0, current["last_days"] - gap) / gap)
        return 1.0 - alive * (1.0 - np.exp(-horizon_days / gap))


def _too_small(history: list) -> str:
    """Why the model cannot be trained and checked on this history ('' when it can)."""
    if len(history) < 2:
        return _("the model needs at least two fully observed past windows (one to train, the newest to "
                 "check it), got %(n)d") % {"n": len(history)}
    for name, items in (("training", history[1:]), ("test", history[:1])):
        labels = np.concatenate([np.asarray(orders)[features.buyers(agg)] == 0 for agg, orders in items])
        churned = int(labels.sum())
        if name == "training" and len(labels) < MIN_TRAIN_ROWS:
            return _("only %(n)d training rows (clients with an order before a cut-off), need %(need)d") % {
                "n": len(labels), "need": MIN_TRAIN_ROWS}
        if min(churned, len(labels) - churned) < MIN_CLASS_ROWS:
            message = (_("the training window(s) have %(buyers)d buyers and %(others)d non-buyers, need "
                         "at least %(need)d of each") if name == "training" else
                       _("the test window(s) have %(buyers)d buyers and %(others)d non-buyers, need at "
                         "least %(need)d of each"))
            return message % {"buyers": len(labels) - churned, "others": churned, "need": MIN_CLASS_ROWS}
    return ""


# The RFM baseline's inputs: recency, frequency, mean order value and tenure, as the model has them.
_RFM_COLUMNS = [features.FEATURE_NAMES.index(name) for name in ("last_days", "frequency", "log_avg_order",
                                                                  "first_days")]


def _rfm_inputs(X: np.ndarray) -> np.ndarray:
    """Recency, log frequency, log mean order, tenure (log scales: a linear model on raw counts lets
    a few heavy buyers set the slope)."""
    rfm = X[:, _RFM_COLUMNS].copy()
    rfm[:, 1] = np.log1p(rfm[:, 1])
    return np.nan_to_num(rfm)


def fit_rfm_logistic(X: np.ndarray, y: np.ndarray):
    """The baseline a marketer's analyst would build first: logistic regression on RFM features."""
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(_rfm_inputs(X), y)


def predict_rfm_logistic(model, X: np.ndarray) -> np.ndarray:
    return model.predict_proba(_rfm_inputs(X))[:, 1]


def _fit(X: np.ndarray, y: np.ndarray) -> HistGradientBoostingClassifier:
    """Boosted trees on log loss, of fixed size.

    Log loss is a proper scoring rule, so the probabilities are calibrated by construction;
    isotonic calibration on top (CalibratedClassifierCV) was tried and barely moved the Brier
    score on the simulated shops, for several times the fit time. The back-test records the
    Brier score and the expected calibration error ("ece") to keep an eye on it.
    No early stopping: the same client appears at several overlapping cut-offs, so a random
    validation split leaks and never stops; small trees and a fixed number of rounds (chosen on
    the simulated shops of bench/churn_backtest.py) overfit less.
    """
    with features.limited_threads():
        return HistGradientBoostingClassifier(
            # 50 rounds at 0.2 score about as well as 100 at 0.1 on bench/churn_backtest.py (AUC
            # and Brier), and predicting every client costs per tree: half the trees, half the
            # nightly model time.
            learning_rate=0.2,
            max_iter=50,
            max_leaf_nodes=15,
            min_samples_leaf=100,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=RANDOM_STATE,
        ).fit(features.trainable(X), y)


def _predict(model, X: np.ndarray) -> np.ndarray:
    with features.limited_threads():
        return model.predict_proba(X)[:, 1]


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |predicted - observed| over equal-width probability bins, weighted by bin size."""
    which = np.minimum((p * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins)
    gap = np.abs(np.bincount(which, weights=p, minlength=bins) - np.bincount(which, weights=y, minlength=bins))
    return float(gap.sum() / max(count.sum(), 1))


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list:
    """[[predicted, observed, clients]] per equal-width probability band with clients in it: the
    reliability diagram's points (a calibrated model's lie on the diagonal)."""
    which = np.minimum((p * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins)
    predicted = np.bincount(which, weights=p, minlength=bins)
    observed = np.bincount(which, weights=y, minlength=bins)
    return [[float(predicted[b] / count[b]), float(observed[b] / count[b]), int(count[b])]
            for b in range(bins) if count[b]]


def _backtest(blocks: list) -> dict:
    """Fit on all cut-offs but the newest, score the newest, compare with the three baselines
    (logistic regression on RFM, recency alone, BG/NBD)."""
    X_train, y_train = features.stack(blocks[1:])
    X_test, y_test = blocks[0]
    p = _predict(_fit(X_train, y_train), X_test)
    # Recency-only: rank by days since the last order; its probabilities are the isotonic fit of
    # "did not buy" on recency over the training cut-offs (the best recency-only calibration).
    recency = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(X_train[:, _LAST_DAYS], y_train)
    logistic = predict_rfm_logistic(fit_rfm_logistic(X_train, y_train), X_test)
    silent = X_test[:, _BGNBD_SILENT]
    has_bgnbd = bool(np.isfinite(silent).all())
    return {
        "auc": float(roc_auc_score(y_test, p)),
        "brier": float(brier_score_loss(y_test, p)),
        "ece": expected_calibration_error(y_test, p),
        "reliability": reliability(y_test, p),
        "baseline_auc": float(roc_auc_score(y_test, X_test[:, _LAST_DAYS])),
        "baseline_brier": float(brier_score_loss(y_test, recency.predict(X_test[:, _LAST_DAYS]))),
        "logistic_auc": float(roc_auc_score(y_test, logistic)),
        "logistic_brier": float(brier_score_loss(y_test, logistic)),
        "bgnbd_auc": float(roc_auc_score(y_test, silent)) if has_bgnbd else float("nan"),
        "bgnbd_brier": float(brier_score_loss(y_test, silent)) if has_bgnbd else float("nan"),
        "base_rate": float(y_test.mean()),
        "n_train": len(y_train),
        "n_test": len(y_test),
        "cutoffs": len(blocks),
    }


def score_churn(current: dict, history: list, horizon_days: int,
                current_fit: btyd.BTYDFit | None = None) -> ChurnResult:
    """P(no purchase in the next `horizon_days`) for every client of `current`.

    history: newest first; each item is (aggregates as of cut-off c, number of orders each client
    made in (c, c + horizon]), all windows fully observed. Training rows are clients with at least
    one order before c; label = no order in the window. The back-test fits on every cut-off but
    the newest and evaluates on the newest; the shipped model is then refitted on all of them.
    current_fit: features.fit_current(current) when the caller already has it (the value model
    uses the same one).
    """
    probability = np.full(len(current["frequency"]), np.nan)
    reason = _too_small(history)
    fit = current_fit or features.fit_current(current)
    if reason and fit.bgnbd is not None:
        # Too little history to learn from, but enough buyers for BG/NBD, which needs none: on the
        # young shops of bench/churn_backtest.py it ranks and calibrates far better than the rule.
        def predict(agg):
            return btyd.probability_no_purchase(fit.bgnbd, horizon_days, *btyd.rfm(agg))

        rows = features.buyers(current)
        probability[rows] = predict(features.take(current, rows))
        note = _("BG/NBD used: %(reason)s") % {"reason": reason}
        return ChurnResult(probability, "bgnbd", note, {}, predict)
    if reason:
        probability = rule_churn(current, horizon_days)
        return ChurnResult(probability, "rule", _("rule used: %(reason)s") % {"reason": reason}, {},
                           lambda agg: rule_churn(agg, horizon_days))

    labelled = [(agg, (np.asarray(orders) == 0).astype(np.int8)) for agg, orders in history]
    blocks = features.labelled_blocks(labelled, horizon_days, seed=RANDOM_STATE)
    metrics = _backtest(blocks)
    X, y = features.stack(blocks)
    model = _fit(X, y)
    metrics["n_fit"] = len(y)

    def predict(agg):
        return features.predict_all(lambda X: _predict(model, X), agg, horizon_days, fit, features.buyers(agg))

    rows = features.buyers(current)
    probability[rows] = features.predict_all(lambda X: _predict(model, X), current, horizon_days, fit, rows)
    note = _("model: boosted trees on aggregates + BG/NBD over %(cutoffs)d cut-offs; back-test on the newest window "
             "AUC %(auc).3f (recency %(baseline_auc).3f, BG/NBD %(bgnbd_auc).3f), "
             "Brier %(brier).3f (recency %(baseline_brier).3f, BG/NBD %(bgnbd_brier).3f)") % {
        "cutoffs": len(history), **{key: metrics[key] for key in (
            "auc", "baseline_auc", "bgnbd_auc", "brier", "baseline_brier", "bgnbd_brier")}}
    return ChurnResult(probability, "model", note, metrics, predict)
