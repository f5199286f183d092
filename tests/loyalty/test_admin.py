"""The loyalty admin: rules, tiers, the ledger's add form and the analytics page."""

import datetime as dt

import pytest
from django.contrib.auth.models import User

from crm.models import Client
from loyalty.models import PointRule, PointsEntry, Tier
from nightly.pipeline import rebuild_segments


@pytest.fixture
def staff(client, db):
    user = User.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    return client


def test_a_rule_with_a_negative_cap_gets_a_clear_error(staff):
    response = staff.post("/admin/loyalty/pointrule/add/", {
        "name": "Logins", "source": "activity", "activity_kind": "login", "points": 5, "basis": "per_event",
        "amount_unit": "1", "daily_cap": "-5", "starts_on": "2026-01-01", "is_active": "on"})
    assert response.status_code == 200
    assert "A cap cannot be negative" in response.content.decode()
    assert not PointRule.objects.exists()


def test_a_manual_adjustment_needs_a_reason_in_the_admin(staff):
    client = Client.objects.create(external_id="c1")
    response = staff.post("/admin/loyalty/pointsentry/add/", {"client": client.pk, "kind": "adjusted",
                                                               "points": 10, "reason": ""})
    assert response.status_code == 200
    assert "A manual adjustment needs a reason" in response.content.decode()
    staff.post("/admin/loyalty/pointsentry/add/", {"client": client.pk, "kind": "adjusted", "points": 10,
                                                   "reason": "apology"})
    staff.post("/admin/loyalty/pointsentry/add/", {"client": client.pk, "kind": "spent", "points": 4, "reason": ""})
    assert sorted(PointsEntry.objects.values_list("kind", "points")) == [("adjusted", 10), ("spent", -4)]
    assert PointsEntry.objects.filter(created_by__username="boss").count() == 2


def test_the_analytics_page_shows_points_tiers_and_value_by_tier(staff, act, rule):
    Tier.objects.create(name="Gold", slug="gold", rank=3, min_points=10)
    rule(activity_kind="login", points=10)
    act("c1", "2026-03-01")
    rebuild_segments(dt.date(2026, 3, 1))
    page = staff.get("/admin/loyalty/pointsentry/analytics/").content.decode()
    assert "2026-03" in page and "Gold" in page and "Retention and value by tier" in page


def test_the_ledger_links_to_the_analytics_page_and_offers_no_change_or_delete(staff):
    client = Client.objects.create(external_id="c1")
    entry = PointsEntry.objects.create(client=client, kind="adjusted", points=5, reason="welcome", day="2026-03-01")
    assert "/admin/loyalty/pointsentry/analytics/" in staff.get("/admin/loyalty/pointsentry/").content.decode()
    staff.post(f"/admin/loyalty/pointsentry/{entry.pk}/change/", {"points": 500, "reason": "x"})
    assert staff.post(f"/admin/loyalty/pointsentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert list(PointsEntry.objects.values_list("points", flat=True)) == [5]
