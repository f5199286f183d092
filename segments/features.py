"""The models' features, built from per-client aggregates (their contract: segments/aggregates.py),
and the labelled rows the models learn from, taken at past cut-offs of the shop's history."""

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
from threadpoolctl import threadpool_limits

from segments import btyd


def take(agg: dict, rows) -> dict:
    """The aggregates of a subset of clients (an index array, a boolean mask or a slice)."""
    return {key: value[rows] for key, value in agg.items()}


# --- model features -----------------------------------------------------------------------------

FEATURE_NAMES = (
    "frequency",
    "log_avg_order",
    "first_days",
    "last_days",
    "mean_gap",
    "overdue",  # recency in units of the client's own mean gap between orders
    "recency_share",  # recency as a share of the client's tenure as a buyer
    "activity_30",
    "activity_90",
    "activity_days",
    "age_days",
    "days_to_first_order",
    "bgnbd_alive",
    "bgnbd_expected",
    "bgnbd_no_purchase",
    "gg_spend",
    "bgnbd_gg_revenue",
)
# The visit measures (segments/visits.py) the models use: only those whose addition improved the
# back-test on the simulated shops (bench/churn_backtest.py --visit-features; docs/development.md).
# Visits in 30 and 90 days added nothing there beside activity_30 / activity_90 and are left out.
VISIT_FEATURES = ("visit_seconds", "bounce_rate", "visit_gap_days", "visit_conversion")
FEATURE_NAMES += VISIT_FEATURES


def design_matrix(agg: dict, horizon_days: float, fit: btyd.BTYDFit) -> np.ndarray:
    """Model features for every client (rows) in FEATURE_NAMES order (columns), float64.

    Missing values stay NaN (histogram gradient boosting treats them as their own branch);
    BG/NBD / Gamma-Gamma columns are NaN when that model could not be fitted on the snapshot, and the
    visit columns when the aggregates carry no visit measures (a test's hand-made aggregates).
    """
    n = len(agg["frequency"])
    freq = agg["frequency"].astype(np.float64)
    first, last = agg["first_days"], agg["last_days"]
    with np.errstate(invalid="ignore", divide="ignore"):
        avg_order = np.where(freq > 0, agg["monetary"] / freq, np.nan)
        mean_gap = np.where(freq > 1, (first - last) / (freq - 1.0), np.nan)
        overdue = last / mean_gap
        recency_share = np.where(first > 0, last / first, np.nan)
        log_avg_order = np.log1p(np.maximum(avg_order, 0.0))

    x, t_x, T = btyd.rfm(agg)
    nan = np.full(n, np.nan)
    alive = expected = silent = spend = revenue = nan
    if fit.bgnbd is not None:
        alive = btyd.probability_alive(fit.bgnbd, x, t_x, T)
        expected = btyd.expected_purchases(fit.bgnbd, horizon_days, x, t_x, T)
        silent = btyd.probability_no_purchase(fit.bgnbd, horizon_days, x, t_x, T)
    if fit.gamma_gamma is not None:
        spend = btyd.expected_spend(fit.gamma_gamma, *btyd.spend_arrays(agg))
        revenue = expected * spend

    columns = (
        freq,
        log_avg_order,
        first,
        last,
        mean_gap,
        overdue,
        recency_share,
        agg["activity_30"],
        agg["activity_90"],
        agg["activity_days"],
        agg["age_days"],
        agg["age_days"] - first,
        alive,
        expected,
        silent,
        spend,
        revenue,
        *(agg.get(name, nan) for name in VISIT_FEATURES),
    )
    return np.column_stack([np.asarray(c, dtype=np.float64) for c in columns])


def trainable(X: np.ndarray) -> np.ndarray:
    """X with every all-NaN column set to 0, which scikit-learn's histogram binning cannot take
    (it fails on a column without a single value, e.g. activity features when the shop has no
    activity before a cut-off). A constant column is never split on, so predicting with the real
    values later is harmless."""
    empty = ~np.isfinite(X).any(axis=0)
    if not empty.any():
        return X
    X = X.copy()
    X[:, empty] = 0.0
    return X


# --- training rows from history -----------------------------------------------------------------

# Training uses at most this many labelled rows over all cut-offs, and BG/NBD / Gamma-Gamma are
# fitted on at most BTYD_FIT_ROWS clients per snapshot: both are fixed-seed samples, so a night is
# reproducible, and both keep the models' time bounded whatever the shop's size.
MAX_TRAIN_ROWS = 100_000
BTYD_FIT_ROWS = 25_000
PREDICT_CHUNK = 100_000  # clients per chunk: bounds the float64 design matrices held at once
MODEL_THREADS = 1  # see limited_threads()
PREDICT_THREADS = 2  # see predict_all()


def fit_current(agg: dict) -> btyd.BTYDFit:
    """BG/NBD + Gamma-Gamma on the as-of snapshot, the fit both models' predictions use (the
    pipeline fits it once and hands it to both)."""
    return btyd.fit_btyd(agg, max_rows=BTYD_FIT_ROWS, seed=0)


def buyers(agg: dict) -> np.ndarray:
    """Indices of clients with at least one order: the only ones a history-based model can score."""
    return np.flatnonzero(agg["frequency"] > 0)


def cutoff_rows(agg: dict, k: int, n_cutoffs: int, *, max_rows: int = MAX_TRAIN_ROWS, seed: int = 0) -> np.ndarray:
    """The buyers of the k-th of n_cutoffs snapshots that labelled_blocks learns from: an equal
    fixed-seed share of max_rows per cut-off."""
    per_cutoff = max(1, max_rows // max(1, n_cutoffs))
    rows = buyers(agg)
    if len(rows) > per_cutoff:
        rows = np.sort(np.random.default_rng([seed, k]).choice(rows, size=per_cutoff, replace=False))
    return rows


def labelled_blocks(history: list, horizon_days: float, *, max_rows: int = MAX_TRAIN_ROWS, seed: int = 0) -> list:
    """Per cut-off (design matrix, target) for the clients with an order before that cut-off.

    `history` is a list of (aggregates at c, per-client target for (c, c + horizon]). Each cut-off
    contributes an equal fixed-seed sample of its buyers (at most max_rows over all cut-offs), and
    its BG/NBD / Gamma-Gamma features come from a fit on that cut-off's own snapshot, so nothing
    after c leaks in. Built once, the blocks serve both the back-test and the final fit.
    """
    blocks = []
    for k, (agg, target) in enumerate(history):
        rows = cutoff_rows(agg, k, len(history), max_rows=max_rows, seed=seed)
        fit = btyd.fit_btyd(agg, max_rows=BTYD_FIT_ROWS, seed=seed)
        blocks.append((design_matrix(take(agg, rows), horizon_days, fit), np.asarray(target)[rows]))
    return blocks


def stack(blocks: list) -> tuple[np.ndarray, np.ndarray]:
    """One (X, target) from several blocks."""
    return np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks])


@contextmanager
def limited_threads():
    """Run model fits and predictions on MODEL_THREADS OpenMP threads.

    Gradient boosting's OpenMP loops synchronise every few microseconds; when the box is shared
    (a second Celery worker, PostgreSQL, a web process) a descheduled thread stalls all of them and
    a fit takes many times longer than on one thread. The design scales the nightly run with
    processes (id-range tasks), so one thread per process is the safe default.
    """
    with threadpool_limits(limits=MODEL_THREADS, user_api="openmp"):
        yield


def predict_all(predict, agg: dict, horizon_days: float, fit: btyd.BTYDFit, rows: np.ndarray) -> np.ndarray:
    """predict(X) over the given client rows, chunk by chunk, so memory stays flat however many clients.

    PREDICT_THREADS chunks at once (the trees' loops and numpy release the GIL): the nightly run
    predicts with both models side by side, and the one that finishes first would otherwise leave
    a core idle while the other predicts alone."""
    out = np.empty(len(rows), dtype=np.float64)
    starts = range(0, len(rows), PREDICT_CHUNK)

    def chunk(start):
        part = rows[start : start + PREDICT_CHUNK]
        out[start : start + len(part)] = predict(design_matrix(take(agg, part), horizon_days, fit))

    with ThreadPoolExecutor(PREDICT_THREADS) as pool:
        list(pool.map(chunk, starts))
    return out
