import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from bench.churn_backtest import shop_windows
from bench.simulated_shop import simulate_shop
from segments import btyd, churn, features

HORIZON = 90


@pytest.fixture(scope="module")
def shop():
    """A simulated shop seen 'today' (end minus one horizon), with what really happened next."""
    w = shop_windows(simulate_shop(10000, seed=21), HORIZON, step=30, n_cutoffs=4)
    w["buyers"] = features.buyers(w["current"])
    w["churned"] = (w["orders"][w["buyers"]] == 0).astype(int)
    return w


@pytest.fixture(scope="module")
def scored(shop):
    return churn.score_churn(shop["current"], shop["orders_history"], HORIZON)


def test_it_ranks_simulated_churners_above_loyal_clients(shop, scored):
    assert scored.method == "model"
    p = scored.probability[shop["buyers"]]
    assert roc_auc_score(shop["churned"], p) > 0.8


def test_its_probabilities_are_calibrated(shop, scored):
    p = scored.probability[shop["buyers"]]
    y = shop["churned"]
    assert brier_score_loss(y, p) < y.mean() * (1 - y.mean())  # beats always saying the base rate
    assert p.mean() == pytest.approx(y.mean(), abs=0.03)
    assert churn.expected_calibration_error(y, p) < 0.05


def test_it_beats_recency_and_bgnbd_on_the_future_window(shop, scored):
    p = scored.probability[shop["buyers"]]
    recency = shop["current"]["last_days"][shop["buyers"]]
    assert roc_auc_score(shop["churned"], p) > roc_auc_score(shop["churned"], recency)


def test_it_reports_its_back_test(scored):
    m = scored.metrics
    for key in ("auc", "brier", "baseline_auc", "baseline_brier", "bgnbd_auc", "bgnbd_brier", "n_train", "n_test", "cutoffs"):
        assert key in m
    assert m["cutoffs"] == 4
    assert m["auc"] > m["baseline_auc"] and m["auc"] > m["bgnbd_auc"]
    assert m["brier"] < m["baseline_brier"] and m["brier"] < m["bgnbd_brier"]
    assert "AUC" in scored.note


def test_clients_without_orders_are_prospects_not_churners(shop, scored):
    prospects = shop["current"]["frequency"] == 0
    assert prospects.any()
    assert np.isnan(scored.probability[prospects]).all()
    p = scored.probability[~prospects]
    assert np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()


def test_it_is_deterministic(shop):
    small = [(features.take(agg, slice(0, 4000)), orders[:4000]) for agg, orders in shop["orders_history"]]
    current = features.take(shop["current"], slice(0, 4000))
    first = churn.score_churn(current, small, HORIZON)
    second = churn.score_churn(current, small, HORIZON)
    np.testing.assert_array_equal(first.probability, second.probability)


@pytest.mark.parametrize("n_history", [0, 1])
def test_it_uses_bgnbd_and_says_so_when_history_is_too_short(shop, n_history):
    result = churn.score_churn(shop["current"], shop["orders_history"][:n_history], HORIZON)
    assert result.method == "bgnbd"
    assert "BG/NBD used" in result.note and "two fully observed" in result.note
    assert result.metrics == {}
    rows = shop["buyers"]
    fit = features.fit_current(shop["current"])
    expected = btyd.probability_no_purchase(fit.bgnbd, HORIZON, *btyd.rfm(features.take(shop["current"], rows)))
    np.testing.assert_allclose(result.probability[rows], expected)
    # and it is better than the rule it replaces on a young shop
    rule = churn.rule_churn(shop["current"], HORIZON)[rows]
    assert brier_score_loss(shop["churned"], result.probability[rows]) < brier_score_loss(shop["churned"], rule)


def test_it_uses_the_rule_when_not_even_bgnbd_can_be_fitted(shop):
    tiny = [(features.take(agg, slice(0, 30)), orders[:30]) for agg, orders in shop["orders_history"]]
    result = churn.score_churn(features.take(shop["current"], slice(0, 30)), tiny, HORIZON)
    assert result.method == "rule"
    assert "rule used" in result.note and ("training rows" in result.note or "need at least" in result.note)


def test_the_rule_ranks_churners_and_leaves_prospects_out(shop):
    p = churn.rule_churn(shop["current"], HORIZON)
    assert np.isnan(p[shop["current"]["frequency"] == 0]).all()
    p = p[shop["buyers"]]
    assert ((p >= 0) & (p <= 1)).all()
    assert roc_auc_score(shop["churned"], p) > 0.7
    assert brier_score_loss(shop["churned"], p) < shop["churned"].mean() * (1 - shop["churned"].mean())


def test_the_rule_follows_its_docstring():
    # One client who bought 3 times over 60 days (gaps of 30) and was last seen 90 days ago; one who
    # bought twice, 10 days apart, yesterday. Shop median gap among repeat buyers: (30 + 10) / 2 = 20.
    current = {
        "frequency": np.array([3, 2, 0]),
        "first_days": np.array([150.0, 11.0, np.nan]),
        "last_days": np.array([90.0, 1.0, np.nan]),
    }
    p = churn.rule_churn(current, 30)
    gap0 = (60.0 + 20.0) / 3
    alive0 = np.exp(-(90.0 - gap0) / gap0)
    assert p[0] == pytest.approx(1 - alive0 * (1 - np.exp(-30 / gap0)))
    gap1 = (10.0 + 20.0) / 2
    assert p[1] == pytest.approx(np.exp(-30 / gap1))  # not overdue: alive = 1
    assert np.isnan(p[2])
