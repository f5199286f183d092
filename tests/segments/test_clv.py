import numpy as np
import pytest

from bench.churn_backtest import shop_windows
from bench.simulated_shop import simulate_shop
from segments import btyd, clv, features

HORIZON = 90


@pytest.fixture(scope="module")
def shop():
    w = shop_windows(simulate_shop(10000, seed=22), HORIZON, step=30, n_cutoffs=4)
    w["buyers"] = features.buyers(w["current"])
    return w


@pytest.fixture(scope="module")
def scored(shop):
    return clv.score_value(shop["current"], shop["revenue_history"], HORIZON)


def test_it_predicts_non_negative_revenue_and_positive_waits(scored):
    assert scored.method == "model"
    assert np.isfinite(scored.expected_revenue).all() and (scored.expected_revenue >= 0).all()
    days = scored.next_order_days[np.isfinite(scored.next_order_days)]
    assert len(days) and (days > 0).all() and (days <= clv.MAX_NEXT_ORDER_DAYS).all()


def test_it_beats_bgnbd_gamma_gamma_on_next_period_revenue(shop, scored):
    rows = shop["buyers"]
    actual = shop["revenue"][rows]
    baseline = btyd.bgnbd_gg_revenue(btyd.fit_btyd(shop["current"]), features.take(shop["current"], rows), HORIZON)
    mae = np.mean(np.abs(scored.expected_revenue[rows] - actual))
    assert mae < np.mean(np.abs(baseline - actual))
    # It predicts a mean, not a median: the shop's total comes out about right.
    assert scored.expected_revenue[rows].sum() == pytest.approx(actual.sum(), rel=0.1)


def test_it_reports_its_back_test(scored):
    m = scored.metrics
    assert {"mae", "baseline_mae", "n_train"} <= set(m)
    assert m["mae"] < m["baseline_mae"]
    assert "MAE" in scored.note


def test_prospects_get_the_documented_prior_and_no_next_order(shop, scored):
    prospects = shop["current"]["frequency"] == 0
    agg, revenue = shop["revenue_history"][0]
    prior = revenue[(agg["frequency"] == 0) & np.isfinite(agg["age_days"])].mean()
    assert prior > 0
    np.testing.assert_allclose(scored.expected_revenue[prospects], prior)
    assert np.isnan(scored.next_order_days[prospects]).all()


def test_frequent_recent_buyers_are_expected_back_sooner(shop, scored):
    current, rows = shop["current"], shop["buyers"]
    days = scored.next_order_days[rows]
    regular = (current["frequency"][rows] >= 5) & (current["last_days"][rows] < 30)
    lapsed = (current["frequency"][rows] <= 2) & (current["last_days"][rows] > 365)
    assert np.nanmedian(days[regular]) < np.nanmedian(days[lapsed])


def test_it_falls_back_to_bgnbd_gamma_gamma_with_short_history(shop):
    result = clv.score_value(shop["current"], shop["revenue_history"][:1], HORIZON)
    assert result.method == "bgnbd_gg"
    assert "BG/NBD + Gamma-Gamma used" in result.note and "two fully observed" in result.note
    rows = shop["buyers"]
    expected = btyd.bgnbd_gg_revenue(btyd.fit_btyd(shop["current"]), features.take(shop["current"], rows), HORIZON)
    np.testing.assert_allclose(result.expected_revenue[rows], expected)
    assert (result.expected_revenue >= 0).all()


def test_a_model_that_loses_its_back_test_is_not_shipped(shop, monkeypatch):
    # Trees that extrapolate wildly (as they did on the segmentation bench's few buyers of
    # thousands of orders a year): their back-test loses to BG/NBD + Gamma-Gamma.
    predict = clv._predict_orders
    monkeypatch.setattr(clv, "_predict_orders", lambda model, X: predict(model, X) * 50)
    result = clv.score_value(shop["current"], shop["revenue_history"], HORIZON)
    assert result.method == "bgnbd_gg" and "back-test MAE" in result.note
    assert result.metrics["mae"] > result.metrics["baseline_mae"]  # the run record keeps why
    rows = shop["buyers"]
    expected = btyd.bgnbd_gg_revenue(btyd.fit_btyd(shop["current"]), features.take(shop["current"], rows), HORIZON)
    np.testing.assert_allclose(result.expected_revenue[rows], expected)


def test_it_falls_back_to_the_rule_when_nothing_can_be_fitted():
    current = {
        "frequency": np.array([1, 4, 0]),
        "monetary": np.array([100.0, 400.0, 0.0]),
        "first_days": np.array([30.0, 730.0, np.nan]),
        "last_days": np.array([30.0, 10.0, np.nan]),
    }
    result = clv.score_value(current, [], 90)
    assert result.method == "rule"
    assert "rule used" in result.note
    # 100 over max(30, 365) days x 90; 400 over 730 days x 90; no orders -> 0.
    np.testing.assert_allclose(result.expected_revenue, [100 / 365 * 90, 400 / 730 * 90, 0.0])
    np.testing.assert_allclose(result.next_order_days, [365.0, 730 / 4, np.nan])
