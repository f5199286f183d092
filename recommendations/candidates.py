"""Product recommendations: three candidate models and the rules every list obeys. Pure maths (numpy,
scipy, `implicit`), no database.

- popularity: products ranked by how many clients bought them, the last 90 days counting double.
  The baseline every other candidate must beat in the back-test (`recommendations.backtest`).
- co-purchase: "clients who bought this also bought": cosine similarity between products over the
  binary client x product matrix (cosine rather than lift: lift favours rare products bought by two
  people, cosine gave the better hit rate in bench/recommendations.py), the top `NEIGHBOURS` per
  product kept; a client's score for a product is the sum of its similarities to what they own.
- als: implicit-feedback matrix factorisation (`implicit`'s AlternatingLeastSquares on BM25-weighted
  purchases), "clients like you bought".

`recommend` turns any model's scores into lists: never a product the client bought, unless it is a
consumable due for a restock (those come first, at most half the list); never a blocked one; at most
`per_category` of one category; filled up from popularity where the model has no opinion. Each pick
carries a reason (REASONS) and what it is about. Everything is as of `today`: purchases on or after
it are ignored. Clients are taken in chunks, so memory is bounded by a chunk of clients times the
catalogue (CHUNK_CELLS), not by the whole shop.
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

NAMES = ("popularity", "co-purchase", "als")

# Why a product is on a client's list (small ints, stored per pick); `about` says what it refers to.
POPULAR = 0  # a bestseller; about -1
POPULAR_IN_CATEGORY = 1  # a bestseller in the client's favourite category; about = that category index
BOUGHT_WITH = 2  # often bought with something the client owns; about = that owned product
SIMILAR_CLIENTS = 3  # clients who buy like this one bought it; about -1
RESTOCK = 4  # the client buys it regularly and is due again; about = the product itself
REASONS = {
    POPULAR: "popular",
    POPULAR_IN_CATEGORY: "popular in your favourite category",
    BOUGHT_WITH: "bought together with something you have",
    SIMILAR_CLIENTS: "clients like you bought it",
    RESTOCK: "time to restock",
}

RECENT_DAYS = 90  # buyers within this many days before today count double in popularity
NEIGHBOURS = 50  # similar products kept per product by co-purchase
CHUNK_CELLS = 8_000_000  # clients per chunk x products: about 32 MB per float32 score array
ALS_FACTORS = 16
ALS_ITERATIONS = 8
ALS_REGULARIZATION = 0.05
ALS_THREADS = 2  # implicit's own threads; BLAS is held to one thread around it (implicit's advice)
SEED = 0


@dataclass
class Baskets:
    """What was bought: one entry per (client, product, day) of completed orders."""

    client: np.ndarray  # int32, 0..n_clients-1
    product: np.ndarray  # int32, 0..n_products-1
    day: np.ndarray  # int32, days since 1970-01-01 of the order
    n_clients: int
    n_products: int
    category: np.ndarray  # int32 per product: category index, -1 when none

    def before(self, day) -> "Baskets":
        """The same shop as it stood before `day` (rows with day < day): for back-tests and as-of runs."""
        keep = self.day < day
        return Baskets(self.client[keep], self.product[keep], self.day[keep], self.n_clients, self.n_products,
                       self.category)

    def matrix(self) -> sp.csr_matrix:
        """Clients x products, 1 where the client bought the product (any number of times)."""
        m = sp.csr_matrix((np.ones(len(self.client), np.float32), (self.client, self.product)),
                          shape=(self.n_clients, self.n_products))
        m.sum_duplicates()
        m.data[:] = 1.0
        return m

    def last_day(self) -> sp.csr_matrix:
        """Clients x products, 1 + the day of the client's last purchase of the product (0 = never)."""
        key = self.client.astype(np.int64) * self.n_products + self.product
        # One int64 sort key, (client, product) then day, is much faster than a lexsort on two.
        first_day = int(self.day.min()) if len(self.day) else 0
        span = int(self.day.max()) - first_day + 1 if len(self.day) else 1
        order = np.argsort(key * span + (self.day - first_day), kind="stable")
        last = np.r_[key[order][1:] != key[order][:-1], True] if key.size else np.zeros(0, bool)
        rows = order[last]
        return sp.csr_matrix((self.day[rows].astype(np.float64) + 1, (self.client[rows], self.product[rows])),
                             shape=(self.n_clients, self.n_products))


@dataclass
class Picks:
    """Per client, `n` products best first (-1 pads a short list), why each one, and what it is about."""

    product: np.ndarray  # int32 (clients, n)
    reason: np.ndarray  # int8 (clients, n), one of REASONS; -1 where product is -1
    about: np.ndarray  # int32 (clients, n), see the reason constants


def as_of(baskets: Baskets, today: int) -> Baskets:
    """The history before `today` (no copy when there is nothing later)."""
    return baskets.before(today) if len(baskets.day) and baskets.day.max() >= today else baskets


def popularity(baskets: Baskets, today: int) -> np.ndarray:
    """Distinct buyers per product before today, those who bought in the last RECENT_DAYS counted twice."""
    baskets = as_of(baskets, today)
    bought = baskets.matrix()
    recent = baskets.day >= today - RECENT_DAYS
    recent = Baskets(baskets.client[recent], baskets.product[recent], baskets.day[recent], baskets.n_clients,
                     baskets.n_products, baskets.category)
    counts = np.asarray(bought.sum(axis=0)).ravel() + np.asarray(recent.matrix().sum(axis=0)).ravel()
    return counts.astype(np.float32)


class Model:
    """A fitted candidate. `scores` gives one row per client; a score <= 0 means "no opinion" and
    leaves the place to popularity."""

    name = ""
    reason = POPULAR

    def scores(self, clients: np.ndarray, owned: sp.csr_matrix) -> np.ndarray:
        """float32 (len(clients), n_products); `owned` = the clients' rows of the bought matrix."""
        raise NotImplementedError

    def sparse_scores(self, clients: np.ndarray, owned: sp.csr_matrix) -> sp.csr_matrix | None:
        """The same scores as a sparse matrix, where the model's are mostly zero (faster to rank); else None."""
        return None

    def about(self, owned: sp.csr_matrix, picks: np.ndarray) -> np.ndarray:
        """What each pick refers to (same shape as picks); -1 unless the model knows better."""
        return np.full(picks.shape, -1, np.int32)


class Popularity(Model):
    name = "popularity"

    def __init__(self, weights: np.ndarray):
        self.weights = weights

    def scores(self, clients, owned):
        return np.broadcast_to(self.weights, (len(clients), len(self.weights))).copy()


class CoPurchase(Model):
    name = "co-purchase"
    reason = BOUGHT_WITH

    def __init__(self, similar: sp.csr_matrix):
        self.similar = similar  # products x products, row = an owned product, top NEIGHBOURS kept
        n = similar.shape[1]
        # Row-major keys of the stored similarities, sorted: one searchsorted finds any (owned, pick) pair.
        coo = similar.tocoo()
        self._keys = coo.row.astype(np.int64) * n + coo.col
        order = np.argsort(self._keys, kind="stable")
        self._keys, self._values = self._keys[order], coo.data[order]

    def scores(self, clients, owned):
        return self.sparse_scores(clients, owned).toarray().astype(np.float32, copy=False)

    def sparse_scores(self, clients, owned):
        return (owned @ self.similar).tocsr()  # most products have no tie to what a client owns

    def about(self, owned, picks):
        """The owned product most similar to each pick (the one that contributes most to its score)."""
        m, n = picks.shape
        owned = owned.tocoo()
        if owned.nnz == 0 or n == 0:
            return np.full(picks.shape, -1, np.int32)
        row = np.repeat(owned.row, n)
        slot = np.tile(np.arange(n), owned.nnz)
        pick = picks[row, slot]
        wanted = pick >= 0
        row, slot, pick = row[wanted], slot[wanted], pick[wanted]
        source = np.repeat(owned.col, n)[wanted]
        key = source.astype(np.int64) * self.similar.shape[1] + pick
        out = np.full(m * n, -1, np.int32)
        if len(self._keys) == 0 or len(key) == 0:
            return out.reshape(m, n)
        at = np.minimum(np.searchsorted(self._keys, key), len(self._keys) - 1)
        value = np.where(self._keys[at] == key, self._values[at], 0)
        group = row.astype(np.int64) * n + slot
        # One sort key: the (client, slot) group, then the similarity (a cosine, in [0, 1]) within it,
        # so the best source of each group comes last.
        order = np.argsort(group + 0.999 * value, kind="stable")
        last = np.r_[group[order][1:] != group[order][:-1], True]
        best = order[last]
        out[group[best]] = np.where(value[best] > 0, source[best], -1)
        return out.reshape(m, n)


class ALS(Model):
    name = "als"
    reason = SIMILAR_CLIENTS

    def __init__(self, user_factors: np.ndarray, item_factors: np.ndarray):
        self.user_factors, self.item_factors = user_factors, item_factors

    def scores(self, clients, owned):
        return self.user_factors[clients] @ self.item_factors.T


def fit(name: str, baskets: Baskets, today: int) -> Model:
    """Learn candidate `name` (one of NAMES) from `baskets` as of `today`: purchases on or after
    `today` are ignored (so the back-test's cut day and a nightly run's as-of day mean the same)."""
    baskets = as_of(baskets, today)
    if name == "popularity":
        return Popularity(popularity(baskets, today))
    if name == "co-purchase":
        return CoPurchase(cosine_neighbours(baskets.matrix(), NEIGHBOURS))
    if name == "als":
        return _fit_als(baskets.matrix())
    raise ValueError(f"unknown recommendation model {name!r}; expected one of {', '.join(NAMES)}")


def cosine_neighbours(bought: sp.csr_matrix, k: int, block: int = 512) -> sp.csr_matrix:
    """Products x products cosine similarity, the top k per row (self excluded). Built a block of
    products at a time so memory stays at block x products, whatever the catalogue."""
    bought = bought.tocsc()
    n = bought.shape[1]
    norms = np.sqrt(np.asarray(bought.sum(axis=0)).ravel()).astype(np.float32)
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    by_product = bought.T.tocsr()
    rows, cols, vals = [], [], []
    k = min(k, max(n - 1, 0))
    for start in range(0, n, block):
        stop = min(start + block, n)
        common = (by_product[start:stop] @ bought).toarray().astype(np.float32)
        common *= inverse[start:stop, None]
        common *= inverse[None, :]
        common[np.arange(stop - start), np.arange(start, stop)] = 0  # a product is not its own neighbour
        if k == 0:
            continue
        top = np.argpartition(-common, k - 1, axis=1)[:, :k]
        value = np.take_along_axis(common, top, axis=1)
        keep = value > 0
        rows.append(np.nonzero(keep)[0] + start)
        cols.append(top[keep])
        vals.append(value[keep])
    if not rows:
        return sp.csr_matrix((n, n), dtype=np.float32)
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n),
                         dtype=np.float32)


def _fit_als(bought: sp.csr_matrix) -> ALS:
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.nearest_neighbours import bm25_weight
    from threadpoolctl import threadpool_limits

    # BM25 weighting as implicit's docs advise for purchases: a product everyone buys says less about
    # a client than a rare one; clients with long histories do not drown the rest.
    weighted = bm25_weight(bought, K1=100, B=0.8).tocsr().astype(np.float32)
    # implicit runs its own threads; a multi-threaded BLAS underneath only fights them.
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=ALS_FACTORS, regularization=ALS_REGULARIZATION, alpha=1.0,
                                        iterations=ALS_ITERATIONS, random_state=SEED, num_threads=ALS_THREADS,
                                        calculate_training_loss=False)
        model.fit(weighted, show_progress=False)
    return ALS(np.asarray(model.user_factors, np.float32), np.asarray(model.item_factors, np.float32))


def recommend(model: Model, baskets: Baskets, clients: np.ndarray, n: int, *, blocked=None, replenish_days=None,
              per_category: int = 2, today: int) -> Picks:
    """Up to `n` products per client in `clients`, best first, by the rules in the module docstring.

    Purchases on or after `today` are ignored, as in `fit`; `blocked` (bool per product) marks what must never be
    offered (out of stock, excluded); `replenish_days` (int per product, 0 = not a consumable) lets a
    product the client bought come back once that many days have passed since their last purchase of
    it: such restocks come first, most overdue first, and take at most half the list.
    """
    clients = np.asarray(clients, np.int64)
    baskets = as_of(baskets, today)
    n_products = baskets.n_products
    blocked = np.zeros(n_products, bool) if blocked is None else np.asarray(blocked, bool)
    replenish = np.zeros(n_products, np.int64) if replenish_days is None else np.asarray(replenish_days, np.int64)
    weights = model.weights if isinstance(model, Popularity) else popularity(baskets, today)
    favourite_of = favourite_categories(baskets)
    context = _Context(model, baskets.category, blocked, replenish, weights, n, per_category, today)
    last = baskets.last_day()
    chunk = max(256, CHUNK_CELLS // max(n_products, 1))
    parts = [context.chunk(clients[i:i + chunk], last[clients[i:i + chunk]], favourite_of[clients[i:i + chunk]])
             for i in range(0, len(clients), chunk)]
    if not parts:
        empty = np.zeros((0, n), np.int32)
        return Picks(empty, empty.astype(np.int8), empty.copy())
    return Picks(*(np.concatenate([p[i] for p in parts]) for i in range(3)))


def favourite_categories(baskets: Baskets) -> np.ndarray:
    """Per client, the category of most of the distinct products they bought (ties: lowest index); -1 if none."""
    bought = baskets.matrix().tocoo()
    category = baskets.category[bought.col]
    has = category >= 0
    out = np.full(baskets.n_clients, -1, np.int32)
    if not has.any():
        return out
    counts = sp.csr_matrix((np.ones(int(has.sum()), np.float32), (bought.row[has], category[has])),
                           shape=(baskets.n_clients, int(category.max()) + 1))
    counts.sum_duplicates()  # also sorts each row's categories: the first maximum is the lowest index
    sizes = np.diff(counts.indptr)
    rows = np.nonzero(sizes)[0]
    top = np.maximum.reduceat(counts.data, counts.indptr[rows])
    is_top = counts.data == np.repeat(top, sizes[rows])
    row_of = np.repeat(np.arange(baskets.n_clients), sizes)
    at = np.flatnonzero(is_top)
    first = at[np.r_[True, row_of[at][1:] != row_of[at][:-1]]]
    out[row_of[first]] = counts.indices[first]
    return out


class _Context:
    """What one `recommend` call shares across its chunks of clients."""

    def __init__(self, model, category, blocked, replenish, weights, n, per_category, today):
        self.model, self.category, self.blocked, self.replenish = model, category, blocked, replenish
        self.n, self.per_category, self.today = n, per_category, today
        self.n_categories = int(category.max(initial=-1)) + 1
        self.fillers = self._bestsellers(weights)
        self.depth = min(len(category), 3 * n + 10)

    def _bestsellers(self, weights):
        """The fill-up list: bestsellers that may be offered, a category's extra ones moved back so
        the per-category limit rarely leaves a list short."""
        allowed = np.nonzero(~self.blocked & (weights > 0))[0]
        order = allowed[np.lexsort((allowed, -weights[allowed]))]
        cat = self.category[order].astype(np.int64)
        seen = np.zeros(self.n_categories + 1, np.int64)
        rank = np.empty(len(order), np.int64)
        for i, c in enumerate(cat[: 50 * max(self.n, 1)]):  # short list: a Python loop is fine
            rank[i] = seen[c + 1] if c >= 0 else 0
            seen[c + 1] += 1
        head = order[: 50 * max(self.n, 1)]
        head = head[np.argsort(rank[: len(head)] // max(2 * self.per_category, 1), kind="stable")]
        return head[: 3 * self.n + 20].astype(np.int64)

    def chunk(self, clients, last, favourite):
        m = len(clients)
        owned = last.copy()
        owned.data[:] = 1.0
        owned = owned.astype(np.float32)
        restock = self._due(last)
        if isinstance(self.model, Popularity):  # the same list for everyone: no need to rank per client
            model_picks = np.broadcast_to(self.fillers[: self.depth], (m, min(self.depth, len(self.fillers))))
            fillers = np.zeros((m, 0), np.int64)
        else:
            model_picks = self._model_picks(clients, owned)
            fillers = np.broadcast_to(self.fillers, (m, len(self.fillers)))
        columns = np.hstack([restock, model_picks, fillers])
        origin = np.repeat(np.array([0, 1, 2]), [restock.shape[1], model_picks.shape[1], fillers.shape[1]])
        product, source, restocked = self._apply_rules(columns, origin, last)
        reason, about = self._reasons(product, source, restocked, owned, favourite)
        return product.astype(np.int32), reason, about

    def _due(self, last):
        """Per client, the consumables due for a restock (most overdue first, at most half the list)."""
        m = last.shape[0]
        half = max(self.n // 2, 1) if self.n > 0 else 0
        coo = last.tocoo()
        every = self.replenish[coo.col]
        since = self.today - (coo.data.astype(np.int64) - 1)
        due = (every > 0) & (since >= every) & ~self.blocked[coo.col]
        row, col, overdue = coo.row[due], coo.col[due], since[due] / np.maximum(every[due], 1)
        order = np.lexsort((col, -overdue, row))
        row, col = row[order], col[order]
        rank = _rank_in_row(row, m)
        keep = rank < half
        out = np.full((m, half), -1, np.int64)
        out[row[keep], rank[keep]] = col[keep]
        return out

    def _model_picks(self, clients, owned):
        """Each client's top `depth` products by the model, -1 where the model has no opinion."""
        sparse = self.model.sparse_scores(clients, owned)
        if sparse is not None:
            return self._sparse_top(sparse, owned)
        scores = np.asarray(self.model.scores(clients, owned), np.float32)
        depth = min(self.depth, scores.shape[1])
        if depth == 0:
            return np.zeros((len(clients), 0), np.int64)
        scores[:, self.blocked] = 0
        # Owned products are mostly ruled out below; dropping them here keeps the depth for new ones.
        coo = owned.tocoo()
        scores[coo.row, coo.col] = np.minimum(scores[coo.row, coo.col], 0)
        # On -scores with kth = depth - 1: the other way round numpy's selection crawls over many
        # equal scores.
        top = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
        value = np.take_along_axis(scores, top, axis=1)
        order = np.lexsort((top, -value), axis=1)  # best first; ties: lower product first (deterministic)
        top = np.take_along_axis(top, order, axis=1)
        value = np.take_along_axis(value, order, axis=1)
        return np.where(value > 0, top, -1).astype(np.int64)

    def _sparse_top(self, scores, owned):
        """The same for sparse scores, sorting only the stored (nonzero) entries."""
        m = scores.shape[0]
        scores = scores - scores.multiply(owned)  # owned products: no score (restocks come in apart)
        scores.data[self.blocked[scores.indices]] = 0
        scores.eliminate_zeros()
        scores.sort_indices()
        row = np.repeat(np.arange(m), np.diff(scores.indptr))
        value = scores.data.astype(np.float64)
        # One float key per entry, row first, then the score descending; a stable sort keeps the
        # lower product first among equal scores.
        key = row + 0.5 * (1 - value / (value.max(initial=0) * (1 + 1e-9) + 1e-30))
        order = np.argsort(key, kind="stable")
        row, col = row[order], scores.indices[order]
        keep = value[order] > 0
        row, col = row[keep], col[keep]
        rank = _rank_in_row(row, m)
        depth = self.depth
        keep = rank < depth
        out = np.full((m, depth), -1, np.int64)
        out[row[keep], rank[keep]] = col[keep]
        return out

    def _apply_rules(self, columns, origin, last):
        """Walk the candidate columns in order and keep, per client: each product once, nothing
        blocked, nothing owned unless due for a restock, at most `per_category` per category; stop
        at n. One pass per column, vectorised over the chunk's clients."""
        m, width = columns.shape
        owned_day = _lookup(last, columns)  # 1 + day of last purchase, 0 = never bought
        every = self.replenish[np.maximum(columns, 0)]
        due = (owned_day > 0) & (every > 0) & (self.today - (owned_day - 1) >= every)
        allowed = (columns >= 0) & ~self.blocked[np.maximum(columns, 0)] & ((owned_day == 0) | due)
        out = np.full((m, self.n), -1, np.int64)
        source = np.full((m, self.n), -1, np.int64)
        restocked = np.zeros((m, self.n), bool)
        filled = np.zeros(m, np.int64)
        per_category = np.zeros((m, self.n_categories + 1), np.int32)  # column 0: no category, never capped
        taken = np.zeros((m, len(self.category)), bool)
        rows = np.arange(m)
        for j in range(width):
            product = np.maximum(columns[:, j], 0)
            cat = self.category[product].astype(np.int64) + 1
            ok = allowed[:, j] & (filled < self.n) & ~taken[rows, product]
            ok &= (cat == 0) | (per_category[rows, cat] < self.per_category)
            r = rows[ok]
            if len(r) == 0:
                if (filled >= self.n).all():
                    break
                continue
            out[r, filled[r]] = product[r]
            source[r, filled[r]] = origin[j]
            restocked[r, filled[r]] = owned_day[r, j] > 0
            taken[r, product[r]] = True
            per_category[r, cat[r]] += 1
            filled[r] += 1
        return out, source, restocked

    def _reasons(self, product, source, restocked, owned, favourite):
        m, n = product.shape
        safe = np.maximum(product, 0)
        in_favourite = (self.category[safe] == favourite[:, None]) & (favourite[:, None] >= 0)
        reason = np.where(in_favourite, POPULAR_IN_CATEGORY, POPULAR).astype(np.int8)
        about = np.where(in_favourite, favourite[:, None], -1).astype(np.int32)
        from_model = (source == 1) & (self.model.reason != POPULAR)
        if from_model.any():
            model_about = self.model.about(owned, np.where(from_model, product, -1))
            # A co-purchase pick with no owned product behind it stays a plain bestseller.
            explained = from_model & ((self.model.reason != BOUGHT_WITH) | (model_about >= 0))
            reason[explained] = self.model.reason
            about[explained] = model_about[explained]
        reason[restocked] = RESTOCK
        about[restocked] = product[restocked]
        reason[product < 0] = -1
        about[product < 0] = -1
        return reason, about


def _rank_in_row(row: np.ndarray, m: int) -> np.ndarray:
    """For entries sorted by row (0..m-1): each one's place within its row, 0 first."""
    starts = np.r_[0, np.cumsum(np.bincount(row, minlength=m))[:-1]]
    return np.arange(len(row)) - starts[row]


def _lookup(matrix: sp.csr_matrix, columns: np.ndarray) -> np.ndarray:
    """matrix[i, columns[i, j]] for every i, j (0 where columns is -1), without scipy's slow fancy indexing."""
    matrix = matrix.tocsr()
    matrix.sort_indices()
    n = matrix.shape[1]
    keys = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr)).astype(np.int64) * n + matrix.indices
    wanted = np.arange(columns.shape[0])[:, None].astype(np.int64) * n + np.maximum(columns, 0)
    if len(keys) == 0:
        return np.zeros(columns.shape, np.int64)
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where((columns >= 0) & (keys[at] == wanted), matrix.data[at], 0).astype(np.int64)
