"""The lists the night stores and what emails read from them: rules that hold at sending time."""

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import Client, Product, Purchase, PurchaseItem
from mailing.templating import build_contexts
from nightly.pipeline import rebuild_segments
from recommendations.models import Reason, Recommendation
from recommendations.reading import for_clients

orders = itertools.count(1)
people = itertools.count(1)
pytestmark = pytest.mark.django_db


def client():
    n = next(people)
    return Client.objects.create(external_id=f"R{n}", email=f"r{n}@example.com", email_consent=True)


def buy(who, *skus, days_ago=20, category=None):
    order = Purchase.objects.create(external_id=f"ro{next(orders)}", client=who, amount=Decimal("10.00"),
                                    purchased_at=timezone.now() - dt.timedelta(days=days_ago))
    for sku in skus:
        PurchaseItem.objects.create(purchase=order, sku=sku, name=f"Product {sku}",
                                    category=category or sku.split("-")[0], quantity=1, price=Decimal("10.00"))
    return order


@pytest.fixture
def shop():
    """Two tastes: tea drinkers buy TEA-1 with TEA-2 (some TEA-3), readers BOOK-1 with BOOK-2; TOY-1 is
    bought by everybody (the best seller). `fan` bought TEA-1 only, `reader` BOOK-1 only."""
    for n in range(12):
        buy(client(), "TEA-1", "TEA-2", "TOY-1", days_ago=60 + n)
        if n % 3 == 0:
            buy(client(), "TEA-1", "TEA-3", days_ago=70 + n)
        buy(client(), "BOOK-1", "BOOK-2", "TOY-1", days_ago=60 + n)
    fan, reader = client(), client()
    buy(fan, "TEA-1", days_ago=30)
    buy(reader, "BOOK-1", days_ago=30)
    return fan, reader


def skus(picks):
    return [product["sku"] for product in picks.products]


@pytest.fixture(autouse=True)
def _co_purchase(settings):
    """The shop is too small for the back-test to tell the candidates apart (it would ship popularity):
    the recommender is pinned, as CRM_RECOMMENDER lets a shop do."""
    settings.CRM_RECOMMENDER = "co-purchase"


def test_a_night_stores_personal_lists_with_reasons(shop, settings):
    settings.CRM_RECOMMENDED_PRODUCTS = 3
    fan, reader = shop
    run = rebuild_segments()

    picks = for_clients([fan.pk, reader.pk])
    assert skus(picks[fan.pk])[0] == "TEA-2" and "TEA-1" not in skus(picks[fan.pk])
    assert skus(picks[reader.pk])[0] == "BOOK-2" and "BOOK-1" not in skus(picks[reader.pk])
    first = picks[fan.pk].products[0]
    assert first["name"] == "Product TEA-2" and first["why"]  # a reason in words, e.g. "bought with Product TEA-1"
    assert picks[fan.pk].favourite_category == "TEA"
    figures = run.metrics["recommendations"]
    assert figures["method"] == "co-purchase"
    assert set(figures["candidates"]) == {"popularity", "co-purchase", "als"}
    assert {"hit_rate@3", "hit_rate@10", "recall@3", "recall@10", "coverage"} <= set(figures["candidates"]["als"])
    assert figures["rewritten"] == Recommendation.objects.count() == Client.objects.filter(purchases__isnull=False
                                                                                           ).distinct().count()


def test_what_went_out_of_stock_or_was_bought_since_the_night_is_not_shown(shop):
    fan, _ = shop
    rebuild_segments()
    shown = skus(for_clients([fan.pk])[fan.pk])
    Product.objects.filter(sku=shown[0]).update(in_stock=False)
    buy(fan, shown[1], days_ago=0)

    now = skus(for_clients([fan.pk])[fan.pk])
    assert shown[0] not in now and shown[1] not in now
    assert set(now) <= {sku for sku, _, _ in Recommendation.objects.get(pk=fan.pk).products}


def test_never_recommend_and_the_category_limit_hold_in_the_stored_lists(shop, settings):
    settings.CRM_RECOMMENDATIONS_PER_CATEGORY = 1
    fan, _ = shop
    rebuild_segments()  # the catalogue rows appear with the first night
    Product.objects.filter(sku="TOY-1").update(excluded=True)
    Recommendation.objects.all().delete()
    rebuild_segments()

    stored = Recommendation.objects.get(pk=fan.pk).products
    assert "TOY-1" not in [sku for sku, _, _ in stored]
    categories = [Product.objects.get(sku=sku).category for sku, _, _ in stored]
    assert len(categories) == len(set(categories))


def test_a_consumable_comes_back_after_its_restock_interval(shop):
    fan, _ = shop
    rebuild_segments()
    Product.objects.filter(sku="TEA-1").update(restock_days=25)  # the fan bought it 30 days ago
    Recommendation.objects.all().delete()
    rebuild_segments()

    stored = {sku: reason for sku, reason, _ in Recommendation.objects.get(pk=fan.pk).products}
    assert stored.get("TEA-1") == Reason.RESTOCK


def test_the_next_night_rewrites_only_the_lists_of_clients_who_bought_since(shop):
    fan, reader = shop
    rebuild_segments()
    before = dict(Recommendation.objects.values_list("client_id", "orders_until"))
    buy(fan, "TEA-3", days_ago=0)

    run = rebuild_segments(as_of=timezone.localdate())  # the next night: today's order is in

    assert run.metrics["recommendations"]["rewritten"] == 1
    after = dict(Recommendation.objects.values_list("client_id", "orders_until"))
    assert after[fan.pk] > before[fan.pk] and after[reader.pk] == before[reader.pk]
    assert "TEA-3" not in [sku for sku, _, _ in Recommendation.objects.get(pk=fan.pk).products]


def test_a_client_without_orders_gets_the_shops_popular_products(shop):
    rebuild_segments()
    newcomer = client()

    picks = for_clients([newcomer.pk])[newcomer.pk]
    assert skus(picks)[0] == "TOY-1"
    assert picks.products[0]["reason"] == Reason.POPULAR


def test_emails_read_the_lists_with_the_same_queries_for_any_batch_size(shop):
    rebuild_segments()
    clients = list(Client.objects.order_by("pk"))

    with CaptureQueriesContext(connection) as few:
        build_contexts(clients[:2])
    with CaptureQueriesContext(connection) as many:
        contexts = build_contexts(clients)

    assert len(many) == len(few)
    assert all(context["recommendations"] for context in contexts.values())
