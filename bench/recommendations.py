"""Back-test of the recommendation candidates on shops with known tastes.

    .venv/bin/python bench/recommendations.py [--no-demo] [--sample 20000]

Simulated shops: each client belongs to one taste group and buys most of their order lines (the
shop's "taste" share) among the group's products, the rest anywhere; popularity is skewed (Zipf)
both inside a group and across the shop. Categories sit inside groups. Plus the demo shop
(demo.shop.generate, 20,000 clients, seed 1, as `make demo`), read in memory, no database.

For each shop the last 90 days are hidden (recommendations.backtest): per candidate it prints hit
rate@3 and @10, recall@3 and @10, coverage, and the seconds to fit and recommend 10 products to
every judged client; then which candidate `choose` ships and its ratio to popularity. Exits 1 unless
the shipped candidate beats popularity on hit rate@10 and on coverage on every shop.
"""

import argparse
import datetime as dt
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from recommendations.backtest import choose, judged_clients, score_lists  # noqa: E402
from recommendations.candidates import NAMES, Baskets, fit, recommend  # noqa: E402

HORIZON = 90


@dataclass(frozen=True)
class TasteShop:
    clients: int
    products: int
    groups: int
    taste: float = 0.8  # share of order lines within the client's group
    per_category: int = 20  # products per category (categories sit inside groups)
    days: int = 730
    orders_per_client: float = 4.0  # mean; Gamma-distributed across clients
    zipf: float = 1.0  # popularity skew: weight of the r-th product ~ 1 / r**zipf
    seed: int = 1


def taste_shop(shape: TasteShop) -> Baskets:
    """A shop whose clients' tastes are known: see the module docstring. Deterministic per shape."""
    rng = np.random.default_rng(shape.seed)
    group_of_product = np.arange(shape.products) * shape.groups // shape.products
    category = (np.arange(shape.products) // shape.per_category).astype(np.int32)
    # Popularity inside a group and overall: a random rank per product, Zipf weights by rank.
    rank = np.empty(shape.products, np.int64)
    for g in range(shape.groups):
        members = np.nonzero(group_of_product == g)[0]
        rank[members] = rng.permutation(len(members)) + 1
    in_group_weight = 1.0 / rank**shape.zipf
    overall = 1.0 / (rng.permutation(shape.products) + 1.0) ** shape.zipf
    overall /= overall.sum()

    group_of_client = rng.integers(0, shape.groups, size=shape.clients)
    orders = 1 + rng.poisson(rng.gamma(1.0, shape.orders_per_client - 1, size=shape.clients))
    order_client = np.repeat(np.arange(shape.clients), orders)
    order_day = rng.integers(0, shape.days, size=len(order_client))
    lines = rng.integers(1, 4, size=len(order_client))
    client = np.repeat(order_client, lines)
    day = np.repeat(order_day, lines)
    within = rng.random(len(client)) < shape.taste
    product = rng.choice(shape.products, size=len(client), p=overall)
    for g in range(shape.groups):
        members = np.nonzero(group_of_product == g)[0]
        picks = within & (group_of_client[client] == g)
        p = in_group_weight[members] / in_group_weight[members].sum()
        product[picks] = rng.choice(members, size=int(picks.sum()), p=p)
    start = 20_000  # days since 1970: any fixed date will do
    return Baskets(client.astype(np.int32), product.astype(np.int32), (day + start).astype(np.int32),
                   shape.clients, shape.products, category)


def demo_baskets(clients: int = 20_000, seed: int = 1, end: dt.date = dt.date(2026, 12, 1)) -> Baskets:
    """The demo shop's completed order lines as Baskets (unsaved objects, no database)."""
    import os

    import django

    # The project's settings, as `make demo` runs them (debug: no secret needed); nothing here opens
    # a database connection: the objects are only read.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if "DJANGO_SECRET_KEY" not in os.environ:
        os.environ.setdefault("DJANGO_DEBUG", "1")
    django.setup()
    from demo import shop as demo

    client_of, sku_of, day_of = [], [], []
    skus, categories = {}, {}
    for _, _, items, _ in demo.generate(clients, seed, end):
        for item in items:
            order = item.purchase
            if order.status != "completed":
                continue
            client_of.append(int(order.client.external_id[1:]) - 1)  # "C0000001" is the first client
            sku = skus.setdefault(item.sku, len(skus))
            categories.setdefault(sku, item.category)
            sku_of.append(sku)
            day_of.append((order.purchased_at.date() - dt.date(1970, 1, 1)).days)
    names = sorted(set(categories.values()))
    category = np.array([names.index(categories[s]) for s in range(len(skus))], np.int32)
    return Baskets(np.array(client_of, np.int32), np.array(sku_of, np.int32), np.array(day_of, np.int32),
                   clients, len(skus), category)


def evaluate(baskets: Baskets, sample, names=NAMES) -> dict:
    """Figures per candidate, as recommendations.backtest, plus the seconds of fit + recommend."""
    cut = int(baskets.day.max()) + 1 - HORIZON
    clients, hidden = judged_clients(baskets, cut, HORIZON)
    if sample and len(clients) > sample:
        clients = np.sort(np.random.default_rng(0).choice(clients, size=sample, replace=False))
    train = baskets.before(cut)
    figures = {}
    for name in names:
        started = time.perf_counter()
        model = fit(name, train, cut)
        picks = recommend(model, train, clients, 10, today=cut)
        seconds = time.perf_counter() - started
        figures[name] = score_lists(picks.product, hidden[clients], (3, 10), baskets.n_products)
        figures[name]["seconds"] = seconds
    return figures


def print_shop(label: str, baskets: Baskets, figures: dict) -> str:
    shipped = choose(figures)
    any_figures = next(iter(figures.values()))
    print(f"\n{label}: {baskets.n_clients} clients, {baskets.n_products} products, {len(baskets.client)} lines; "
          f"{any_figures['clients']} clients judged")
    print(f"  {'candidate':<12} {'hit@3':>6} {'hit@10':>7} {'rec@3':>6} {'rec@10':>7} {'cover':>6} {'secs':>6}")
    for name, f in figures.items():
        mark = "  <- shipped" if name == shipped else ""
        print(f"  {name:<12} {f['hit_rate@3']:>6.3f} {f['hit_rate@10']:>7.3f} {f['recall@3']:>6.3f} "
              f"{f['recall@10']:>7.3f} {f['coverage']:>6.3f} {f['seconds']:>6.2f}{mark}")
    base, best = figures["popularity"], figures[shipped]
    print(f"  shipped {shipped}: hit rate@10 {best['hit_rate@10'] / max(base['hit_rate@10'], 1e-9):.2f}x popularity, "
          f"coverage {best['coverage'] / max(base['coverage'], 1e-9):.2f}x")
    return shipped


SHOPS = {
    "taste A (20k / 500 / 5 groups)": TasteShop(20_000, 500, 5, seed=1),
    "taste B (100k / 2,000 / 20 groups)": TasteShop(100_000, 2_000, 20, seed=2),
    "weak taste (20k / 500 / 5 groups, 40%)": TasteShop(20_000, 500, 5, taste=0.4, seed=3),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-demo", action="store_true", help="leave out the demo shop (slow to generate)")
    parser.add_argument("--sample", type=int, default=None, help="judge at most this many clients per shop")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    shops = [(label, lambda shape=shape: taste_shop(shape)) for label, shape in SHOPS.items()]
    if not args.no_demo:
        shops.append(("demo shop (20k clients, seed 1)", demo_baskets))
    failures = []
    for label, make in shops:
        baskets = make()
        figures = evaluate(baskets, args.sample)
        shipped = print_shop(label, baskets, figures)
        best, base = figures[shipped], figures["popularity"]
        if not (best["hit_rate@10"] > base["hit_rate@10"] and best["coverage"] > base["coverage"]):
            failures.append(label)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    if failures:
        print("the shipped candidate does NOT beat popularity on hit rate@10 and coverage on: " + "; ".join(failures))
        return 1
    print("on every shop the shipped candidate beats popularity on hit rate@10 and coverage")
    return 0


if __name__ == "__main__":
    sys.exit(main())
