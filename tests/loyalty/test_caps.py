"""Points per activity kind and per order, with daily and weekly caps (loyalty/granting.py)."""

import pytest
from django.core.exceptions import ValidationError

from loyalty.models import PointRule

from .conftest import balance, earned_by_day


def test_it_grants_points_per_activity_of_the_rule_kind_only(act, rule, night):
    rule(activity_kind="login", points=5)
    act("c1", "2026-03-02", "login")
    act("c1", "2026-03-02", "review")
    night("2026-03-02")
    assert balance("c1") == 5


def test_it_stops_at_the_daily_cap_and_starts_again_the_next_day(act, rule, night):
    rule(activity_kind="lesson", points=10, daily_cap=25)
    for hour in range(1, 5):
        act("c1", "2026-03-02", "lesson", hour=hour)
    act("c1", "2026-03-03", "lesson")
    night("2026-03-03")
    assert earned_by_day("c1") == {"2026-03-02": 25, "2026-03-03": 10}


def test_it_stops_at_the_weekly_cap_counting_monday_to_sunday(act, rule, night):
    rule(activity_kind="login", points=10, weekly_cap=30)
    for day in ("2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05", "2026-03-08"):  # Mon..Thu, Sun
        act("c1", day)
    act("c1", "2026-03-09")  # the next Monday
    night("2026-03-09")
    assert earned_by_day("c1") == {"2026-03-02": 10, "2026-03-03": 10, "2026-03-04": 10, "2026-03-09": 10}


def test_a_cap_counts_what_earlier_nights_granted(act, rule, night):
    rule(activity_kind="login", points=10, daily_cap=15)
    act("c1", "2026-03-02", hour=8)
    night("2026-03-01")  # nothing yet
    night("2026-03-02")
    act("c1", "2026-03-02", hour=20)  # arrives late, the same day
    act("c1", "2026-03-02", hour=21)
    night("2026-03-02")
    assert earned_by_day("c1") == {"2026-03-02": 15}


def test_it_grants_per_order_or_per_amount_and_takes_back_a_refund(buy, rule, night):
    rule(source="purchase", name="order", points=50)
    rule(source="purchase", name="spend", basis="per_amount", points=1, amount_unit=100)
    order = buy("c1", "2026-03-02", amount="1250.00")
    buy("c1", "2026-03-03", amount="99", status="refunded")
    night("2026-03-03")
    assert balance("c1") == 50 + 12
    order.status = "refunded"
    order.save()
    night("2026-03-04")
    night("2026-03-04")
    assert balance("c1") == 0


@pytest.mark.parametrize("field", ["daily_cap", "weekly_cap"])
def test_a_negative_cap_is_refused_with_a_clear_message(db, field):
    rule = PointRule(name="login", activity_kind="login", points=5, **{field: -1})
    with pytest.raises(ValidationError) as refused:
        rule.full_clean()
    assert "cannot be negative" in refused.value.message_dict[field][0]
