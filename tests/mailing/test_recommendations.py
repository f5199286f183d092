import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from mailing.recommendations import profiles, recommend

from crm.models import Purchase, PurchaseItem
from mailing import recommendations

orders = itertools.count(1)


@pytest.fixture(autouse=True, params=["few", "batch"])
def _fresh_cache(request, monkeypatch):
    """Every test twice: as for a preview (the recipients' own products queried) and as for a sending
    batch (the whole catalogue's co-purchase graph at once); both must give the same answers."""
    monkeypatch.setattr(recommendations, "WHOLE_GRAPH_FROM", 10_000 if request.param == "few" else 1)
    recommendations.clear_cache()
    yield
    recommendations.clear_cache()


def buy(client, *skus, status=Purchase.Status.COMPLETED, days_ago=10, category="books", price="10.00", name=None):
    order = Purchase.objects.create(external_id=f"o{next(orders)}", client=client, amount=Decimal(price) * len(skus),
                                    status=status, purchased_at=timezone.now() - dt.timedelta(days=days_ago))
    for sku in skus:
        PurchaseItem.objects.create(purchase=order, sku=sku, name=name or f"Product {sku}", category=category,
                                    quantity=1, price=Decimal(price))
    return order


def statements(captured):
    """The queries, without transaction control (savepoints) and session settings."""
    return [q["sql"] for q in captured.captured_queries
            if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "SET LOCAL"))]


def skus_for(*clients, limit=3):
    ids = [client.pk for client in clients]
    result = recommend(profiles(ids), ids, limit=limit)
    return [[product["sku"] for product in result[client.pk]] for client in clients]


@pytest.fixture
def shop(make_client):
    """a bought X, Y; b bought X, Z; c bought X, Z, W; d bought Y, V."""
    a, b, c, d = (make_client() for _ in range(4))
    buy(a, "X", "Y")
    buy(b, "X")
    buy(b, "Z", days_ago=200)
    buy(c, "X", "Z", "W", days_ago=300)
    buy(d, "Y", "V")
    return a, b, c, d


def test_it_recommends_what_clients_who_bought_the_same_bought_most(shop):
    a, *_ = shop

    # For a (X, Y): Z was bought by 2 buyers of X; V with Y by 1; W with X by 1 (ties by SKU).
    assert skus_for(a) == [["Z", "V", "W"]]


def test_it_never_recommends_what_the_client_already_bought_even_in_an_old_order(shop, make_client):
    _, b, _, _ = shop

    # b owns X (recent) and Z (200 days ago): Y and W co-occur with X, and W also with Z.
    assert skus_for(b) == [["W", "Y", "V"]]


def test_it_falls_back_to_best_sellers_without_co_purchase_signal(shop, make_client):
    newcomer, loner = make_client(), make_client()
    buy(loner, "Q")  # nobody else bought Q

    # Best sellers by buyers in the last 90 days, then of all time, then SKU: X (a, b recently;
    # 3 in all), Y (a, d), then Q and V (one recent buyer each), before Z (b and c, long ago).
    assert skus_for(newcomer, loner) == [["X", "Y", "Q"], ["X", "Y", "V"]]


def test_it_fills_up_with_best_sellers_when_the_signal_is_short(shop, make_client):
    pair = make_client()
    buy(pair, "V")  # co-bought only with Y (by d)

    # Y from the co-purchase, then the best sellers it does not have: X, (Y), (V: owned), Z.
    assert skus_for(pair) == [["Y", "X", "Z"]]


def test_it_ignores_refunded_orders(shop, make_client):
    a, *_ = shop
    refunder = make_client()
    buy(refunder, "X", "R", status=Purchase.Status.REFUNDED)
    buy(a, "Z", status=Purchase.Status.REFUNDED)  # a did not keep Z: still recommended

    assert skus_for(a) == [["Z", "V", "W"]]
    assert "R" not in recommendations._best_sellers(recommendations._fresh_cache())


def test_it_describes_products_as_last_sold(make_client):
    a, b = make_client(), make_client()
    buy(a, "X", price="5.00", days_ago=30)
    buy(a, "B1", price="5.00", name="Old name", days_ago=30)
    buy(b, "B1", price="7.50", name="New name", category="toys", days_ago=1)

    (product,) = recommend(profiles([a.pk, b.pk]), [b.pk], limit=1)[b.pk]

    assert product == {"sku": "X", "name": "Product X", "category": "books", "price": Decimal("5.00")}
    assert recommend(profiles([a.pk]), [a.pk], limit=1) == {a.pk: []}  # a owns everything there is
    newcomer = make_client()
    (top,) = recommend({}, [newcomer.pk], limit=1)[newcomer.pk]
    assert top == {"sku": "B1", "name": "New name", "category": "toys", "price": Decimal("7.50")}


def test_it_picks_the_favourite_category_by_order_lines_then_spend(make_client):
    client, other = make_client(), make_client()
    buy(client, "B1", "B2", category="books", price="5.00")
    buy(client, "E1", category="electronics", price="900.00")
    buy(client, "T1", category="toys", price="30.00")
    buy(client, "T2", category="toys", price="30.00")
    buy(other, "E1", category="electronics", price="900.00")
    buy(other, "H1", category="home", price="1.00")

    result = profiles([client.pk, other.pk, make_client().pk])

    assert result[client.pk].favourite_category == "toys"  # 2 lines like books, more spent
    assert result[client.pk].skus == {"B1", "B2", "E1", "T1", "T2"}
    assert result[other.pk].favourite_category == "electronics"  # 1 line each, more spent
    assert len(result) == 2  # a client without orders has no profile


def test_it_gives_nothing_when_turned_off(shop):
    a, *_ = shop

    assert skus_for(a, limit=0) == [[]]


def test_it_queries_per_batch_not_per_recipient(shop, make_client, settings):
    settings.CRM_RECOMMENDED_PRODUCTS = 3
    few = list(shop)
    many = few + [make_client() for _ in range(30)]
    for n, client in enumerate(many[4:]):
        buy(client, "X", f"S{n % 5}")
    ids = [client.pk for client in many]

    with CaptureQueriesContext(connection) as cold:
        first = recommend(profiles(ids), ids)
    with CaptureQueriesContext(connection) as warm:
        second = recommend(profiles(ids), ids)

    assert first == second  # deterministic
    assert len(statements(cold)) == 4  # owned products, co-purchases, best sellers, product details
    assert len(statements(warm)) == 1  # the rest comes from the cache; what clients own is always read fresh
    assert all(len(products) == 3 for products in first.values())
