"""Points expire N days after they were earned, unless spent; spending takes the points that
expire soonest first (loyalty/granting.py, expire)."""

import datetime as dt

from crm.models import Client
from loyalty import ledger
from loyalty.models import PointsEntry

from .conftest import balance


def expired(client_id):
    return list(PointsEntry.objects.filter(client__external_id=client_id, kind="expired")
                .order_by("day").values_list("day", "points"))


def test_points_expire_on_the_day_n_days_after_they_were_earned(act, rule, night):
    rule(activity_kind="login", points=10, expires_after_days=30)
    act("c1", "2026-03-01")
    act("c1", "2026-03-10")
    night("2026-03-30")
    assert expired("c1") == []
    night("2026-03-31")
    assert expired("c1") == [(dt.date(2026, 3, 31), -10)]
    assert balance("c1") == 10
    night("2026-04-09")
    assert expired("c1") == [(dt.date(2026, 3, 31), -10), (dt.date(2026, 4, 9), -10)]
    night("2026-04-09")  # again: nothing more
    assert balance("c1") == 0


def test_spent_points_come_from_the_soonest_to_expire(act, rule, night):
    rule(activity_kind="login", points=10, expires_after_days=30)
    act("c1", "2026-03-01")
    act("c1", "2026-03-10")
    night("2026-03-10")
    ledger.spend(Client.objects.get(external_id="c1"), 15, day=dt.date(2026, 3, 20))
    night("2026-04-30")
    assert expired("c1") == [(dt.date(2026, 4, 9), -5)]
    assert balance("c1") == 0


def test_points_without_expiry_never_expire(act, rule, night):
    rule(activity_kind="login", points=10)
    act("c1", "2026-03-01")
    night("2027-03-01")
    assert expired("c1") == [] and balance("c1") == 10


def test_a_rule_reaching_into_the_past_expires_its_old_points_the_next_night(act, rule, night):
    act("c1", "2026-01-05")
    night("2026-03-01")
    rule(activity_kind="login", points=10, expires_after_days=30)  # counts from 2026-01-01
    night("2026-03-02")
    assert expired("c1") == [(dt.date(2026, 2, 4), -10)]
