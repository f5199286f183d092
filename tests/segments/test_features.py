import numpy as np
import pytest

from bench.simulated_shop import simulate_shop
from segments import btyd, features

from . import oracles

NAN = np.nan


def small_shop():
    """Client 0 buys twice and browses; client 1 only browses; client 2 signed up and did nothing."""
    return {
        "client_index": np.array([0, 0, 0]),
        "order_times": np.array([10.0, 40.0, 95.0]),
        "order_amounts": np.array([20.0, 30.0, 500.0]),
        "activity_client_index": np.array([0, 0, 1, 1, 0]),
        "activity_times": np.array([5.0, 65.0, 70.0, 99.0, 120.0]),
        "n_clients": 3,
    }


def aggregates(as_of, first_seen=None, **overrides):
    shop = small_shop() | overrides
    return oracles.aggregates_at(**shop, as_of=as_of, first_seen=first_seen)


def test_it_returns_every_contract_key_with_its_dtype():
    agg = aggregates(90.0)
    assert tuple(agg) == oracles.AGGREGATE_KEYS
    assert all(len(v) == 3 for v in agg.values())
    for key in ("frequency", "activity_30", "activity_90"):
        assert agg[key].dtype == np.int64
    for key in ("monetary", "first_days", "last_days", "activity_days", "age_days"):
        assert agg[key].dtype == np.float64


def test_it_computes_the_aggregates_of_a_small_shop():
    agg = aggregates(90.0)
    np.testing.assert_array_equal(agg["frequency"], [2, 0, 0])
    np.testing.assert_allclose(agg["monetary"], [50.0, 0.0, 0.0])
    np.testing.assert_allclose(agg["first_days"], [80.0, NAN, NAN])
    np.testing.assert_allclose(agg["last_days"], [50.0, NAN, NAN])
    np.testing.assert_array_equal(agg["activity_30"], [1, 1, 0])  # 65 and 70 are in (60, 90]
    np.testing.assert_array_equal(agg["activity_90"], [2, 1, 0])  # 5 is in (0, 90]
    np.testing.assert_allclose(agg["activity_days"], [25.0, 20.0, NAN])
    # No sign-up dates: the earlier of first order and first activity.
    np.testing.assert_allclose(agg["age_days"], [85.0, 20.0, NAN])


def test_it_ignores_everything_after_as_of():
    as_of = 90.0
    before = aggregates(as_of)
    shop = small_shop()
    future = {
        "client_index": np.r_[shop["client_index"], [1, 2, 0]],
        "order_times": np.r_[shop["order_times"], [90.5, 200.0, 91.0]],
        "order_amounts": np.r_[shop["order_amounts"], [1.0, 2.0, 3.0]],
        "activity_client_index": np.r_[shop["activity_client_index"], [2, 2]],
        "activity_times": np.r_[shop["activity_times"], [90.001, 300.0]],
    }
    after = aggregates(as_of, **future)
    for key in oracles.AGGREGATE_KEYS:
        np.testing.assert_array_equal(before[key], after[key], err_msg=key)


def test_it_ignores_the_future_on_a_simulated_shop():
    shop = simulate_shop(2000, seed=4)
    as_of = 500.0
    past_orders = shop.order_times <= as_of
    past_activity = shop.activity_times <= as_of
    truncated = oracles.aggregates_at(
        shop.client_index[past_orders],
        shop.order_times[past_orders],
        shop.order_amounts[past_orders],
        shop.activity_client_index[past_activity],
        shop.activity_times[past_activity],
        shop.n_clients,
        as_of,
        first_seen=np.where(shop.first_seen <= as_of, shop.first_seen, np.nan),
    )
    full = oracles.aggregates_at(*shop.arrays(), as_of=as_of, first_seen=shop.first_seen)
    for key in oracles.AGGREGATE_KEYS:
        np.testing.assert_array_equal(full[key], truncated[key], err_msg=key)


def test_it_counts_an_order_at_exactly_as_of_and_activity_windows_are_half_open():
    agg = aggregates(95.0, activity_times=np.array([5.0, 65.0, 70.0, 95.0, 120.0]))
    assert agg["frequency"][0] == 3
    assert agg["last_days"][0] == 0.0
    # 65.0 is exactly as_of - 30: outside (65, 95]; 5.0 is exactly as_of - 90: outside (5, 95].
    np.testing.assert_array_equal(agg["activity_30"], [0, 2, 0])
    np.testing.assert_array_equal(agg["activity_90"], [1, 2, 0])


def test_it_takes_first_seen_when_known_and_not_in_the_future():
    first_seen = np.array([2.0, 150.0, NAN])
    agg = aggregates(90.0, first_seen=first_seen)
    # Client 1 "signs up" after as_of: fall back to its first activity; client 2 has nothing at all.
    np.testing.assert_allclose(agg["age_days"], [88.0, 20.0, NAN])
    agg = aggregates(90.0, first_seen=np.array([2.0, 1.0, 30.0]))
    np.testing.assert_allclose(agg["age_days"], [88.0, 89.0, 60.0])


def test_windows_are_half_open_after_the_cut_off():
    shop = small_shop()
    args = (shop["client_index"], shop["order_times"])
    np.testing.assert_array_equal(oracles.window_orders(*args, 3, 10.0, 30.0), [1, 0, 0])  # (10, 40]
    np.testing.assert_array_equal(oracles.window_orders(*args, 3, 40.0, 55.0), [1, 0, 0])  # (40, 95]
    np.testing.assert_array_equal(oracles.window_orders(*args, 3, 95.0, 10.0), [0, 0, 0])
    revenue = oracles.window_revenue(*args, shop["order_amounts"], 3, 0.0, 40.0)
    np.testing.assert_allclose(revenue, [50.0, 0.0, 0.0])


def test_aggregates_and_windows_add_up():
    shop = simulate_shop(3000, seed=2)
    c, h = 400.0, 90.0
    before = oracles.aggregates_at(*shop.arrays(), as_of=c)
    after = oracles.aggregates_at(*shop.arrays(), as_of=c + h)
    orders = oracles.window_orders(shop.client_index, shop.order_times, shop.n_clients, c, h)
    revenue = oracles.window_revenue(shop.client_index, shop.order_times, shop.order_amounts, shop.n_clients, c, h)
    np.testing.assert_array_equal(after["frequency"] - before["frequency"], orders)
    np.testing.assert_allclose(after["monetary"] - before["monetary"], revenue, atol=1e-6)


def test_design_matrix_has_a_column_per_feature_and_nan_without_a_btyd_fit():
    agg = aggregates(90.0)
    X = features.design_matrix(agg, 30.0, btyd.BTYDFit(bgnbd=None, gamma_gamma=None))
    assert X.shape == (3, len(features.FEATURE_NAMES))
    assert np.isnan(X[:, features.FEATURE_NAMES.index("bgnbd_alive")]).all()
    assert X[0, features.FEATURE_NAMES.index("mean_gap")] == pytest.approx(30.0)
    assert X[0, features.FEATURE_NAMES.index("overdue")] == pytest.approx(50.0 / 30.0)


def test_labelled_blocks_sample_buyers_only_and_reproducibly():
    shop = simulate_shop(3000, seed=3)
    history = []
    for c in (900.0, 870.0):
        agg = oracles.aggregates_at(*shop.arrays(), as_of=c)
        history.append((agg, oracles.window_orders(shop.client_index, shop.order_times, shop.n_clients, c, 90.0)))
    blocks = features.labelled_blocks(history, 90.0, max_rows=1000, seed=0)
    again = features.labelled_blocks(history, 90.0, max_rows=1000, seed=0)
    assert [len(y) for _, y in blocks] == [500, 500]
    for (X, y), (X2, y2) in zip(blocks, again):
        np.testing.assert_array_equal(X, X2)
        np.testing.assert_array_equal(y, y2)
        assert (X[:, features.FEATURE_NAMES.index("frequency")] >= 1).all()


def test_a_feature_without_any_value_does_not_stop_training():
    # A shop with no activity before a cut-off gives all-NaN activity columns.
    X = np.c_[np.arange(10.0), np.full(10, np.nan)]
    fixed = features.trainable(X)
    assert np.isfinite(fixed).all() and np.array_equal(fixed[:, 0], X[:, 0])
    assert features.trainable(fixed) is fixed


def test_the_kept_visit_measures_are_the_last_columns_and_nan_where_the_aggregates_have_none():
    agg = aggregates(90.0)
    fit = btyd.BTYDFit(bgnbd=None, gamma_gamma=None)
    assert np.isnan(features.design_matrix(agg, 30.0, fit)[:, -len(features.VISIT_FEATURES):]).all()
    measured = agg | {name: np.arange(3.0) + k for k, name in enumerate(features.VISIT_FEATURES)}
    X = features.design_matrix(measured, 30.0, fit)
    for k, name in enumerate(features.VISIT_FEATURES):
        assert X[:, features.FEATURE_NAMES.index(name)].tolist() == [k, k + 1.0, k + 2.0]
