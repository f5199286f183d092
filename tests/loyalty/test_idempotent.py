"""Granting twice never grants twice: re-runs, the API then the night, and nights as of past days."""

import datetime as dt

from django.utils import timezone
from rest_framework.test import APIClient

from api.models import ApiToken
from loyalty.models import PointsEntry

from .conftest import balance, earned_by_day


def test_a_second_run_for_the_same_night_grants_nothing_more(act, rule, night):
    rule(activity_kind="login", points=10, daily_cap=30, weekly_cap=50)
    rule(source="streak", name="3 days", streak_days=3, points=100)
    for day in ("2026-03-02", "2026-03-03", "2026-03-04"):
        act("c1", day, hour=8)
        act("c1", day, hour=9)
    night("2026-03-04")
    rows = PointsEntry.objects.count()
    assert night("2026-03-04") == {"earned": 0, "refunds": 0, "expired": 0}
    assert PointsEntry.objects.count() == rows
    assert balance("c1") == 50 + 100


def test_a_night_as_of_a_past_day_grants_nothing_for_later_activity(act, rule, night):
    rule(activity_kind="login", points=10)
    act("c1", "2026-03-02")
    act("c1", "2026-03-05")
    night("2026-03-03")
    assert earned_by_day("c1") == {"2026-03-02": 10}
    night("2026-03-05")
    night("2026-03-03")  # recomputed later: the ledger as of that day is unchanged
    assert earned_by_day("c1") == {"2026-03-02": 10, "2026-03-05": 10}
    assert PointsEntry.objects.filter(day__lte=dt.date(2026, 3, 3)).count() == 1


def test_activity_sent_through_the_api_earns_at_once_and_the_night_adds_nothing(rule, night, settings):
    settings.SECURE_SSL_REDIRECT = False
    rule(activity_kind="lesson", points=10, daily_cap=20)
    _, raw = ApiToken.issue("shop", ApiToken.Scope.WRITE)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    now = timezone.now().replace(microsecond=0)
    events = [{"client_id": "c1", "kind": "lesson", "occurred_at": (now - dt.timedelta(minutes=m)).isoformat()}
              for m in (1, 2, 3)]
    response = api.post("/api/v1/activity/batch/", {"events": events}, format="json")
    assert response.status_code == 200, response.content
    assert balance("c1") == 20  # three lessons, capped at 20 a day
    api.post("/api/v1/activity/batch/", {"events": events}, format="json")  # sent again
    night(timezone.localdate().isoformat())
    assert balance("c1") == 20
    assert PointsEntry.objects.count() == 2
