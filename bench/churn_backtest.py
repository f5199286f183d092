"""Back-test of the shipped churn and value models against the classic baselines.

    .venv/bin/python bench/churn_backtest.py [--shops 3] [--clients 20000] [--horizon 90]

On each simulated shop (seeds 1..shops, each a different population), "today" is the end of the
data minus one horizon; the models see only what happened up to today and their history of
earlier cut-offs, and are judged on the held-out window (today, today + horizon], on every client
with at least one order by today:
- churn: the shipped model vs a recency-only ranking (its probabilities: isotonic fit of "did not
  buy" on recency over the history cut-offs) and BG/NBD's P(no purchase), by ROC AUC and Brier;
- value: the shipped model vs BG/NBD + Gamma-Gamma, by mean absolute error of the window revenue
  (RMSE shown too: MAE alone would reward predicting zero for everyone who probably won't buy).
Prints one row per shop and model, then the means; exits 1 if the shipped models lose on average.
No Django settings needed.

With --visit-features it back-tests the models again with each visit measure (segments/visits.py,
from the simulated sessions' durations, pages and target actions) added on its own, and with all of
them, against the shipped feature set, and prints each one's change in AUC, Brier and MAE: a measure
joins features.VISIT_FEATURES only where it improves the back-test.
"""

import argparse
import sys
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402

if not settings.configured:  # the models' notes are translated strings: Django's defaults serve
    settings.configure(USE_I18N=False)

from sklearn.isotonic import IsotonicRegression  # noqa: E402
from sklearn.metrics import brier_score_loss, roc_auc_score  # noqa: E402

from bench.simulated_shop import simulate_shop  # noqa: E402
from segments import btyd, churn, clv, features, visits  # noqa: E402
from tests.segments import oracles  # noqa: E402  (a simulated shop's aggregates, from its arrays)

GAP_MINUTES, BOUNCE_SECONDS = 30, 10  # the settings' defaults


def shop_windows(shop, horizon: float, step: float, n_cutoffs: int) -> dict:
    """Today's aggregates, the held-out truth, and the two histories the models are given."""
    today = shop.days - horizon
    args = shop.arrays()
    times = (shop.activity_times * visits.DAY).astype(np.int64)
    codes = np.where(shop.activity_converted, visits.CONVERTED_SESSION, visits.SESSION)
    trail = visits.Trail.sorted(shop.activity_client_index.astype(np.int64), times, times, shop.activity_seconds,
                                shop.activity_pages, codes)
    order_times = (shop.order_times * visits.DAY).astype(np.int64)

    def at(c):
        return oracles.aggregates_at(*args, as_of=c, first_seen=shop.first_seen) | visits.measures(
            trail, shop.client_index.astype(np.int64), order_times, int(c * visits.DAY), shop.n_clients,
            GAP_MINUTES, BOUNCE_SECONDS)

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


def evaluate_shop(seed: int, n_clients: int, horizon: float, step: float, n_cutoffs: int) -> list[dict]:
    shop = simulate_shop(n_clients, seed)
    w = shop_windows(shop, horizon, step, n_cutoffs)
    return evaluate_windows(seed, w, horizon)


def evaluate_windows(seed, w, horizon):
    current = w["current"]
    rows = features.buyers(current)
    churned = (w["orders"][rows] == 0).astype(int)
    revenue = w["revenue"][rows]

    started = time.perf_counter()
    shipped_churn = churn.score_churn(current, w["orders_history"], int(horizon))
    shipped_value = clv.score_value(current, w["revenue_history"], int(horizon))
    seconds = time.perf_counter() - started

    # Baselines see exactly what the shipped models see.
    fit = btyd.fit_btyd(current)
    x, t_x, T = btyd.rfm(features.take(current, rows))
    bgnbd_silent = btyd.probability_no_purchase(fit.bgnbd, horizon, x, t_x, T)
    bgnbd_gg = btyd.bgnbd_gg_revenue(fit, features.take(current, rows), horizon)
    recency = current["last_days"][rows]
    past_recency, past_churned = [], []
    for agg, orders in w["orders_history"]:
        past = features.buyers(agg)
        past_recency.append(agg["last_days"][past])
        past_churned.append(orders[past] == 0)
    iso = IsotonicRegression(out_of_bounds="clip").fit(np.concatenate(past_recency), np.concatenate(past_churned))

    def churn_row(model, score, prob):
        auc, brier = roc_auc_score(churned, score), brier_score_loss(churned, prob)
        return {"shop": seed, "model": model, "auc": auc, "brier": brier}

    def value_row(model, pred):
        err = pred - revenue
        mae, rmse = np.mean(np.abs(err)), np.sqrt(np.mean(err**2))
        return {"shop": seed, "model": model, "mae": mae, "rmse": rmse, "total": pred.sum() / revenue.sum()}

    p = shipped_churn.probability[rows]
    return [
        churn_row(f"churn: shipped ({shipped_churn.method})", p, p) | {"seconds": seconds, "base_rate": churned.mean()},
        churn_row("churn: recency only", recency, iso.predict(recency)),
        churn_row("churn: BG/NBD", bgnbd_silent, bgnbd_silent),
        value_row(f"value: shipped ({shipped_value.method})", shipped_value.expected_revenue[rows]),
        value_row("value: BG/NBD+GG", bgnbd_gg),
    ]


def _fmt(v, spec):
    return format(v, spec) if isinstance(v, (float, np.floating)) and np.isfinite(v) else ""


def print_table(rows: list[dict]) -> None:
    header = f"{'shop':>5}  {'model':<28} {'AUC':>7} {'Brier':>7} {'MAE':>8} {'RMSE':>8} {'total':>6} {'secs':>6}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['shop']!s:>5}  {r['model']:<28} {_fmt(r.get('auc'), '.4f'):>7} {_fmt(r.get('brier'), '.4f'):>7} "
            f"{_fmt(r.get('mae'), '.3f'):>8} {_fmt(r.get('rmse'), '.2f'):>8} {_fmt(r.get('total'), '.3f'):>6} "
            f"{_fmt(r.get('seconds'), '.1f'):>6}"
        )


def means(rows: list[dict]) -> list[dict]:
    out = []
    for model in dict.fromkeys(r["model"].split(" (")[0] for r in rows):
        group = [r for r in rows if r["model"].split(" (")[0] == model]
        keys = [k for k in ("auc", "brier", "mae", "rmse", "total", "seconds") if k in group[0]]
        out.append({"shop": "mean", "model": model} | {k: float(np.mean([g[k] for g in group])) for k in keys})
    return out


def ratios(mean_rows: list[dict]) -> str:
    """Shipped / best baseline on each measure (AUC above 1 is better; Brier and MAE below 1)."""
    by = {r["model"]: r for r in mean_rows}
    bases = ("churn: recency only", "churn: BG/NBD")
    auc = by["churn: shipped"]["auc"] / max(by[b]["auc"] for b in bases)
    brier = by["churn: shipped"]["brier"] / min(by[b]["brier"] for b in bases)
    mae = by["value: shipped"]["mae"] / by["value: BG/NBD+GG"]["mae"]
    rmse = by["value: shipped"]["rmse"] / by["value: BG/NBD+GG"]["rmse"]
    return (
        f"shipped / best baseline: churn AUC {auc:.3f} (higher is better), churn Brier {brier:.3f}, "
        f"value MAE {mae:.3f}, value RMSE {rmse:.3f} (lower is better)"
    )


def verdict(mean_rows: list[dict]) -> list[str]:
    """Reasons the shipped models lose on average (empty list = they win)."""
    by = {r["model"]: r for r in mean_rows}
    shipped, value = by["churn: shipped"], by["value: shipped"]
    losses = []
    for base in ("churn: recency only", "churn: BG/NBD"):
        if shipped["auc"] <= by[base]["auc"]:
            losses.append(f"churn AUC {shipped['auc']:.4f} <= {base} {by[base]['auc']:.4f}")
        if shipped["brier"] >= by[base]["brier"]:
            losses.append(f"churn Brier {shipped['brier']:.4f} >= {base} {by[base]['brier']:.4f}")
    if value["mae"] >= by["value: BG/NBD+GG"]["mae"]:
        losses.append(f"value MAE {value['mae']:.3f} >= BG/NBD+GG {by['value: BG/NBD+GG']['mae']:.3f}")
    return losses


def visit_feature_trials(shops, n_clients, horizon, step, n_cutoffs):
    """The shipped models' mean AUC, Brier and MAE with the shipped features, with each visit measure
    added on its own, and with all of them; the same shops and windows for every trial."""
    windows = [(seed, shop_windows(simulate_shop(n_clients, seed), horizon, step, n_cutoffs))
               for seed in range(1, shops + 1)]
    trials = {"shipped": features.VISIT_FEATURES}
    trials |= {f"+ {name}": (*features.VISIT_FEATURES, name) for name in visits.MEASURES
               if name not in features.VISIT_FEATURES}
    trials["+ all visit measures"] = tuple(dict.fromkeys((*features.VISIT_FEATURES, *visits.MEASURES)))
    results = {}
    for trial, names in trials.items():
        with mock.patch.object(features, "VISIT_FEATURES", names):
            rows = [r for seed, w in windows for r in evaluate_windows(seed, w, horizon)]
        by = {r["model"]: r for r in means(rows)}
        results[trial] = (by["churn: shipped"]["auc"], by["churn: shipped"]["brier"], by["value: shipped"]["mae"])
    base = results["shipped"]
    print(f"{'features':<28} {'AUC':>7} {'dAUC':>8} {'Brier':>7} {'dBrier':>8} {'MAE':>9} {'dMAE':>8}")
    for trial, (auc, brier, mae) in results.items():
        print(f"{trial:<28} {auc:7.4f} {auc - base[0]:+8.4f} {brier:7.4f} {brier - base[1]:+8.4f} {mae:9.3f} "
              f"{mae - base[2]:+8.3f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shops", type=int, default=3)
    parser.add_argument("--clients", type=int, default=20000)
    parser.add_argument("--horizon", type=float, default=90.0)
    parser.add_argument("--step", type=float, default=30.0, help="days between history cut-offs")
    parser.add_argument("--cutoffs", type=int, default=6, help="history cut-offs given to the models")
    parser.add_argument("--visit-features", action="store_true",
                        help="back-test each visit measure as an added model feature instead")
    args = parser.parse_args(argv)
    if args.visit_features:
        visit_feature_trials(args.shops, args.clients, args.horizon, args.step, args.cutoffs)
        return 0

    started = time.perf_counter()
    rows = []
    for seed in range(1, args.shops + 1):
        rows += evaluate_shop(seed, args.clients, args.horizon, args.step, args.cutoffs)
    mean_rows = means(rows)
    print(
        f"{args.shops} shops x {args.clients} clients, horizon {args.horizon:g} days, "
        f"{args.cutoffs} history cut-offs every {args.step:g} days; scored on clients with an order by 'today'"
    )
    print_table(rows + mean_rows)
    losses = verdict(mean_rows)
    print(ratios(mean_rows))
    print(f"total {time.perf_counter() - started:.0f} s")
    if losses:
        print("SHIPPED MODEL LOSES: " + "; ".join(losses))
        return 1
    print("shipped models beat the baselines on average")
    return 0


if __name__ == "__main__":
    sys.exit(main())
