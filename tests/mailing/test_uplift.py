"""The statistics of campaign results, against values worked out by hand."""

import math
from decimal import Decimal

import pytest

from mailing.uplift import (
    Interval,
    best_of,
    mean_and_variance,
    mean_difference,
    proportion_difference,
    rate,
    return_on_spend,
    scaled,
    two_proportion_z_test,
)


def test_it_gives_the_difference_of_two_rates_with_a_normal_95_interval():
    # 30/200 = 0.15 and 20/200 = 0.10; SE = sqrt(0.15·0.85/200 + 0.10·0.90/200) = sqrt(0.0010875) = 0.0329773;
    # half width = 1.959964 · 0.0329773 = 0.0646343.
    interval = proportion_difference(30, 200, 20, 200)

    assert interval.estimate == pytest.approx(0.05)
    assert interval.low == pytest.approx(0.05 - 0.0646343, abs=1e-6)
    assert interval.high == pytest.approx(0.05 + 0.0646343, abs=1e-6)
    assert not interval.excludes_zero


def test_an_interval_away_from_zero_is_significant():
    # 60/500 − 35/500 = 0.05; SE = sqrt(0.12·0.88/500 + 0.07·0.93/500) = sqrt(0.0003414) = 0.0184770.
    interval = proportion_difference(60, 500, 35, 500)

    assert interval.low == pytest.approx(0.05 - 1.959964 * 0.0184770, abs=1e-6) and interval.low > 0
    assert interval.excludes_zero


def test_it_computes_nothing_for_an_empty_group():
    assert proportion_difference(3, 10, 0, 0) is None
    assert two_proportion_z_test(0, 0, 1, 10) is None
    assert mean_difference(10, 5.0, 9.0, 1, 2.0, 4.0) is None  # one value: no variance
    assert rate(1, 0) is None


def test_it_gives_the_two_proportion_z_test():
    # pooled 50/400 = 0.125; SE = sqrt(0.125·0.875·(1/200 + 1/200)) = 0.0330719; z = 0.05/0.0330719 = 1.511858;
    # two-sided p = 2·(1 − Φ(1.511858)) = 0.13057.
    test = two_proportion_z_test(30, 200, 20, 200)
    assert test.z == pytest.approx(1.511858, abs=1e-6)
    assert test.p_value == pytest.approx(0.13057, abs=1e-5)
    assert not test.significant

    # pooled 95/1000; SE = sqrt(0.095·0.905·(2/500)) = 0.0185445; z = 2.696211; p = 0.0070133.
    test = two_proportion_z_test(60, 500, 35, 500)
    assert test.z == pytest.approx(2.696211, abs=1e-6)
    assert test.p_value == pytest.approx(0.0070133, abs=1e-6)
    assert test.significant
    assert two_proportion_z_test(35, 500, 60, 500).z == pytest.approx(-2.696211, abs=1e-6)


def test_it_gives_welchs_interval_for_revenue_per_client():
    # Sent spends [0, 0, 10, 20]: n 4, Σ 30, Σ² 500, mean 7.5, variance (500 − 4·7.5²)/3 = 91.6667.
    # Holdout spends [0, 0, 0, 10]: n 4, Σ 10, Σ² 100, mean 2.5, variance (100 − 4·2.5²)/3 = 25.
    # SE = sqrt(91.6667/4 + 25/4) = 5.400617; df = 29.1667² / ((22.9167² + 6.25²)/3) = 4.523077;
    # t(0.975, 4.523) = 2.654455 (tables: 2.776 at 4 df, 2.571 at 5), so half width = 14.33478.
    assert mean_and_variance(4, 30, 500) == (7.5, pytest.approx(91.666667))
    interval = mean_difference(4, 30, 500, 4, 10, 100)

    assert interval.estimate == pytest.approx(5.0)
    assert interval.low == pytest.approx(5.0 - 14.33478, abs=1e-4)
    assert interval.high == pytest.approx(5.0 + 14.33478, abs=1e-4)
    half = interval.high - interval.estimate
    assert 2.571 * 5.400617 < half < 2.776 * 5.400617


def test_with_large_groups_welchs_interval_is_the_normal_one():
    # 10,000 clients each; sent: 1,000 spend 50 (mean 5, Σ² 2,500,000); holdout: 800 spend 50 (mean 4).
    interval = mean_difference(10_000, 50_000, 2_500_000, 10_000, 40_000, 2_000_000)

    var_sent = (2_500_000 - 10_000 * 25) / 9_999
    var_hold = (2_000_000 - 10_000 * 16) / 9_999
    se = math.sqrt(var_sent / 10_000 + var_hold / 10_000)
    assert interval.estimate == pytest.approx(1.0)
    assert interval.high - interval.estimate == pytest.approx(1.96 * se, rel=1e-3)


def test_a_group_where_everyone_spends_the_same_has_a_point_interval():
    interval = mean_difference(3, 30, 300, 2, 10, 50)

    assert (interval.estimate, interval.low, interval.high) == (5.0, 5.0, 5.0)


def test_it_names_the_best_variant_and_tests_it_against_the_runner_up():
    comparison = best_of([("A", 20, 200), ("B", 30, 200), ("C", 10, 200)])
    assert (comparison.winner, comparison.runner_up) == ("B", "A")
    assert comparison.test.p_value == pytest.approx(0.13057, abs=1e-5)
    assert not comparison.significant

    comparison = best_of([("A", 35, 500), ("B", 60, 500)])
    assert comparison.winner == "B" and comparison.significant


def test_a_tie_or_a_single_variant_has_no_winner_to_test():
    assert best_of([("A", 10, 100), ("B", 10, 100)]).winner is None
    assert best_of([("A", 10, 100), ("B", 5, 0)]).test is None
    assert best_of([]).winner is None


def test_incremental_totals_are_the_per_recipient_difference_times_the_recipients():
    # A conversion uplift of 0.05 (0.0146 … 0.0854) on 1,000 recipients: 50 more buyers (14.6 … 85.4).
    total = scaled(proportion_difference(60, 500, 35, 500), 1_000)

    assert (total.estimate, total.low, total.high) == pytest.approx((50, 50 - 36.2145, 50 + 36.2145), abs=1e-3)
    assert total.excludes_zero
    assert scaled(None, 1_000) is None


def test_return_on_spend_carries_the_revenue_interval_through_the_same_formula():
    # +41,000 (12,000 … 70,000) on 10,000 spent: (41,000 − 10,000) / 10,000 = 3.1, ends 0.2 and 6.0.
    revenue = Interval(41_000, 12_000, 70_000)

    roi = return_on_spend(revenue, Decimal("10000"))

    assert (roi.estimate, roi.low, roi.high) == pytest.approx((3.1, 0.2, 6.0))
    assert roi.excludes_zero
    # Revenue clearly above zero but not clearly above the cost: the return could be a loss.
    assert not return_on_spend(revenue, 20_000).excludes_zero
    assert return_on_spend(Interval(-500, -900, -100), 1_000).high == pytest.approx(-1.1)


def test_there_is_no_return_on_spend_without_a_cost_or_a_revenue_interval():
    revenue = Interval(41_000, 12_000, 70_000)

    assert return_on_spend(revenue, None) is None
    assert return_on_spend(revenue, 0) is None
    assert return_on_spend(None, 10_000) is None
