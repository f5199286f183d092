"""Back-test of the recommendation candidates: hide a period of purchases, recommend from what came
before, and count how many hidden purchases the lists foresaw. Pure functions, no database.

The definitions, in plain words:
- The models learn only from purchases before the cut day, and recommend as of the cut day, by the
  same rules as in production (nothing the client bought, at most two per category).
- A client is judged when they bought something before the cut AND bought, within the horizon
  after it, at least one product they had never bought before: those new products are the client's
  hidden purchases. (Re-buying something old is not something a recommendation could claim.)
- hit rate@k: the share of judged clients with at least one hidden purchase in their top k.
- recall@k: per client, the hidden purchases found in the top k divided by the most that could be
  found there, min(k, number of hidden purchases); then the mean over judged clients. 1.0 means
  the top k was as full of hidden purchases as it could be.
- coverage: the distinct products that appear in anyone's top max(ks), divided by the products in
  the catalogue. A list of bestsellers for everyone covers little of the shop.
"""

import numpy as np

from recommendations.candidates import NAMES, Baskets, fit, recommend


def judged_clients(baskets: Baskets, cut_day: int, horizon_days: int):
    """The clients to judge and their hidden purchases (clients x products, 1 = new product bought
    in [cut_day, cut_day + horizon_days))."""
    before = baskets.before(cut_day).matrix()
    inside = (baskets.day >= cut_day) & (baskets.day < cut_day + horizon_days)
    later = Baskets(baskets.client[inside], baskets.product[inside], baskets.day[inside], baskets.n_clients,
                    baskets.n_products, baskets.category).matrix()
    hidden = later - later.multiply(before)  # new products only
    hidden.eliminate_zeros()
    had_history = np.diff(before.indptr) > 0
    has_hidden = np.diff(hidden.indptr) > 0
    return np.nonzero(had_history & has_hidden)[0], hidden.tocsr()


def score_lists(products: np.ndarray, hidden_rows, ks, n_products: int) -> dict:
    """Hit rate, recall and coverage of lists `products` (clients x n, -1 padded) against
    `hidden_rows` (a clients x products matrix in the same client order)."""
    hidden_rows = hidden_rows.tocsr()
    hidden_rows.sort_indices()
    m, n = products.shape
    found = np.zeros((m, n), bool)
    if m and n:
        keys = np.repeat(np.arange(m), np.diff(hidden_rows.indptr)).astype(np.int64) * n_products + hidden_rows.indices
        wanted = np.arange(m)[:, None].astype(np.int64) * n_products + products
        at = np.clip(np.searchsorted(keys, wanted), 0, max(len(keys) - 1, 0))
        found = (products >= 0) & (len(keys) > 0) & (keys[at] == wanted)
    hidden_count = np.diff(hidden_rows.indptr)
    figures = {}
    for k in ks:
        hits = found[:, :k].sum(axis=1)
        figures[f"hit_rate@{k}"] = float(np.mean(hits > 0)) if m else 0.0
        figures[f"recall@{k}"] = float(np.mean(hits / np.minimum(k, np.maximum(hidden_count, 1)))) if m else 0.0
    top = products[:, : max(ks)]
    figures["coverage"] = len(np.unique(top[top >= 0])) / n_products if n_products else 0.0
    figures["clients"] = int(m)
    return figures


def backtest(baskets: Baskets, cut_day: int, horizon_days: int = 90, names=NAMES, ks=(3, 10), sample=None,
             seed: int = 0, per_category: int = 2) -> dict:
    """{name: {"hit_rate@k", "recall@k" for each k, "coverage", "clients"}} for each candidate in
    `names`, learned from purchases before `cut_day` and judged on the horizon after it (see the
    module docstring). `sample`: judge at most this many clients, drawn with `seed`."""
    clients, hidden = judged_clients(baskets, cut_day, horizon_days)
    if sample is not None and len(clients) > sample:
        clients = np.sort(np.random.default_rng(seed).choice(clients, size=sample, replace=False))
    train = baskets.before(cut_day)
    figures = {}
    for name in names:
        model = fit(name, train, cut_day)
        picks = recommend(model, train, clients, max(ks), per_category=per_category, today=cut_day)
        figures[name] = score_lists(picks.product, hidden[clients], ks, baskets.n_products)
    return figures


def choose(figures: dict) -> str:
    """The candidate to ship: the best hit rate@10 (or at the largest k measured), ties broken by
    coverage; popularity unless another candidate strictly beats it on that order."""
    def key(name):
        f = figures[name]
        hit = f.get("hit_rate@10", max((v for k, v in f.items() if k.startswith("hit_rate@")), default=0.0))
        return (hit, f["coverage"])

    best = "popularity" if "popularity" in figures else next(iter(figures))
    for name in figures:
        if key(name) > key(best):
            best = name
    return best
