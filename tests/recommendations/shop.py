"""A small catalogue with stored lists, made directly (the nightly stage that writes them is tested with
the models on their own branch)."""

import datetime as dt
from decimal import Decimal

from crm.models import Client, Product, Purchase, PurchaseItem
from recommendations.models import Recommendation
from segments.models import ScoringRun

UNTIL = dt.datetime(2026, 11, 30, 21, 0, tzinfo=dt.UTC)

PRODUCTS = [
    # sku, name, category, price, in stock, excluded
    ("NB-1", "Notebook A5", "Stationery", "250.00", True, False),
    ("PEN-2", "Gel pen", "Stationery", "90.00", True, False),
    ("COF-3", "Coffee beans 1 kg", "Coffee", "1450.00", True, False),
    ("MUG-4", "Enamel mug", "Kitchen", "600.00", False, False),  # out of stock: never shown
    ("GIFT-5", "Gift card", "Gifts", "1000.00", True, True),  # never recommend
    ("TEA-6", "Green tea", "Coffee", "400.00", True, False),
]


def catalogue():
    for sku, name, category, price, in_stock, excluded in PRODUCTS:
        Product.objects.create(sku=sku, name=name, category=category, price=Decimal(price), in_stock=in_stock,
                               excluded=excluded)


def listed_client(external_id="C1"):
    """A client who bought a notebook before the night; the list made from that order."""
    client = Client.objects.create(external_id=external_id, first_name="Anna")
    order = Purchase.objects.create(external_id=f"{external_id}-o1", client=client, amount=Decimal("250"),
                                    purchased_at=UNTIL - dt.timedelta(days=20))
    PurchaseItem.objects.create(purchase=order, sku="NB-1", name="Notebook A5", category="Stationery",
                                quantity=1, price=Decimal("250"))
    Recommendation.objects.create(
        client=client, model="co-purchase", orders_until=UNTIL, favourite_category="Stationery",
        products=[["PEN-2", "bought_with", "NB-1"], ["MUG-4", "popular", ""], ["GIFT-5", "popular", ""],
                  ["COF-3", "similar_clients", ""], ["TEA-6", "popular_in_category", "Coffee"]])
    return client


def night(as_of=dt.date(2026, 11, 30), top=(("PEN-2", 0.46), ("COF-3", 0.12)), popular=("COF-3", "TEA-6")):
    figures = {
        "method": "co-purchase",
        "candidates": {
            "co-purchase": {"hit_rate@3": 0.1834, "hit_rate@10": 0.3012, "recall@3": 0.0951, "recall@10": 0.2113,
                            "coverage": 0.4, "clients": 812},
            "popularity": {"hit_rate@3": 0.1205, "hit_rate@10": 0.2499, "recall@3": 0.0602, "recall@10": 0.1688,
                           "coverage": 0.0333, "clients": 812},
        },
        "rewritten": 95, "popular": list(popular), "top_products": [list(row) for row in top],
    }
    return ScoringRun.objects.create(as_of=as_of, status=ScoringRun.Status.SUCCEEDED,
                                     finished_at=dt.datetime.combine(as_of, dt.time(23), tzinfo=dt.UTC),
                                     metrics={"recommendations": figures})
