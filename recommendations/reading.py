"""Recommendations as emails, journeys, the client page and the API read them: the lists the night
stored (recommendations/nightly.py), less what went out of stock or was excluded since, or what the
client bought since the night; a client without a list (no orders before the night) gets the shop's
popular products. A few queries per batch of clients, whatever its size."""

import datetime
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import F, Q

from crm.models import Product, PurchaseItem
from segments.models import ScoringRun

from .models import Reason, Recommendation


@dataclass
class Picks:
    """One client's recommended products (dicts of sku, name, category, price, reason, why), the
    category they buy most ('' when unknown), and the model and orders their list came from (None
    without a list)."""

    products: list = field(default_factory=list)
    favourite_category: str = ""
    model: str | None = None
    orders_until: datetime.datetime | None = None


def for_clients(client_ids, limit=None):
    """{client_id: Picks} for every id of `client_ids`, at most `limit` products each (default
    settings.CRM_RECOMMENDED_PRODUCTS)."""
    limit = settings.CRM_RECOMMENDED_PRODUCTS if limit is None else limit
    ids = list(client_ids)
    stored = {client_id: (products, favourite, until, model) for client_id, products, favourite, until, model in
              Recommendation.objects.filter(client_id__in=ids).values_list(
                  "client_id", "products", "favourite_category", "orders_until", "model")}
    if limit <= 0:
        return {client_id: _picks([], stored.get(client_id)) for client_id in ids}
    popular = _popular() if len(stored) < len(ids) else []
    bought = _bought_since(stored, [client_id for client_id in ids if client_id not in stored])
    lists = {client_id: stored[client_id][0] if client_id in stored else popular for client_id in ids}
    wanted = {sku for products in lists.values() for sku, _, _ in products}
    wanted |= {about for products in lists.values() for _, reason, about in products
               if reason in (Reason.BOUGHT_WITH, Reason.RESTOCK)}
    catalogue = {row["sku"]: row for row in Product.objects.filter(sku__in=wanted).values(
        "sku", "name", "category", "price", "in_stock", "excluded")}
    labels = {}  # each reason's label translated once per call, not once per product
    result = {}
    for client_id in ids:
        owned = bought.get(client_id, ())
        shown = []
        for sku, reason, about in lists[client_id]:
            product = catalogue.get(sku)
            if product is None or not product["in_stock"] or product["excluded"] or sku in owned:
                continue
            shown.append({"sku": sku, "name": product["name"], "category": product["category"],
                          "price": product["price"], "reason": reason, "why": why(reason, about, catalogue, labels)})
            if len(shown) >= limit:
                break
        result[client_id] = _picks(shown, stored.get(client_id))
    return result


def _picks(products, stored):
    if stored is None:
        return Picks(products)
    _, favourite, until, model = stored
    return Picks(products, favourite, model, until)


def why(reason, about, catalogue=None, labels=None):
    """The reason in plain words, in the active language: "bought with Notebook #3". `labels`: the
    translated labels found so far, kept by the caller across many products."""
    labels = {} if labels is None else labels
    if reason not in labels:
        labels[reason] = str(Reason(reason).label) if reason in Reason.values else ""
    label = labels[reason]
    if not label:
        return ""
    if reason in (Reason.BOUGHT_WITH, Reason.RESTOCK, Reason.POPULAR_IN_CATEGORY):
        product = (catalogue or {}).get(about)
        return label % {"about": product["name"] or about if product else about}
    return label


def _popular():
    """The shop's popular products as the last night listed them, as [sku, reason, about] entries."""
    run = ScoringRun.objects.current()
    skus = (run.metrics or {}).get("recommendations", {}).get("popular", []) if run else []
    return [[sku, Reason.POPULAR.value, ""] for sku in skus]


def _bought_since(stored, unlisted):
    """{client_id: SKUs bought after their list was made} (all they bought, for clients without a list)."""
    if not stored and not unlisted:
        return {}
    since = min((until for _, _, until, _ in stored.values()), default=None)
    where = Q(purchase__client_id__in=unlisted)
    if stored:
        where |= Q(purchase__client_id__in=list(stored), purchase__purchased_at__gte=since)
    bought = {}
    for client_id, sku, when in PurchaseItem.objects.filter(where).values_list(
            F("purchase__client_id"), "sku", F("purchase__purchased_at")):
        if client_id not in stored or when >= stored[client_id][2]:
            bought.setdefault(client_id, set()).add(sku)
    return bought
