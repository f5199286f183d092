"""BG/NBD and Gamma-Gamma: the textbook "buy till you die" baseline.

BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while alive a client buys
at a Poisson rate lambda ~ Gamma(r, alpha); after every purchase they drop out for good with
probability p ~ Beta(a, b). Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV"): order values
are Gamma(p, nu) with nu ~ Gamma(q, gamma) per client, independent of the purchase process.

Both are fitted by maximum likelihood with L-BFGS-B on log-parameters; every likelihood and
prediction is a vectorised numpy expression over clients (no per-client Python loop). Times are in
days, as in the aggregates of `segments.aggregates`.

From the aggregates we use, per client with at least one order:
    x   = frequency - 1          repeat purchases (BG/NBD counts purchases after the first)
    t_x = first_days - last_days  time of the last purchase, measured from the first
    T   = first_days              observation length since the first purchase
Clients with no orders get NaN in every BG/NBD output (the model knows nothing about them).
For Gamma-Gamma we use the mean of *all* orders (frequency, monetary / frequency) rather than of
repeat orders only, because the aggregates carry the total amount; the first order is as much
evidence about a client's spend as any other.
"""

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

# Fits use at most this many clients (a fixed-seed sample): the likelihood is a sum over clients,
# so that many rows pin four or three parameters down far more tightly than anything downstream needs.
MAX_FIT_ROWS = 200_000
MIN_FIT_CLIENTS = 30  # below this an MLE of four parameters is noise
# Log-parameters are boxed so that degenerate data (nobody ever drops out, say) ends at a finite,
# usable point instead of wandering to infinity.
_LOG_BOUND = 12.0


class FitError(RuntimeError):
    """The likelihood could not be maximised to a finite point (too little or degenerate data)."""


@dataclass(frozen=True)
class BGNBDParams:
    r: float
    alpha: float  # days
    a: float
    b: float


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    gamma: float  # money


def rfm(agg: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, t_x, T) from an aggregates dict; NaN for clients with no orders."""
    freq = np.asarray(agg["frequency"])
    buyer = freq > 0
    x = np.where(buyer, freq - 1, np.nan).astype(np.float64)
    T = np.where(buyer, agg["first_days"], np.nan).astype(np.float64)
    t_x = np.where(buyer, T - agg["last_days"], np.nan)
    return x, t_x, T


def _sample(n: int, max_rows: int, seed: int) -> np.ndarray | slice:
    if n <= max_rows:
        return slice(None)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))


def _maximise(neg_ll, x0: np.ndarray) -> np.ndarray:
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(x0)
    res = optimize.minimize(neg_ll, x0, method="L-BFGS-B", bounds=bounds)
    if not np.all(np.isfinite(res.x)) or not np.isfinite(res.fun):
        raise FitError(f"likelihood did not converge: {res.message}")
    return res.x


# --- BG/NBD -------------------------------------------------------------------------------------


def _fit_rows(model, x, t_x, T, max_rows, seed):
    """(x, t_x, T, scale) to fit a purchase model on: clients with an order (NaN rows dropped), a
    fixed-seed sample of at most max_rows, times divided by `scale` (their mean T) so that the
    log-parameters sit on comparable scales for L-BFGS-B (time-scale parameters are scaled back)."""
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    ok = np.isfinite(x) & np.isfinite(t_x) & np.isfinite(T)
    x, t_x, T = x[ok], t_x[ok], T[ok]
    if len(x) < MIN_FIT_CLIENTS:
        raise FitError(f"{model} needs at least {MIN_FIT_CLIENTS} clients with an order, got {len(x)}")
    if not np.any(x > 0):
        raise FitError(f"{model} needs at least one repeat buyer")
    pick = _sample(len(x), max_rows, seed)
    x, t_x, T = x[pick], t_x[pick], T[pick]
    scale = max(float(T.mean()), 1e-9)
    return x, t_x / scale, T / scale, scale


def fit_bgnbd(x, t_x, T, *, max_rows: int = MAX_FIT_ROWS, seed: int = 0, penalizer: float = 0.0) -> BGNBDParams:
    """Maximum-likelihood BG/NBD on clients with at least one order (NaN rows are dropped).

    Times are rescaled to a unit mean T before optimising (alpha is a time scale, so it is scaled
    back afterwards); that keeps the four log-parameters on comparable scales for L-BFGS-B.
    `penalizer` adds an L2 penalty on the log-parameters (0 = plain MLE).
    """
    x, t_x, T, scale = _fit_rows("BG/NBD", x, t_x, T, max_rows, seed)
    # The optimiser evaluates the likelihood hundreds of times: the gamma functions depend on x
    # only, a few dozen distinct counts, so they are evaluated per distinct count and spread back.
    counts, which = np.unique(x, return_inverse=True)
    repeat = x > 0

    def neg_ll(theta):  # equation 6 of Fader, Hardie & Lee 2005, in log form
        r, alpha, a, b = np.exp(theta)
        per_count = (special.gammaln(r + counts) - special.gammaln(r) + r * np.log(alpha)
                     + special.gammaln(a + b) + special.gammaln(b + counts) - special.gammaln(b)
                     - special.gammaln(a + b + counts))
        a3 = -(r + x) * np.log(alpha + T)
        a4 = np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) - (r + x) * np.log(alpha + t_x)
        ll = per_count[which] + np.where(repeat, np.logaddexp(a3, a4), a3)
        return -ll.mean() + penalizer * float(theta @ theta)

    r, alpha, a, b = np.exp(_maximise(neg_ll, np.zeros(4)))
    return BGNBDParams(r=float(r), alpha=float(alpha * scale), a=float(a), b=float(b))


def _log_dead_odds(params: BGNBDParams, x, t_x, T) -> np.ndarray:
    """log of P(dropped out) / P(alive) given the history; -inf for one-time buyers."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        odds = np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0))
        odds += (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.where(repeat, odds, np.where(np.isnan(x), np.nan, -np.inf))


def probability_alive(params: BGNBDParams, x, t_x, T) -> np.ndarray:
    """P(the client has not dropped out by T). BG/NBD says 1 for one-time buyers by construction."""
    return special.expit(-_log_dead_odds(params, x, t_x, T))


def expected_purchases(params: BGNBDParams, t, x, t_x, T) -> np.ndarray:
    """E[number of purchases in (T, T + t]] (equation 10 of Fader, Hardie & Lee 2005).

    The paper's ((alpha+T)/(alpha+T+t))^(r+x) * 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t)) is a tiny power
    times a huge series for heavy buyers (1e-227 * 5e226 for 378 repeat orders in 75 days). Euler's
    transformation gives 2F1(r+x, a-1; a+b+x-1; -t/(alpha+T)): same value, no huge power, a small
    argument for the usual t << alpha + T. Where scipy cannot evaluate that (NaN for heavy buyers
    whose history is shorter than the horizon: 10 in 200,000 on the segmentation bench's shop, and
    with them the whole BG/NBD + Gamma-Gamma back-test), Pfaff's transformation on the other
    parameter gives (1 + t/(alpha+T))^(1-a) * 2F1(a+b-1-r, a-1; a+b+x-1; t/(alpha+T+t)), argument in
    [0, 1) whatever the horizon. Neither form serves every fit (the second overflows when a-1 is
    large), hence the second only where the first failed.
    """
    r, alpha, b = params.r, params.alpha, params.b
    a = params.a if abs(params.a - 1.0) > 1e-6 else 1.0 + 1e-6  # the formula is 0/0 at a == 1
    x, T = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(T, dtype=np.float64))
    hyp = special.hyp2f1(r + x, a - 1.0, a + b + x - 1.0, -t / (alpha + T))
    failed = ~np.isfinite(hyp) & np.isfinite(x) & np.isfinite(T)
    if failed.any():  # what neither form can evaluate stays NaN
        xf, Tf = x[failed], T[failed]
        with np.errstate(invalid="ignore", over="ignore"):
            hyp[failed] = (1.0 + t / (alpha + Tf)) ** (1.0 - a) * special.hyp2f1(
                a + b - 1.0 - r, a - 1.0, a + b + xf - 1.0, t / (alpha + Tf + t))
    unconditional = (a + b + x - 1.0) / (a - 1.0) * (1.0 - hyp)
    return np.maximum(unconditional * probability_alive(params, x, t_x, T), 0.0)


def probability_no_purchase(params: BGNBDParams, t, x, t_x, T) -> np.ndarray:
    """P(no purchase in (T, T + t]).

    Dead clients never buy; an alive client has posterior lambda ~ Gamma(r + x, alpha + T) (and
    cannot drop out without buying first), so P(silence | alive) = ((alpha+T)/(alpha+T+t))^(r+x).
    """
    silent_if_alive = np.exp((params.r + x) * (np.log(params.alpha + T) - np.log(params.alpha + T + t)))
    return 1.0 - probability_alive(params, x, t_x, T) * (1.0 - silent_if_alive)


# --- Gamma-Gamma --------------------------------------------------------------------------------


def spend_arrays(agg: dict) -> tuple[np.ndarray, np.ndarray]:
    """(number of orders, mean order value) for Gamma-Gamma; 0 orders -> mean NaN."""
    freq = np.asarray(agg["frequency"]).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(freq > 0, agg["monetary"] / freq, np.nan)
    return freq, mean


def fit_gamma_gamma(n, m, *, max_rows: int = MAX_FIT_ROWS, seed: int = 0) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma on clients with orders and a positive mean order value.

    q is parametrised as 1 + exp(theta) so the population mean spend p * gamma / (q - 1) exists.
    """
    n, m = np.asarray(n, dtype=np.float64), np.asarray(m, dtype=np.float64)
    ok = (n > 0) & np.isfinite(m) & (m > 0)
    n, m = n[ok], m[ok]
    if len(n) < MIN_FIT_CLIENTS:
        raise FitError(f"Gamma-Gamma needs at least {MIN_FIT_CLIENTS} clients with a positive spend, got {len(n)}")
    pick = _sample(len(n), max_rows, seed)
    n, m = n[pick], m[pick]
    scale = float(m.mean())
    m = m / scale
    # As for BG/NBD: gamma functions per distinct order count, logs of the data computed once.
    counts, which = np.unique(n, return_inverse=True)
    log_m, log_n = np.log(m), np.log(n)

    def neg_ll(theta):  # log-likelihood of the mean order value over n orders, constants in m dropped
        p, q1, gamma = np.exp(theta)
        q = 1.0 + q1
        per_count = (special.gammaln(p * counts + q) - special.gammaln(p * counts) - special.gammaln(q)
                     + q * np.log(gamma))
        px = p * n
        ll = per_count[which] + (px - 1.0) * log_m + px * log_n - (px + q) * np.log(gamma + m * n)
        return -ll.mean()

    p, q1, gamma = np.exp(_maximise(neg_ll, np.array([0.0, 0.0, 0.0])))
    return GammaGammaParams(p=float(p), q=float(1.0 + q1), gamma=float(gamma * scale))


def expected_spend(params: GammaGammaParams, n, m) -> np.ndarray:
    """E[value of a future order] per client: the client's mean shrunk toward the population mean.

    With no orders (n = 0) this is the population mean p * gamma / (q - 1).
    """
    n = np.asarray(n, dtype=np.float64)
    m = np.where(n > 0, np.nan_to_num(np.asarray(m, dtype=np.float64)), 0.0)
    return (params.gamma + m * n) * params.p / (params.p * n + params.q - 1.0)


# --- both, from aggregates ----------------------------------------------------------------------


@dataclass(frozen=True)
class BTYDFit:
    """What could be fitted on one aggregates snapshot; None where the data did not allow a fit."""

    bgnbd: BGNBDParams | None
    gamma_gamma: GammaGammaParams | None
    note: str = ""


def fit_btyd(agg: dict, *, max_rows: int = MAX_FIT_ROWS, seed: int = 0) -> BTYDFit:
    """Fit BG/NBD and Gamma-Gamma on one snapshot, keeping whichever succeeds."""
    notes = []
    bgnbd = gg = None
    try:
        bgnbd = fit_bgnbd(*rfm(agg), max_rows=max_rows, seed=seed)
    except FitError as exc:
        notes.append(f"BG/NBD: {exc}")
    try:
        gg = fit_gamma_gamma(*spend_arrays(agg), max_rows=max_rows, seed=seed)
    except FitError as exc:
        notes.append(f"Gamma-Gamma: {exc}")
    return BTYDFit(bgnbd=bgnbd, gamma_gamma=gg, note="; ".join(notes))


def bgnbd_gg_revenue(fit: BTYDFit, agg: dict, horizon_days: float) -> np.ndarray:
    """The classic CLV baseline: E[purchases in horizon] x E[order value]; NaN for non-buyers."""
    if fit.bgnbd is None or fit.gamma_gamma is None:
        raise FitError("BG/NBD + Gamma-Gamma needs both models fitted")
    x, t_x, T = rfm(agg)
    return expected_purchases(fit.bgnbd, horizon_days, x, t_x, T) * expected_spend(fit.gamma_gamma, *spend_arrays(agg))


# --- Pareto/NBD ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParetoNBDParams:
    r: float
    alpha: float  # days
    s: float  # dropout: lifetime ~ Exponential(mu), mu ~ Gamma(s, beta)
    beta: float  # days


def _pareto_log_a0(params: ParetoNBDParams, x, t_x, T) -> np.ndarray:
    """log A0 of Fader & Hardie's "A note on deriving the Pareto/NBD model" (2005), equation (19),
    written with the larger of alpha and beta so the hypergeometric argument stays in [0, 1)."""
    r, alpha, s, beta = params.r, params.alpha, params.s, params.beta
    if alpha >= beta:
        big, b = alpha, s + 1.0
    else:
        big, b = beta, r + x
    rsx = r + s + x
    gap = abs(alpha - beta)
    log_q1, log_q2 = np.log(big + t_x), np.log(big + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1 = np.log(special.hyp2f1(rsx, b, rsx + 1.0, gap / (big + t_x)))
        p2 = np.log(special.hyp2f1(rsx, b, rsx + 1.0, gap / (big + T)))
        # p1 / q1^rsx - p2 / q2^rsx, the first term always the larger (t_x <= T)
        first, second = p1 - rsx * log_q1, p2 - rsx * log_q2
        return first + np.log1p(-np.exp(np.minimum(second - first, 0.0)))


def _pareto_log_likelihood(params: ParetoNBDParams, x, t_x, T) -> np.ndarray:
    r, alpha, s, beta = params.r, params.alpha, params.s, params.beta
    head = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = np.logaddexp(-(r + x) * np.log(alpha + T) - s * np.log(beta + T),
                            np.log(s) - np.log(r + s + x) + _pareto_log_a0(params, x, t_x, T))
    return head + tail


def fit_pareto_nbd(x, t_x, T, *, max_rows: int = MAX_FIT_ROWS, seed: int = 0) -> ParetoNBDParams:
    """Maximum-likelihood Pareto/NBD (Schmittlein, Morrison & Colombo 1987): while alive a client buys
    at lambda ~ Gamma(r, alpha); their lifetime is Exponential(mu), mu ~ Gamma(s, beta), so unlike
    BG/NBD a client may drop out at any time, not only right after a purchase. Same inputs as fit_bgnbd.
    """
    x, t_x, T, scale = _fit_rows("Pareto/NBD", x, t_x, T, max_rows, seed)

    def neg_ll(theta):
        r, alpha, s, beta = np.exp(theta)
        ll = _pareto_log_likelihood(ParetoNBDParams(r, alpha, s, beta), x, t_x, T)
        # hyp2f1 overflows for extreme trial points: those are simply very unlikely
        return -float(np.mean(ll)) if np.all(np.isfinite(ll)) else 1e10

    r, alpha, s, beta = np.exp(_maximise(neg_ll, np.zeros(4)))
    return ParetoNBDParams(r=float(r), alpha=float(alpha * scale), s=float(s), beta=float(beta * scale))


def pareto_expected_purchases(params: ParetoNBDParams, t, x, t_x, T) -> np.ndarray:
    """E[number of purchases in (T, T + t]] given the history (Fader & Hardie 2005, equation 25)."""
    r, alpha, s, beta = params.r, params.alpha, params.s, params.beta
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    s1 = s if abs(s - 1.0) > 1e-6 else 1.0 + 1e-6  # the formula is 0/0 at s == 1
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_alive_part = (special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
                          - (r + x) * np.log(alpha + T) - s * np.log(beta + T)
                          - _pareto_log_likelihood(params, x, t_x, T))
        rate = np.log(r + x) + np.log(beta + T) - np.log(alpha + T)
        horizon = np.log((1.0 - ((beta + T) / (beta + T + t)) ** (s1 - 1.0)) / (s1 - 1.0))
        return np.exp(log_alive_part + rate + horizon)


def pareto_gg_revenue(params: ParetoNBDParams, gg: GammaGammaParams, agg: dict, horizon_days: float) -> np.ndarray:
    """Pareto/NBD + Gamma-Gamma: E[purchases in horizon] x E[order value]; NaN for non-buyers."""
    x, t_x, T = rfm(agg)
    return pareto_expected_purchases(params, horizon_days, x, t_x, T) * expected_spend(gg, *spend_arrays(agg))
