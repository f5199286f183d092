"""Back-test of the shipped churn and value models against the classic baselines.

    .venv/bin/python bench/churn_backtest.py [--clients 20000] [--shops 2y-1,9m,seasonal]

Each simulated shop (its own population, see SHOPS) is scored as the night scores it: "today" is
the end of the data minus the value horizon, the models see only what happened up to today and
the past cut-offs the pipeline gives them (churn: CUTOFFS windows of the churn horizon; value:
CUTOFFS windows of the value horizon where the shop is old enough, and the churn-horizon windows
for the short-history candidates), and are judged on what each client with an order by today
really did next:
- churn (next churn horizon): the shipped model vs a logistic regression on RFM features (trained
  on the same cut-offs), a recency-only ranking (its probabilities: isotonic fit of "did not buy"
  on recency over the cut-offs) and BG/NBD's P(no purchase), by ROC AUC and Brier (ECE for the
  shipped model);
- value (next value horizon): the shipped model vs BG/NBD + Gamma-Gamma and Pareto/NBD +
  Gamma-Gamma fitted on today's data, by mean absolute error, Spearman rank correlation and
  total predicted / total actual revenue.
Prints one row per shop and model; exits 1 if a shipped model loses to a baseline on a shop
(churn AUC or Brier, value MAE) or its total misses the actual by more than 10%.
No Django settings needed.

With --visit-features it back-tests the models again with each visit measure (segments/visits.py,
from the simulated sessions' durations, pages and target actions) added on its own, and with all of
them, against the shipped feature set, and prints each one's change in mean AUC, Brier and MAE: a
measure joins features.VISIT_FEATURES only where it improves the back-test.
"""

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402

if not settings.configured:  # the models' notes are translated strings: Django's defaults serve
    settings.configure(USE_I18N=False)

from scipy import stats  # noqa: E402
from sklearn.isotonic import IsotonicRegression  # noqa: E402
from sklearn.metrics import brier_score_loss, roc_auc_score  # noqa: E402

from bench.simulated_shop import random_params, simulate_shop  # noqa: E402
from crm import session_properties  # noqa: E402
from segments import btyd, churn, clv, features, visits  # noqa: E402
from tests.segments import oracles  # noqa: E402  (a simulated shop's aggregates, from its arrays)

GAP_MINUTES, BOUNCE_SECONDS = 30, 10  # the settings' defaults


def snapshot(shop):
    """at(cut-off): the shop's aggregates as of a cut-off, visit measures included, as the night reads them."""
    args = shop.arrays()
    times = (shop.activity_times * visits.DAY).astype(np.int64)
    codes = np.where(shop.activity_converted, session_properties.CONVERTED_SESSION, session_properties.SESSION)
    trail = visits.Trail.sorted([shop.activity_client_index.astype(np.int64), times, times, shop.activity_seconds,
                                 shop.activity_pages, codes])
    order_times = (shop.order_times * visits.DAY).astype(np.int64)

    def at(c):
        return oracles.aggregates_at(*args, as_of=c, first_seen=shop.first_seen) | visits.measures(
            trail, shop.client_index.astype(np.int64), order_times, int(c * visits.DAY), shop.n_clients,
            GAP_MINUTES, BOUNCE_SECONDS)

    return at


def shop_windows(shop, horizon: float, step: float, n_cutoffs: int) -> dict:
    """Today's aggregates, the held-out truth, and the two histories the models are given."""
    today = shop.days - horizon
    at = snapshot(shop)

    def orders(c):
        return oracles.window_orders(shop.client_index, shop.order_times, shop.n_clients, c, horizon)

    def revenue(c):
        amounts = shop.order_amounts
        return oracles.window_revenue(shop.client_index, shop.order_times, amounts, shop.n_clients, c, horizon)

    cutoffs = [today - horizon - k * step for k in range(n_cutoffs)]  # newest first, windows end by today
    snapshots = [at(c) for c in cutoffs]
    return {
        "current": at(today),
        "orders": orders(today),
        "revenue": revenue(today),
        "orders_history": [(agg, orders(c)) for agg, c in zip(snapshots, cutoffs)],
        "revenue_history": [(agg, revenue(c)) for agg, c in zip(snapshots, cutoffs)],
    }


# The shops: (name, seed, days of history before "today", seasonality). Three established shops
# (two years), three young ones (6, 9 and 12 months: no fully observed value-horizon window) and
# a seasonal one (rates swing 60% around the mean over each year).
SHOPS = {
    "2y-1": (1, 730.0, 0.0),
    "2y-2": (2, 730.0, 0.0),
    "2y-3": (3, 730.0, 0.0),
    "6m": (4, 182.0, 0.0),
    "9m": (5, 273.0, 0.0),
    "12m": (6, 365.0, 0.0),
    "seasonal": (7, 730.0, 0.6),
}
CUTOFFS = 4  # as nightly/pipeline.py's CHURN_CUTOFFS and VALUE_CUTOFFS
TOTAL_TOLERANCE = 0.10  # the predicted total over the value horizon must be within 10% of the actual


def night_windows(shop, today: float, h: float, big_h: float) -> dict:
    """What the night would give the models at `today`, and the held-out truth after it.

    The cut-offs are the pipeline's: churn at today - h * (k + 1), value at today - big_h - h * k;
    cut-offs before the shop's first day give empty snapshots, as the night's do.
    """
    at = snapshot(shop)

    def orders(c, length):
        return oracles.window_orders(shop.client_index, shop.order_times, shop.n_clients, c, length)

    def revenue(c, length):
        amounts = shop.order_amounts
        return oracles.window_revenue(shop.client_index, shop.order_times, amounts, shop.n_clients, c, length)

    churn_cuts = [today - h * (k + 1) for k in range(CUTOFFS)]
    value_cuts = [today - big_h - h * k for k in range(CUTOFFS)]
    churn_snaps = [at(c) for c in churn_cuts]
    return {
        "current": at(today),
        "orders": orders(today, h),
        "revenue": revenue(today, big_h),
        "orders_history": [(agg, orders(c, h)) for agg, c in zip(churn_snaps, churn_cuts)],
        "revenue_history": [(at(c), revenue(c, big_h)) for c in value_cuts],
        "short_history": [(agg, revenue(c, h)) for agg, c in zip(churn_snaps, churn_cuts)],
    }


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(stats.spearmanr(a, b).statistic)


def shop_night(name: str, n_clients: int, h: float, big_h: float) -> dict:
    """The shop of that name, simulated, and what its night gives the models (night_windows)."""
    seed, history_days, seasonality = SHOPS[name]
    params = replace(random_params(seed), days=history_days + big_h, seasonality=seasonality)
    return night_windows(simulate_shop(n_clients, seed, params), history_days, h, big_h)


def evaluate_shop(name: str, w: dict, h: float, big_h: float) -> list[dict]:
    current = w["current"]
    rows = features.buyers(current)
    churned = (w["orders"][rows] == 0).astype(int)
    revenue = w["revenue"][rows]

    started = time.perf_counter()
    fit = features.fit_current(current)
    shipped_churn = churn.score_churn(current, w["orders_history"], int(h), fit)
    shipped_value = clv.score_value(current, w["revenue_history"], int(big_h), fit,
                                    short_history=w["short_history"], short_days=int(h))
    seconds = time.perf_counter() - started

    # Baselines see exactly what the shipped models see.
    buyers = features.take(current, rows)
    x, t_x, T = btyd.rfm(buyers)
    bgnbd_silent = btyd.probability_no_purchase(fit.bgnbd, h, x, t_x, T)
    X_train, y_train = features.stack(features.labelled_blocks(
        [(agg, (orders == 0).astype(np.int8)) for agg, orders in w["orders_history"]], h))
    logistic = churn.fit_rfm_logistic(X_train, y_train)
    X_now = features.design_matrix(buyers, h, fit)
    recency = current["last_days"][rows]
    last_days = features.FEATURE_NAMES.index("last_days")
    iso = IsotonicRegression(out_of_bounds="clip").fit(X_train[:, last_days], y_train)

    def churn_row(model, score, prob, **extra):
        auc, brier = roc_auc_score(churned, score), brier_score_loss(churned, prob)
        return {"shop": name, "model": model, "auc": auc, "brier": brier, **extra}

    def value_row(model, pred, **extra):
        pred = np.nan_to_num(pred)
        return {"shop": name, "model": model, "mae": float(np.mean(np.abs(pred - revenue))),
                "spearman": spearman(pred, revenue), "total": pred.sum() / revenue.sum(), **extra}

    p = shipped_churn.probability[rows]
    p_logistic = churn.predict_rfm_logistic(logistic, X_now)
    return [
        churn_row(f"churn: shipped ({shipped_churn.method})", p, p, seconds=seconds,
                  ece=churn.expected_calibration_error(churned, p)),
        churn_row("churn: logistic on RFM", p_logistic, p_logistic),
        churn_row("churn: recency only", recency, iso.predict(recency)),
        churn_row("churn: BG/NBD", bgnbd_silent, bgnbd_silent),
        value_row(f"value: shipped ({shipped_value.method})", shipped_value.expected_revenue[rows]),
        value_row("value: BG/NBD+GG", btyd.bgnbd_gg_revenue(fit, buyers, big_h)),
        value_row("value: Pareto/NBD+GG", btyd.pareto_gg_revenue(btyd.fit_pareto_nbd(x, t_x, T), fit.gamma_gamma,
                                                                  buyers, big_h)),
    ]


def _fmt(v, spec):
    return format(v, spec) if isinstance(v, (float, np.floating)) and np.isfinite(v) else ""


COLUMNS = (("auc", "AUC", ".4f"), ("brier", "Brier", ".4f"), ("ece", "ECE", ".4f"), ("mae", "MAE", ".2f"),
           ("spearman", "Spearman", ".3f"), ("total", "total", ".3f"), ("seconds", "secs", ".1f"))


def print_table(rows: list[dict]) -> None:
    header = f"{'shop':>8}  {'model':<34}" + "".join(f" {title:>8}" for _, title, _ in COLUMNS)
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['shop']:>8}  {r['model']:<34}" + "".join(f" {_fmt(r.get(k), spec):>8}" for k, _, spec in COLUMNS))


def verdict(rows: list[dict]) -> list[str]:
    """Where a shipped model loses on a shop (empty list = it wins or ties everywhere)."""
    losses = []
    for shop in dict.fromkeys(r["shop"] for r in rows):
        by = {r["model"].split(" (")[0]: r for r in rows if r["shop"] == shop}
        shipped, value = by["churn: shipped"], by["value: shipped"]
        for base in ("churn: logistic on RFM", "churn: recency only", "churn: BG/NBD"):
            if round(shipped["auc"], 3) < round(by[base]["auc"], 3):
                losses.append(f"{shop}: churn AUC {shipped['auc']:.4f} < {base} {by[base]['auc']:.4f}")
            if round(shipped["brier"], 3) > round(by[base]["brier"], 3):
                losses.append(f"{shop}: churn Brier {shipped['brier']:.4f} > {base} {by[base]['brier']:.4f}")
        for base in ("value: BG/NBD+GG", "value: Pareto/NBD+GG"):
            if value["mae"] > by[base]["mae"] * 1.005:
                losses.append(f"{shop}: value MAE {value['mae']:.2f} > {base} {by[base]['mae']:.2f}")
        if abs(value["total"] - 1.0) > TOTAL_TOLERANCE:
            losses.append(f"{shop}: value total ratio {value['total']:.3f} outside 1 +/- {TOTAL_TOLERANCE}")
    return losses


def visit_feature_trials(names, n_clients, h, big_h):
    """The shipped models' mean AUC, Brier and MAE over the shops with the shipped features, with each
    visit measure added on its own, and with all of them; the same shops and windows for every trial."""
    nights = [(name, shop_night(name, n_clients, h, big_h)) for name in names]
    trials = {"shipped": features.VISIT_FEATURES}
    trials |= {f"+ {name}": (*features.VISIT_FEATURES, name) for name in visits.MEASURES
               if name not in features.VISIT_FEATURES}
    trials["+ all visit measures"] = tuple(dict.fromkeys((*features.VISIT_FEATURES, *visits.MEASURES)))
    results = {}
    for trial, measures in trials.items():
        with mock.patch.object(features, "VISIT_FEATURES", measures):
            rows = [r for name, w in nights for r in evaluate_shop(name, w, h, big_h)]
        churn_rows = [r for r in rows if r["model"].startswith("churn: shipped")]
        value_rows = [r for r in rows if r["model"].startswith("value: shipped")]
        results[trial] = (np.mean([r["auc"] for r in churn_rows]), np.mean([r["brier"] for r in churn_rows]),
                          np.mean([r["mae"] for r in value_rows]))
    base = results["shipped"]
    print(f"{'features':<28} {'AUC':>7} {'dAUC':>8} {'Brier':>7} {'dBrier':>8} {'MAE':>9} {'dMAE':>8}")
    for trial, (auc, brier, mae) in results.items():
        print(f"{trial:<28} {auc:7.4f} {auc - base[0]:+8.4f} {brier:7.4f} {brier - base[1]:+8.4f} {mae:9.3f} "
              f"{mae - base[2]:+8.3f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shops", default=",".join(SHOPS), help="comma-separated names of SHOPS")
    parser.add_argument("--clients", type=int, default=20000)
    parser.add_argument("--horizon", type=float, default=90.0, help="churn horizon, days")
    parser.add_argument("--value-horizon", type=float, default=365.0, help="value horizon, days")
    parser.add_argument("--visit-features", action="store_true",
                        help="back-test each visit measure as an added model feature instead")
    args = parser.parse_args(argv)
    names = args.shops.split(",")
    unknown = [n for n in names if n not in SHOPS]
    if unknown:
        parser.error(f"--shops: unknown shop(s) {', '.join(unknown)}; known: {', '.join(SHOPS)}")
    if args.visit_features:
        visit_feature_trials(names, args.clients, args.horizon, args.value_horizon)
        return 0

    started = time.perf_counter()
    rows = []
    for name in names:
        rows += evaluate_shop(name, shop_night(name, args.clients, args.horizon, args.value_horizon), args.horizon,
                              args.value_horizon)
    print(f"{len(names)} shops x {args.clients} clients; churn horizon {args.horizon:g} days, value horizon "
          f"{args.value_horizon:g} days; scored on clients with an order by 'today'")
    print_table(rows)
    losses = verdict(rows)
    print(f"total {time.perf_counter() - started:.0f} s")
    if losses:
        print("SHIPPED MODEL LOSES:\n  " + "\n  ".join(losses))
        return 1
    print("shipped models win or tie on every shop, totals within 10%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
