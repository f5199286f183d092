import pytest

from analytics import metrics


def test_it_computes_retention_and_churn_by_the_issue_formula():
    # 200 clients at the start, 230 at the end of whom 50 joined: 180 of the 200 stayed.
    assert metrics.retention_rate(200, 230, 50) == pytest.approx(0.9)
    assert metrics.churn_rate(200, 230, 50) == pytest.approx(0.1)


def test_it_leaves_rates_empty_rather_than_dividing_by_zero():
    assert metrics.retention_rate(0, 5, 5) is None
    assert metrics.churn_rate(0, 5, 5) is None
    assert metrics.arpu(100, 0) is None
    assert metrics.nps([0] * 11) is None
    assert metrics.csat([0] * 5) is None
    assert metrics.cac(500, 0) is None
    assert metrics.ltv_to_cac(1000, None) is None
    assert metrics.payback_months(100, 0) is None


def test_it_divides_revenue_by_active_and_by_paying_clients():
    assert metrics.arpu(1000, 8) == 125
    assert metrics.arppu(1000, 4) == 250
    assert metrics.average_order_value(1000, 5) == 200
    assert metrics.purchase_frequency(5, 4) == 1.25
    assert metrics.repeat_purchase_rate(1, 4) == 0.25
    assert metrics.average_days_between(54, 2) == 27


def test_it_scores_nps_as_promoters_minus_detractors():
    counts = [0] * 11
    counts[10], counts[9], counts[8], counts[3] = 1, 1, 1, 1  # 2 promoters, 1 passive, 1 detractor
    assert metrics.nps(counts) == pytest.approx(25.0)
    all_detractors = [1] * 7 + [0] * 4
    assert metrics.nps(all_detractors) == -100


def test_it_counts_4_and_5_as_satisfied():
    assert metrics.csat([1, 0, 0, 1, 1]) == pytest.approx(2 / 3)  # scores 1, 4 and 5


def test_it_computes_cac_ltv_to_cac_and_payback():
    acquisition = metrics.cac(3000, 20)
    assert acquisition == 150
    assert metrics.ltv_to_cac(600, acquisition) == 4
    assert metrics.payback_months(acquisition, 50) == 3


def test_it_gives_cohort_shares_per_later_month():
    assert metrics.cohort_shares([4, 0], [[4, 2, 1], [0, 0, 0]]) == [[1.0, 0.5, 0.25], [None, None, None]]


def test_it_counts_distinct_clients_for_every_range_of_months():
    # Client 1 ordered in months 0 and 2; client 2 in month 1; client 3 in months 1 and 2.
    pairs = [(None, 0, 1), (0, 2, 1), (None, 1, 2), (1, 2, 1)]
    counts = metrics.range_counts(metrics.pair_events(pairs), 3)
    assert counts[0][0] == 1
    assert counts[1][1] == 2
    assert counts[2][2] == 2
    assert counts[0][2] == 3
    assert counts[1][2] == 3
    assert counts[0][1] == 3


def test_it_sums_pairs_of_months_inside_a_period():
    matrix = [[1, 2, 4], [0, 8, 16], [0, 0, 32]]
    assert metrics.range_sum(matrix, 1, 2) == 8 + 16 + 32
    assert metrics.range_sum(matrix, 0, 1) == 1 + 2 + 8


def test_it_follows_clients_who_lapse_and_come_back():
    # Window 2: a client counts in the month of an order and the next. Stays: X orders in month 0
    # (counts in 0-1) and again in 3 (returning); Y orders in months 1 and 2 (counts in 1-3).
    rows = metrics.retention_by_month(starts=[1, 1, 0, 1], new=[1, 1, 0, 0], ends=[1, 0, 1, 1], window=2)
    assert [r["at_end"] for r in rows] == [1, 2, 1, 2]
    assert rows[2]["retention"] == pytest.approx(0.5)  # X lapsed, Y stayed
    assert rows[2]["churn"] == pytest.approx(0.5)
    assert (rows[3]["returning"], rows[3]["retention"]) == (1, 1.0)
    assert rows[0]["retention"] is None  # nobody at the start
