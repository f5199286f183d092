"""The snapshot and the period report on the hand-made shop of conftest.small_shop."""

import pytest

from analytics import reports


def report(snapshot, start="2026-01", end="2026-03"):
    return reports.Report(snapshot, reports.choose_period(snapshot.data, start, end))


def kpi(snapshot, name, **period):
    return {str(label): value for label, value, _ in report(snapshot, **period).kpis()}[name]


def test_it_covers_the_months_from_the_first_order_to_the_as_of_day(small_shop):
    assert small_shop.data["months"] == ["2025-12", "2026-01", "2026-02", "2026-03"]
    assert small_shop.data["monthly"]["revenue"] == [80, 150, 200, 190]  # refunded and later orders left out
    assert small_shop.data["monthly"]["orders"] == [1, 2, 1, 2]
    assert small_shop.data["monthly"]["new_buyers"] == [1, 1, 1, 0]


def test_it_computes_the_period_numbers(small_shop):
    assert kpi(small_shop, "Revenue") == "RUB\xa0540.00"
    assert kpi(small_shop, "Active clients") == "4"  # D only visited
    assert kpi(small_shop, "Paying clients") == "3"
    assert kpi(small_shop, "ARPU") == "RUB\xa0135.00"
    assert kpi(small_shop, "ARPPU") == "RUB\xa0180.00"
    assert kpi(small_shop, "Average order value") == "RUB\xa0108.00"
    assert kpi(small_shop, "Purchase frequency") == "1.7"
    assert kpi(small_shop, "Repeat purchase rate") == "33.3%"  # only A ordered twice in the period
    assert kpi(small_shop, "Average days between orders") == "27.0"  # A: 10 and 44 days


def test_it_answers_any_period_from_the_same_snapshot(small_shop):
    assert kpi(small_shop, "Paying clients", start="2026-02", end="2026-03") == "3"
    assert kpi(small_shop, "Repeat purchase rate", start="2026-02", end="2026-03") == "0.0%"
    assert kpi(small_shop, "Average days between orders", start="2026-02", end="2026-03") == "—"
    assert kpi(small_shop, "Paying clients", start="2025-12", end="2025-12") == "1"


def test_it_computes_retention_and_churn_month_by_month(small_shop):
    rows = report(small_shop).data["retention"][1:]
    assert [(r["at_start"], r["at_end"], r["new"], r["returning"]) for r in rows] == [
        (1, 2, 1, 0), (2, 2, 1, 0), (2, 3, 0, 1)]
    assert [r["retention"] for r in rows] == [1.0, 0.5, 1.0]  # C lapsed in February, came back in March
    assert rows[1]["churn"] == 0.5


def test_it_builds_the_cohort_table(small_shop):
    chart = reports.cohorts(report(small_shop, "2025-12", "2026-03"))
    assert [row[:6] for row in chart.rows] == [
        ["2025-12", 1, 1.0, 0.0, 0.0, 1.0],
        ["2026-01", 1, 1.0, 0.0, 1.0, None],
        ["2026-02", 1, 1.0, 0.0, None, None],
        ["2026-03", 0, None, None, None, None]]


def test_it_scores_nps_and_csat_by_segment_in_the_period(small_shop):
    nps = {row[0]: row[1:] for row in reports.nps_by_segment(report(small_shop)).rows}
    assert nps["All clients who answered"] == [4, 2, 1, 1, 25.0]  # the 2025 answer is outside the period
    assert nps["VIP"] == [2, 2, 0, 0, 100.0]
    csat = {row[0]: row[1:] for row in reports.csat_by_segment(report(small_shop)).rows}
    assert csat["All clients who answered"][:2] == [3, 2]
    assert csat["All clients who answered"][2] == pytest.approx(2 / 3)


def test_it_computes_cac_ltv_to_cac_and_payback_by_channel(small_shop):
    rows = {row[0]: row[1:] for row in reports.cac(report(small_shop)).rows}
    spend, new, acquisition, ltv, ltv_cac, monthly, payback = rows["ads"]
    assert (spend, new, acquisition) == (300.0, 2, 150.0)  # December's spend is outside the period
    assert ltv == pytest.approx(250 + 75)  # historic 500 / 2 + predicted 150 / 2
    assert ltv_cac == pytest.approx(325 / 150)
    assert monthly == pytest.approx(500 / 3 / 2)
    assert payback == pytest.approx(150 / (500 / 6))
    assert rows["organic"][2] is None  # no spend entered: no CAC


def test_it_gives_ltv_per_paying_client_by_channel(small_shop):
    rows = {row[0]: row[1:] for row in reports.ltv_by_channel(report(small_shop)).rows}
    assert rows["ads"] == [2, 2, 250.0, 75.0, 325.0]
    assert rows["organic"][:3] == [2, 1, 120.0]  # D has no order: counted as a client, not in the LTV
