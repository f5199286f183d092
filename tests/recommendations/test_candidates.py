"""Recommendation candidates and the rules every list obeys (recommendations.candidates), and the
back-test's definitions (recommendations.backtest)."""

import numpy as np
import pytest
import scipy.sparse as sp

from bench.recommendations import TasteShop, taste_shop
from recommendations import backtest as bt
from recommendations import candidates as rc

DAY = 20_000  # any fixed date, in days since 1970


def baskets(rows, n_clients, n_products, category=None):
    """Baskets from (client, product, day) triples."""
    client, product, day = (np.array(column, np.int32) for column in zip(*rows))
    category = np.full(n_products, -1, np.int32) if category is None else np.array(category, np.int32)
    return rc.Baskets(client, product, day, n_clients, n_products, category)


@pytest.fixture(scope="module")
def shop():
    return taste_shop(TasteShop(3_000, 120, 4, per_category=10, seed=5))


@pytest.fixture(scope="module")
def figures(shop):
    cut = int(shop.day.max()) + 1 - 90
    return bt.backtest(shop, cut)


def test_on_a_shop_with_tastes_co_purchase_and_als_beat_popularity(figures):
    for name in ("co-purchase", "als"):
        assert figures[name]["hit_rate@10"] > figures["popularity"]["hit_rate@10"] + 0.05, figures
        assert figures[name]["coverage"] > figures["popularity"]["coverage"]
    assert bt.choose(figures) != "popularity"


@pytest.mark.parametrize("name", rc.NAMES)
def test_a_bought_product_comes_back_only_when_its_restock_interval_has_passed(name):
    # Client 0 bought product 0 (a consumable, every 30 days) 40 days ago and product 1 (also every
    # 30 days) 10 days ago; product 2 (not a consumable) long ago. Others buy a bit of everything.
    rows = [(0, 0, DAY - 40), (0, 1, DAY - 10), (0, 2, DAY - 400)]
    rows += [(c, p, DAY - 5 - c) for c in range(1, 30) for p in range(6) if (c + p) % 3]
    b = baskets(rows, 30, 6)
    replenish = np.array([30, 30, 0, 0, 0, 0])
    picks = rc.recommend(rc.fit(name, b, DAY), b, np.array([0]), 5, replenish_days=replenish, today=DAY)
    products = list(picks.product[0])
    assert 0 in products
    where = products.index(0)
    assert picks.reason[0, where] == rc.RESTOCK and picks.about[0, where] == 0
    assert 1 not in products and 2 not in products
    assert not (picks.reason[0][np.isin(picks.product[0], [3, 4, 5])] == rc.RESTOCK).any()


@pytest.mark.parametrize("name", rc.NAMES)
def test_blocked_and_owned_products_never_appear_and_a_category_has_at_most_its_share(shop, name):
    today = int(shop.day.max()) + 1
    blocked = np.zeros(shop.n_products, bool)
    blocked[::7] = True
    clients = np.arange(0, shop.n_clients, 5)
    picks = rc.recommend(rc.fit(name, shop, today), shop, clients, 10, blocked=blocked, per_category=2, today=today)
    owned = shop.matrix()[clients].toarray().astype(bool)
    chosen = picks.product >= 0
    assert chosen[:, :5].all()  # plenty of products to choose from
    assert not blocked[picks.product[chosen]].any()
    assert not np.take_along_axis(owned, np.maximum(picks.product, 0), axis=1)[chosen].any()
    for row in picks.product:
        row = row[row >= 0]
        assert len(set(row)) == len(row)
        assert np.bincount(shop.category[row]).max() <= 2


def test_bought_with_names_a_product_the_client_owns(shop):
    today = int(shop.day.max()) + 1
    clients = np.arange(0, shop.n_clients, 3)
    picks = rc.recommend(rc.fit("co-purchase", shop, today), shop, clients, 10, today=today)
    owned = shop.matrix()[clients].toarray().astype(bool)
    with_ = picks.reason == rc.BOUGHT_WITH
    assert with_.sum() > len(clients)  # most picks are explained by something owned
    rows = np.nonzero(with_)[0]
    assert owned[rows, picks.about[with_]].all()


def test_popular_in_category_names_the_clients_favourite_category():
    # Client 0 owns two products of category 1 and one of category 0; the rest is bestsellers.
    rows = [(0, 2, DAY - 3), (0, 3, DAY - 3), (0, 0, DAY - 3)]
    rows += [(c, p, DAY - 1) for c in range(1, 20) for p in (1, 4, 5)]
    b = baskets(rows, 20, 6, category=[0, 0, 1, 1, 1, 2])
    picks = rc.recommend(rc.fit("popularity", b, DAY), b, np.array([0]), 3, today=DAY)
    by_product = dict(zip(picks.product[0], zip(picks.reason[0], picks.about[0])))
    assert by_product[4] == (rc.POPULAR_IN_CATEGORY, 1)
    assert by_product[1] == (rc.POPULAR, -1)
    assert set(rc.REASONS) == {rc.POPULAR, rc.POPULAR_IN_CATEGORY, rc.BOUGHT_WITH, rc.SIMILAR_CLIENTS, rc.RESTOCK}


def test_a_short_list_is_padded_and_filled_from_popularity():
    rows = [(0, 0, DAY - 1), (1, 1, DAY - 1), (2, 1, DAY - 1)]
    b = baskets(rows, 3, 3)
    picks = rc.recommend(rc.fit("co-purchase", b, DAY), b, np.array([0]), 4, today=DAY)
    assert list(picks.product[0]) == [1, -1, -1, -1]  # 2 was never bought by anyone: no evidence at all
    assert picks.reason[0, 0] == rc.POPULAR and list(picks.reason[0, 1:]) == [-1, -1, -1]


@pytest.mark.parametrize("name", rc.NAMES)
def test_the_same_input_gives_the_same_lists(shop, name):
    today = int(shop.day.max()) + 1
    clients = np.arange(0, shop.n_clients, 4)
    first = rc.recommend(rc.fit(name, shop, today), shop, clients, 10, today=today)
    second = rc.recommend(rc.fit(name, shop, today), shop, clients, 10, today=today)
    for a, b in zip((first.product, first.reason, first.about), (second.product, second.reason, second.about)):
        np.testing.assert_array_equal(a, b)


def test_popularity_counts_recent_buyers_twice():
    rows = [(0, 0, DAY - 200), (1, 0, DAY - 200), (2, 1, DAY - 10), (3, 2, DAY + 5)]
    b = baskets(rows, 4, 3)
    assert list(rc.popularity(b, DAY)) == [2, 2, 0]  # bought after "today": not known yet


def test_purchases_on_or_after_today_are_ignored():
    rows = [(0, 0, DAY - 1), (1, 0, DAY - 1), (1, 1, DAY - 1), (0, 2, DAY)]
    b = baskets(rows, 2, 3)
    for name in rc.NAMES:
        picks = rc.recommend(rc.fit(name, b, DAY), b, np.array([0]), 2, today=DAY)
        assert list(picks.product[0]) == [1, -1]  # 2 is bought on "today" itself: unknown, and never offered


def test_backtest_definitions_on_a_hand_made_shop():
    # Before the cut (day 100): clients 0-3 own product 0; client 4 owns nothing. After it: client 0
    # buys 1 and 2 (new), client 1 buys 0 again (not new), client 2 buys 3, client 4 buys 1 (no history).
    rows = [(c, 0, 50) for c in range(4)] + [(0, 1, 110), (0, 2, 120), (1, 0, 110), (2, 3, 150), (4, 1, 101)]
    b = baskets(rows, 5, 5)
    clients, hidden = bt.judged_clients(b, 100, 90)
    assert list(clients) == [0, 2]
    # Lists: client 0 gets [1, 4, 3] (one of two hidden at 1st place), client 2 gets [4, 1, 3] (its only
    # hidden product at 3rd place).
    lists = np.array([[1, 4, 3], [4, 1, 3]])
    f = bt.score_lists(lists, hidden[clients], (1, 3), 5)
    assert f["hit_rate@1"] == 0.5 and f["hit_rate@3"] == 1.0
    assert f["recall@1"] == 0.5  # client 0: 1 of min(1, 2); client 2: 0 of 1
    assert f["recall@3"] == pytest.approx((1 / 2 + 1 / 1) / 2)  # client 0: 1 of min(3, 2)
    assert f["coverage"] == 3 / 5 and f["clients"] == 2


def test_choose_ships_popularity_unless_beaten():
    f = {"popularity": {"hit_rate@10": 0.3, "coverage": 0.1},
         "co-purchase": {"hit_rate@10": 0.3, "coverage": 0.1},
         "als": {"hit_rate@10": 0.2, "coverage": 0.9}}
    assert bt.choose(f) == "popularity"
    f["co-purchase"]["coverage"] = 0.2  # same hit rate, wider: the tie goes to coverage
    assert bt.choose(f) == "co-purchase"
    f["als"]["hit_rate@10"] = 0.31
    assert bt.choose(f) == "als"


def test_clients_are_taken_in_chunks_with_the_same_result(shop, monkeypatch):
    today = int(shop.day.max()) + 1
    model = rc.fit("co-purchase", shop, today)
    clients = np.arange(shop.n_clients)
    whole = rc.recommend(model, shop, clients, 10, today=today)
    monkeypatch.setattr(rc, "CHUNK_CELLS", 1)  # 256 clients per chunk
    chunked = rc.recommend(model, shop, clients, 10, today=today)
    np.testing.assert_array_equal(whole.product, chunked.product)
    np.testing.assert_array_equal(whole.about, chunked.about)


def test_baskets_before_and_matrix():
    b = baskets([(0, 1, 10), (0, 1, 12), (1, 0, 20)], 2, 2)
    assert b.before(20).matrix().toarray().tolist() == [[0, 1], [0, 0]]
    assert b.matrix().toarray().tolist() == [[0, 1], [1, 0]]
    assert isinstance(b.matrix(), sp.csr_matrix)
