"""The recommendations stage of the nightly run (nightly/pipeline.py): the catalogue brought up to date
with what was sold, the candidates back-tested on the shop's own history, the best one shipped, and the
lists of the clients whose purchases changed (or whose list is old, or made by another model) rewritten.

The back-test hides what each client bought in the last BACKTEST_DAYS before the night and asks every
candidate to find it from what came before (recommendations/backtest.py); its figures go on the run.
"""

import dataclasses
import datetime as dt
import json

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from core import pgcopy
from core.sql import day_number, execute, local_day, number_of, rows, table
from crm.models import Client, Product, Purchase, PurchaseItem
from segments.aggregates import cut_time

from . import candidates
from .backtest import backtest, choose
from .candidates import Baskets, favourite_categories, fit, recommend
from .models import LIST_LENGTH, Reason, Recommendation

BACKTEST_DAYS = 90
# Clients judged by the back-test: enough for figures to two decimals, and a night that does not
# grow with the shop for them (the candidates still learn from everyone).
BACKTEST_CLIENTS = 20_000
# A list is rewritten at least this often even when the client bought nothing (the shop's tastes move).
REFRESH_DAYS = 7
# Shown on the recommender's page: the products recommended most, and the share of lists each is in.
TOP_PRODUCTS = 10


def run_stage(as_of):
    """Recommend for the clients who need it, from the orders before the night's end; the figures for the run."""
    cut = cut_time(as_of)
    sync_catalogue(cut)
    products = list(Product.objects.order_by("sku").values_list(
        "sku", "category", "in_stock", "excluded", "restock_days"))
    if not products:  # nothing sold yet: nothing to recommend, and no list to keep
        Recommendation.objects.all().delete()
        return {"method": "", "candidates": {}, "rewritten": 0, "popular": [], "top_products": []}
    skus = [row[0] for row in products]
    categories, category_of = np.unique([row[1] for row in products], return_inverse=True)
    category_of = np.where(categories[category_of] == "", -1, category_of).astype(np.int32)
    baskets, client_ids = read_baskets(cut, skus, category_of)
    today = number_of(as_of) + 1  # the candidates see the days before `today`: the as-of day included
    per_category = settings.CRM_RECOMMENDATIONS_PER_CATEGORY
    figures = backtest(baskets, today - BACKTEST_DAYS, BACKTEST_DAYS, sample=BACKTEST_CLIENTS,
                       per_category=per_category) if baskets.client.size else {}
    shipped = settings.CRM_RECOMMENDER if settings.CRM_RECOMMENDER != "auto" else (
        choose(figures) if figures else "popularity")
    model = fit(shipped, baskets, today)
    blocked = np.array([not in_stock or excluded for _, _, in_stock, excluded, _ in products], dtype=bool)
    restock = np.array([days or 0 for *_, days in products], dtype=np.int32)
    due = clients_due(client_ids, shipped, cut)
    chosen = np.flatnonzero(np.isin(client_ids, due))
    picks = recommend(model, baskets, chosen, LIST_LENGTH, blocked=blocked, replenish_days=restock,
                      per_category=per_category, today=today)
    favourite = [str(categories[c]) if c >= 0 else "" for c in favourite_categories(baskets)[chosen]]
    write(client_ids[chosen], picks, favourite, skus, categories, shipped, cut)
    popular = popular_products(baskets, today, blocked)
    return {"method": shipped, "candidates": figures, "rewritten": int(chosen.size),
            "popular": [skus[p] for p in popular if p >= 0], "top_products": top_products()}


def popular_products(baskets, today, blocked):
    """The list of a client who bought nothing yet: the shop's popular products, by the same rules
    (what may be offered, at most CRM_RECOMMENDATIONS_PER_CATEGORY of a category)."""
    with_newcomer = dataclasses.replace(baskets, n_clients=baskets.n_clients + 1)  # a client with no rows
    picks = recommend(fit("popularity", with_newcomer, today), with_newcomer, np.array([baskets.n_clients]),
                      LIST_LENGTH, blocked=blocked, per_category=settings.CRM_RECOMMENDATIONS_PER_CATEGORY,
                      today=today)
    return picks.product[0]


def sync_catalogue(cut):
    """A Product row for every SKU sold before `cut`, with the name, category and price it last sold
    under; the shop's flags (in stock, never recommend, restock) are left as they are."""
    items, purchases, products = table(PurchaseItem), table(Purchase), table(Product)
    execute(f"""
        INSERT INTO {products} (sku, name, category, price, in_stock, excluded)
        SELECT DISTINCT ON (i.sku) i.sku, i.name, i.category, i.price, true, false
        FROM {items} i JOIN {purchases} p ON p.id = i.purchase_id
        WHERE p.purchased_at < %s
        ORDER BY i.sku, p.purchased_at DESC, i.id DESC
        ON CONFLICT (sku) DO UPDATE SET name = EXCLUDED.name, category = EXCLUDED.category, price = EXCLUDED.price
        WHERE ({products}.name, {products}.category, {products}.price)
              IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.category, EXCLUDED.price)""", [cut])


def read_baskets(cut, skus, category_of):
    """(Baskets of completed orders before `cut`, the client id of each client row): one row per client,
    product and day, read as arrays by binary COPY."""
    items, purchases, products = table(PurchaseItem), table(Purchase), table(Product)
    query = f"""
        SELECT array_agg(client_id), array_agg(n), array_agg(day) FROM (
            SELECT DISTINCT p.client_id, x.n, CAST({day_number(local_day("p.purchased_at"))} AS bigint) AS day
            FROM {items} i JOIN {purchases} p ON p.id = i.purchase_id
            JOIN (SELECT sku, ROW_NUMBER() OVER (ORDER BY sku) - 1 AS n FROM {products}) x ON x.sku = i.sku
            WHERE p.status = %s AND p.purchased_at < %s) bought"""
    with connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY ({query}) TO STDOUT (FORMAT binary)", [Purchase.Status.COMPLETED, cut]) as copy:
        data = b"".join(bytes(chunk) for chunk in copy)
    clients, product, day = pgcopy.arrays(data, ["int", "int", "int"])
    client_ids, client = np.unique(clients, return_inverse=True)
    baskets = Baskets(client=client.astype(np.int32), product=product.astype(np.int32), day=day.astype(np.int32),
                      n_clients=int(client_ids.size), n_products=len(skus), category=category_of)
    return baskets, client_ids


def clients_due(client_ids, shipped, cut):
    """The clients whose list is to be written tonight: every buyer when the shipped model changed;
    else those without a list, those who bought since theirs was made, and lists older than REFRESH_DAYS."""
    lists = Recommendation.objects.all()
    if not lists.exists() or lists.exclude(model=shipped).exists():
        return client_ids
    recs, purchases = table(Recommendation), table(Purchase)
    changed = [row[0] for row in rows(f"""
        SELECT r.client_id FROM {recs} r WHERE r.orders_until < %s
        UNION
        SELECT p.client_id FROM {purchases} p JOIN {recs} r ON r.client_id = p.client_id
        WHERE p.purchased_at >= r.orders_until AND p.purchased_at < %s
          AND p.purchased_at >= (SELECT MIN(orders_until) FROM {recs})""",
        [cut - dt.timedelta(days=REFRESH_DAYS), cut])]
    listed = np.fromiter(lists.values_list("client_id", flat=True), dtype=np.int64)
    return np.union1d(np.setdiff1d(client_ids, listed), np.intersect1d(client_ids, changed))


def write(client_ids, picks, favourite, skus, categories, shipped, cut):
    """Replace the lists of `client_ids` in one transaction (readers see the old list or the new one),
    written by COPY: a night rewrites up to every buyer's list."""
    reasons = {candidates.POPULAR: Reason.POPULAR, candidates.POPULAR_IN_CATEGORY: Reason.POPULAR_IN_CATEGORY,
               candidates.BOUGHT_WITH: Reason.BOUGHT_WITH, candidates.SIMILAR_CLIENTS: Reason.SIMILAR_CLIENTS,
               candidates.RESTOCK: Reason.RESTOCK}
    about_product = {Reason.BOUGHT_WITH, Reason.RESTOCK}
    # Each pick as its JSON text, made once per product and reason rather than per client.
    text = {}

    def entry(product, reason, about):
        key = (product, reason, about)
        if key not in text:
            kind = reasons[reason]
            subject = skus[about] if kind in about_product else (
                str(categories[about]) if kind == Reason.POPULAR_IN_CATEGORY else "")
            text[key] = json.dumps([skus[product], kind.value, subject], ensure_ascii=False)
        return text[key]

    table_name = table(Recommendation)
    with transaction.atomic(), connection.cursor() as cursor:
        if client_ids.size:
            cursor.execute(f"DELETE FROM {table_name} WHERE client_id = ANY(%s)", [client_ids.tolist()])
        with cursor.cursor.copy(f"COPY {table_name} (client_id, products, favourite_category, model, orders_until) "
                                "FROM STDIN") as copy:
            for i, client_id in enumerate(client_ids.tolist()):
                shown = [entry(p, r, a) for p, r, a in zip(picks.product[i].tolist(), picks.reason[i].tolist(),
                                                             picks.about[i].tolist()) if p >= 0]
                copy.write_row((client_id, f"[{', '.join(shown)}]", favourite[i], shipped, cut))
        # Clients erased or gone since their list was made keep no list.
        Recommendation.objects.exclude(client__in=Client.objects.filter(erased_at__isnull=True)).delete()


def top_products():
    """The products shown most (the first CRM_RECOMMENDED_PRODUCTS of each list), with the share of
    lists that show each: one product in most lists means the recommender says the same to everyone."""
    lists = Recommendation.objects.count()
    if not lists:
        return []
    found = rows(f"""
        SELECT item->>0 AS sku, COUNT(*) FROM {table(Recommendation)},
               jsonb_array_elements(products) WITH ORDINALITY AS shown(item, place)
        WHERE place <= %s GROUP BY item->>0 ORDER BY COUNT(*) DESC, sku LIMIT %s""",
        [max(settings.CRM_RECOMMENDED_PRODUCTS, 1), TOP_PRODUCTS])
    return [[sku, round(count / lists, 4)] for sku, count in found]
