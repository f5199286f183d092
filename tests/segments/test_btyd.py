import numpy as np
import pytest
from scipy import special

from bench.simulated_shop import ShopParams, simulate_shop
from segments import btyd

from . import oracles

# With no comebacks the simulator is exactly BG/NBD (purchases) and Gamma-Gamma (spend).
TRUE = ShopParams(comeback_share=0.0)
HORIZON = 90.0


@pytest.fixture(scope="module")
def bgnbd_shop():
    shop = simulate_shop(20000, seed=1, params=TRUE)
    as_of = shop.days - HORIZON
    agg = oracles.aggregates_at(*shop.arrays(), as_of=as_of, first_seen=shop.first_seen)
    future = oracles.window_orders(shop.client_index, shop.order_times, shop.n_clients, as_of, HORIZON)
    return agg, future, btyd.fit_btyd(agg)


def test_it_recovers_known_bgnbd_parameters(bgnbd_shop):
    fit = bgnbd_shop[2].bgnbd
    assert fit.r == pytest.approx(TRUE.r, rel=0.10)
    assert fit.alpha == pytest.approx(TRUE.alpha, rel=0.10)
    assert fit.a == pytest.approx(TRUE.a, rel=0.20)
    assert fit.b == pytest.approx(TRUE.b, rel=0.20)
    assert fit.a / (fit.a + fit.b) == pytest.approx(TRUE.a / (TRUE.a + TRUE.b), rel=0.05)


def test_it_recovers_known_gamma_gamma_parameters(bgnbd_shop):
    fit = bgnbd_shop[2].gamma_gamma
    assert fit.p == pytest.approx(TRUE.spend_p, rel=0.20)
    assert fit.q == pytest.approx(TRUE.spend_q, rel=0.15)
    assert fit.gamma == pytest.approx(TRUE.spend_gamma, rel=0.20)
    population_mean = fit.p * fit.gamma / (fit.q - 1)
    assert population_mean == pytest.approx(TRUE.spend_p * TRUE.spend_gamma / (TRUE.spend_q - 1), rel=0.05)


def test_expected_purchases_add_up_to_what_happened_next(bgnbd_shop):
    agg, future, fit = bgnbd_shop
    buyers = agg["frequency"] > 0
    expected = btyd.expected_purchases(fit.bgnbd, HORIZON, *btyd.rfm(agg))
    assert expected[buyers].sum() == pytest.approx(future[buyers].sum(), rel=0.05)
    silent = btyd.probability_no_purchase(fit.bgnbd, HORIZON, *btyd.rfm(agg))
    assert silent[buyers].mean() == pytest.approx((future[buyers] == 0).mean(), abs=0.02)


def test_expected_purchases_match_the_paper_formula():
    params = btyd.BGNBDParams(r=0.24, alpha=4.41, a=0.79, b=2.43)  # the paper's CDNOW estimates (weeks)
    x, t_x, T = np.array([0.0, 2.0, 7.0, 25.0]), np.array([0.0, 30.4, 35.0, 38.0]), np.array([38.9, 38.9, 38.9, 39.0])
    t = 39.0
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    top = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
    bottom = 1 + (x > 0) * a / np.maximum(b + x - 1, 1e-12) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    np.testing.assert_allclose(btyd.expected_purchases(params, t, x, t_x, T), top / bottom, rtol=1e-8)


def test_expected_purchases_of_heavy_buyers_younger_than_the_horizon_match_the_paper_formula():
    # Fitted on bench/segmentation.py's shop: hundreds of orders in a history shorter than a year.
    params = btyd.BGNBDParams(r=0.7565, alpha=48.353, a=0.05382, b=1.7276)
    x, t_x, T = np.array([378.0, 422.0, 5.0]), np.array([75.153, 105.678, 60.0]), np.array([75.186, 105.729, 300.0])
    t = 365.0
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))  # ~1e226, times a power ~1e-227
    top = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
    bottom = 1 + (x > 0) * a / np.maximum(b + x - 1, 1e-12) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    expected = btyd.expected_purchases(params, t, x, t_x, T)
    assert np.isfinite(expected).all()
    np.testing.assert_allclose(expected, top / bottom, rtol=1e-8)


def test_probability_alive_is_one_for_one_time_buyers_and_falls_with_silence():
    params = btyd.BGNBDParams(r=0.8, alpha=40.0, a=0.9, b=4.0)
    assert btyd.probability_alive(params, np.array([0.0]), np.array([0.0]), np.array([300.0]))[0] == 1.0
    recent_to_old = btyd.probability_alive(params, np.full(3, 5.0), np.array([290.0, 200.0, 50.0]), np.full(3, 300.0))
    assert np.all(np.diff(recent_to_old) < 0)


def test_clients_without_orders_get_nan():
    params = btyd.BGNBDParams(r=0.8, alpha=40.0, a=0.9, b=4.0)
    agg = {"frequency": np.array([0, 2]), "first_days": np.array([np.nan, 50.0]), "last_days": np.array([np.nan, 10.0])}
    x, t_x, T = btyd.rfm(agg)
    for out in (
        btyd.probability_alive(params, x, t_x, T),
        btyd.expected_purchases(params, 30.0, x, t_x, T),
        btyd.probability_no_purchase(params, 30.0, x, t_x, T),
    ):
        assert np.isnan(out[0]) and np.isfinite(out[1])


def test_expected_spend_shrinks_toward_the_population_mean():
    params = btyd.GammaGammaParams(p=5.0, q=4.0, gamma=50.0)
    population = 5.0 * 50.0 / 3.0
    one, many = btyd.expected_spend(params, np.array([1.0, 50.0]), np.array([300.0, 300.0]))
    assert population < one < many < 300.0
    assert btyd.expected_spend(params, np.array([0.0]), np.array([np.nan]))[0] == pytest.approx(population)


def test_it_refuses_to_fit_too_little_data():
    with pytest.raises(btyd.FitError):
        btyd.fit_bgnbd(np.array([1.0, 0.0]), np.array([3.0, 0.0]), np.array([9.0, 9.0]))
    with pytest.raises(btyd.FitError):
        btyd.fit_bgnbd(np.zeros(100), np.zeros(100), np.full(100, 10.0))  # nobody ever came back
    fit = btyd.fit_btyd({"frequency": np.array([1]), "monetary": np.array([5.0]), "first_days": np.array([3.0]), "last_days": np.array([3.0])})
    assert fit.bgnbd is None and fit.gamma_gamma is None and "BG/NBD" in fit.note


def test_pareto_nbd_predicts_the_next_window_about_as_bgnbd_does(bgnbd_shop):
    agg, future, fit = bgnbd_shop
    buyers = agg["frequency"] > 0
    rfm = btyd.rfm(agg)
    pareto = btyd.fit_pareto_nbd(*rfm)
    expected = btyd.pareto_expected_purchases(pareto, HORIZON, *rfm)[buyers]
    assert np.isfinite(expected).all() and (expected >= 0).all()
    # in total, and client by client better than a flat rate
    assert expected.sum() == pytest.approx(future[buyers].sum(), rel=0.10)
    flat = np.full(expected.shape, future[buyers].mean())
    assert np.mean(np.abs(expected - future[buyers])) < np.mean(np.abs(flat - future[buyers]))
    # a client who bought often and recently is expected to buy more than one long silent
    x, t_x, T = (np.array(v, dtype=float) for v in ([10, 10], [300, 20], [310, 310]))
    recent, silent = btyd.pareto_expected_purchases(pareto, HORIZON, x, t_x, T)
    assert recent > 3 * silent


def test_pareto_nbd_needs_enough_clients():
    with pytest.raises(btyd.FitError, match="Pareto/NBD needs at least"):
        btyd.fit_pareto_nbd(np.ones(5), np.ones(5), np.full(5, 10.0))
