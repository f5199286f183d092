"""What a batch of recipients bought, and products to recommend to them: set-based, a few queries per batch.

"Bought by clients who bought what they bought, not already bought": for a recipient who bought
the products A (their completed orders), a product B they do not have scores

    score(B) = sum over A of together(A, B),  together(A, B) = clients who bought both A and B

and the top `settings.CRM_RECOMMENDED_PRODUCTS` by score (ties: SKU order, so the same data gives the
same list) are recommended. With less co-purchase signal than that (a first-time buyer of a product
nobody else bought, or a recipient who never bought) the list is filled up with the shop's best
sellers (most buyers in the last BEST_SELLER_DAYS, then of all time) the recipient does not have.

Cost. `together` is a co-purchase count over the whole shop: a self-join of "who bought what",
which touches every buyer of the products concerned. One batch of recipients owns a good part of
the catalogue, so for a batch (WHOLE_GRAPH_FROM recipients or more) each product's top NEIGHBOURS
co-purchased products are computed for the whole catalogue in one query, and kept in this process
for CACHE_SECONDS with the best sellers and product details: the campaign's other batches reuse
them (a 100,000-client shop with 2,000 products: a few seconds, once). A few recipients (an admin
preview) query only the products they own. The top NEIGHBOURS cut makes the score an approximation
for products far down a list, never for the strongest ones. What each recipient already owns is
always read fresh (one query per batch), so "not already bought" holds at sending time.
"""

import datetime as dt
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from crm.models import Purchase, PurchaseItem

# Co-purchased products kept per product: enough for the sum of a few owned products to rank well.
NEIGHBOURS = 20
BEST_SELLERS = 50
BEST_SELLER_DAYS = 90
# The co-purchase graph moves with imports (daily, typically): ten minutes of reuse covers a campaign's
# batches and bounds how stale a recommendation can be.
CACHE_SECONDS = 600
# From this many recipients at once (a sending batch), the co-purchase graph of the whole catalogue
# is computed in one query and cached; fewer (an admin preview) query only their own products.
WHOLE_GRAPH_FROM = 50
GRAPH_WORK_MEM = "64MB"
# Placeholders per IN (...) list: small enough for PostgreSQL's planner.
CHUNK = 1000


@dataclass
class Profile:
    """What one client bought (completed orders): the SKUs, and the category they bought most often."""

    skus: frozenset = frozenset()
    favourite_category: str = ""


@dataclass
class _Cache:
    neighbours: dict = field(default_factory=dict)  # sku -> [(other sku, together)], best first
    complete: bool = False  # `neighbours` holds the whole catalogue: a SKU missing from it has none
    products: dict = field(default_factory=dict)  # sku -> {"sku", "name", "category", "price"}
    best_sellers: list | None = None
    expires: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


_cache = _Cache()


def clear_cache():
    """Forget the co-purchase graph, best sellers and product details (tests; after a large import)."""
    with _cache.lock:
        _cache.neighbours, _cache.complete, _cache.products, _cache.best_sellers = {}, False, {}, None
        _cache.expires = 0.0


def _fresh_cache():
    with _cache.lock:
        if time.monotonic() >= _cache.expires:
            _cache.neighbours, _cache.complete, _cache.products, _cache.best_sellers = {}, False, {}, None
            _cache.expires = time.monotonic() + CACHE_SECONDS
    return _cache


def profiles(client_ids):
    """{client_id: Profile} for the clients who bought anything; one query.

    Favourite category: the one with the most order lines, then the most spent, then by name.
    """
    rows = (
        PurchaseItem.objects.filter(purchase__client_id__in=client_ids, purchase__status=Purchase.Status.COMPLETED)
        .values("purchase__client_id", "sku", "category")
        .annotate(lines=Count("id"), spent=Sum(F("price") * F("quantity")))
        .order_by()
    )
    skus, categories = defaultdict(set), defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for row in rows:
        client_id = row["purchase__client_id"]
        skus[client_id].add(row["sku"])
        if row["category"]:
            total = categories[client_id][row["category"]]
            total[0] += row["lines"]
            total[1] += row["spent"] or 0
    result = {}
    for client_id, owned in skus.items():
        ranked = sorted(categories[client_id].items(), key=lambda item: (-item[1][0], -item[1][1], item[0]))
        result[client_id] = Profile(skus=frozenset(owned), favourite_category=ranked[0][0] if ranked else "")
    return result


def recommend(profiles_by_client, client_ids, limit=None):
    """{client_id: [product, ...]} for every id in `client_ids`, each product a dict of sku, name,
    category and price, at most `limit` (default settings.CRM_RECOMMENDED_PRODUCTS) per client."""
    limit = settings.CRM_RECOMMENDED_PRODUCTS if limit is None else limit
    if limit <= 0:
        return {client_id: [] for client_id in client_ids}
    cache = _fresh_cache()
    owned_skus = set().union(*(p.skus for p in profiles_by_client.values()))
    neighbours = _neighbours(cache, owned_skus, whole=len(client_ids) >= WHOLE_GRAPH_FROM)
    best = _best_sellers(cache)
    chosen = {}
    for client_id in client_ids:
        owned = profiles_by_client[client_id].skus if client_id in profiles_by_client else frozenset()
        scores = defaultdict(int)
        for sku in owned:
            for other, together in neighbours.get(sku, ()):
                if other not in owned:
                    scores[other] += together
        picks = [sku for sku, _ in sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]]
        for sku in best:
            if len(picks) >= limit:
                break
            if sku not in owned and sku not in picks:
                picks.append(sku)
        chosen[client_id] = picks
    details = _products(cache, {sku for picks in chosen.values() for sku in picks})
    return {client_id: [details[sku] for sku in picks if sku in details] for client_id, picks in chosen.items()}


def _chunks(values):
    values = sorted(values)
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


def _tables():
    return PurchaseItem._meta.db_table, Purchase._meta.db_table


def _neighbours(cache, skus, whole):
    """{sku: [(other, together)]} for `skus`: from the cache; else for the whole catalogue at once
    (`whole`: a batch of many recipients needs most of it anyway), or for just the missing SKUs."""
    if not cache.complete:
        missing = [sku for sku in skus if sku not in cache.neighbours]
        if whole and missing:
            found = _query_whole_graph()
            with cache.lock:
                cache.neighbours, cache.complete = found, True
        else:
            for chunk in _chunks(missing):
                found = _query_neighbours_of(chunk)
                with cache.lock:
                    cache.neighbours.update(found)
    return {sku: cache.neighbours.get(sku, []) for sku in skus}


def _query_neighbours_of(skus):
    """Top NEIGHBOURS of a few SKUs: their buyers, then those buyers' other products, through the indexes
    on purchases by client and items by purchase, so the cost follows how many bought these SKUs."""
    items, purchases = _tables()
    marks = ", ".join(["%s"] * len(skus))
    sql = f"""
        WITH seed AS (
            SELECT DISTINCT p.client_id, i.sku
            FROM {items} i JOIN {purchases} p ON p.id = i.purchase_id
            WHERE i.sku IN ({marks}) AND p.status = %s
        ), pairs AS (
            SELECT s.sku, i.sku AS other, COUNT(DISTINCT p.client_id) AS together
            FROM seed s
            JOIN {purchases} p ON p.client_id = s.client_id AND p.status = %s
            JOIN {items} i ON i.purchase_id = p.id AND i.sku <> s.sku
            GROUP BY s.sku, i.sku
        )
        SELECT sku, other, together FROM (
            SELECT sku, other, together,
                   ROW_NUMBER() OVER (PARTITION BY sku ORDER BY together DESC, other) AS place
            FROM pairs
        ) ranked
        WHERE place <= %s
        ORDER BY sku, place"""
    found = {sku: [] for sku in skus}
    with connection.cursor() as cursor:
        cursor.execute(sql, [*skus, Purchase.Status.COMPLETED, Purchase.Status.COMPLETED, NEIGHBOURS])
        for sku, other, together in cursor.fetchall():
            found[sku].append((other, together))
    return found


def _query_whole_graph():
    """Top NEIGHBOURS of every SKU: who bought what (distinct), joined to itself by client, counted per
    pair. SKUs are numbered first so the big join and count move integers, not strings."""
    items, purchases = _tables()
    sql = f"""
        WITH products AS (
            SELECT sku, ROW_NUMBER() OVER (ORDER BY sku) AS n FROM (SELECT DISTINCT sku FROM {items}) s
        ), bought AS (
            SELECT DISTINCT p.client_id, x.n
            FROM {items} i JOIN {purchases} p ON p.id = i.purchase_id JOIN products x ON x.sku = i.sku
            WHERE p.status = %s
        ), pairs AS (
            SELECT a.n, b.n AS other, COUNT(*) AS together
            FROM bought a JOIN bought b ON b.client_id = a.client_id AND b.n <> a.n
            GROUP BY a.n, b.n
        ), top AS (
            SELECT n, other, together FROM (
                SELECT n, other, together,
                       ROW_NUMBER() OVER (PARTITION BY n ORDER BY together DESC, other) AS place
                FROM pairs
            ) ranked
            WHERE place <= %s
        )
        SELECT x.sku, y.sku, top.together
        FROM top JOIN products x ON x.n = top.n JOIN products y ON y.n = top.other
        ORDER BY x.sku, top.together DESC, y.sku"""
    found = defaultdict(list)
    with transaction.atomic(), connection.cursor() as cursor:
        # One big join and count: room to hash in memory; JIT compiling it costs more than it saves.
        cursor.execute(f"SET LOCAL work_mem = '{GRAPH_WORK_MEM}'")
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, [Purchase.Status.COMPLETED, NEIGHBOURS])
        for sku, other, together in cursor.fetchall():
            found[sku].append((other, together))
    return dict(found)


def _best_sellers(cache):
    """The shop's most bought SKUs: distinct buyers in the last BEST_SELLER_DAYS, then of all time, then SKU."""
    if cache.best_sellers is None:
        since = timezone.now() - dt.timedelta(days=BEST_SELLER_DAYS)
        items, purchases = _tables()
        sql = f"""
            SELECT i.sku,
                   COUNT(DISTINCT CASE WHEN p.purchased_at >= %s THEN p.client_id END) AS recent,
                   COUNT(DISTINCT p.client_id) AS buyers
            FROM {items} i JOIN {purchases} p ON p.id = i.purchase_id
            WHERE p.status = %s
            GROUP BY i.sku
            ORDER BY recent DESC, buyers DESC, i.sku
            LIMIT %s"""
        with connection.cursor() as cursor:
            cursor.execute(sql, [since, Purchase.Status.COMPLETED, BEST_SELLERS])
            cache.best_sellers = [row[0] for row in cursor.fetchall()]
    return cache.best_sellers


def _products(cache, skus):
    """{sku: product} as last sold (name, category and price of the latest order line with that SKU)."""
    missing = [sku for sku in skus if sku not in cache.products]
    for chunk in _chunks(missing):
        latest = (
            PurchaseItem.objects.filter(sku__in=chunk)
            .annotate(place=Window(RowNumber(), partition_by=[F("sku")],
                                   order_by=[F("purchase__purchased_at").desc(), F("id").desc()]))
            .filter(place=1)
            .values("sku", "name", "category", "price")
        )
        found = {row["sku"]: row for row in latest}
        with cache.lock:
            cache.products.update(found)
    return {sku: cache.products[sku] for sku in skus if sku in cache.products}
