"""Streak bonuses: every N-th consecutive day with activity (loyalty/granting.py, _grant_streak)."""

import datetime as dt

from loyalty.models import PointsEntry


def days(start, count):
    first = dt.date.fromisoformat(start)
    return [(first + dt.timedelta(days=k)).isoformat() for k in range(count)]


def bonuses(client_id):
    return list(PointsEntry.objects.filter(client__external_id=client_id, rule__source="streak")
                .order_by("day").values_list("day", "points"))


def test_it_grants_the_bonus_on_the_7th_and_14th_day_in_a_row(act, rule, night):
    rule(source="streak", name="week", streak_days=7, points=70)
    for day in days("2026-03-01", 15):
        act("c1", day, kind="session")
    night("2026-03-20")
    assert bonuses("c1") == [(dt.date(2026, 3, 7), 70), (dt.date(2026, 3, 14), 70)]


def test_a_day_without_activity_starts_the_count_again(act, rule, night):
    rule(source="streak", name="week", streak_days=7, points=70)
    for day in days("2026-03-01", 6) + days("2026-03-08", 6):  # 6 days, a gap, 6 days
        act("c1", day)
    act("c2", "2026-03-01")
    night("2026-03-20")
    assert bonuses("c1") == []
    act("c1", "2026-03-14")
    night("2026-03-20")
    assert bonuses("c1") == [(dt.date(2026, 3, 14), 70)]


def test_a_streak_of_one_kind_counts_only_that_kind(act, rule, night):
    rule(source="streak", name="lessons", activity_kind="lesson", streak_days=3, points=30)
    act("c1", "2026-03-01", kind="lesson")
    act("c1", "2026-03-02", kind="login")
    act("c1", "2026-03-03", kind="lesson")
    night("2026-03-05")
    assert bonuses("c1") == []


def test_a_streak_unfinished_on_the_night_is_granted_when_it_is(act, rule, night):
    rule(source="streak", name="3 days", streak_days=3, points=30)
    for day in days("2026-03-01", 3):
        act("c1", day)
    night("2026-03-02")
    assert bonuses("c1") == []
    night("2026-03-03")
    assert bonuses("c1") == [(dt.date(2026, 3, 3), 30)]
