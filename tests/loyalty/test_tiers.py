"""Tiers as of each night (loyalty/tiers.py), their segments and the membership history."""

import datetime as dt

import numpy as np
import pytest
from django.core import mail

from crm.models import Client
from loyalty.models import Tier
from loyalty.tiers import assign
from mailing.models import Campaign, EmailTemplate
from mailing.triggers import fire_triggers
from nightly.pipeline import rebuild_segments
from segments.models import ClientScore, Segment, SegmentMembership


@pytest.fixture
def tiers(db):
    Tier.objects.create(name="Bronze", slug="bronze", rank=1, min_points=1, window_days=30)
    Tier.objects.create(name="Silver", slug="silver", rank=2, min_points=50, window_days=30)
    Tier.objects.create(name="Gold", slug="gold", rank=3, min_points=100, min_active_days=3, window_days=30)


def tier_of():
    return dict(ClientScore.objects.current().values_list("client__external_id", "tier"))


def memberships(slug):
    return list(SegmentMembership.objects.filter(segment__slug=slug).order_by("client__external_id", "entered_at")
                .values_list("client__external_id", "entered_at", "left_at"))


def test_assign_takes_the_highest_ranked_tier_whose_thresholds_are_met():
    tiers = [(1, "bronze", 1, 0, 30), (3, "gold", 100, 3, 30), (2, "silver", 50, 0, 30)]
    points = {30: np.array([0, 10, 60, 120, 120])}
    days = {30: np.array([0, 1, 1, 1, 3])}
    assert assign(tiers, points, days, 5).tolist() == ["", "bronze", "silver", "silver", "gold"]


def test_a_tier_without_thresholds_takes_every_client():
    assert assign([(1, "member", 0, 0, 365)], {}, {}, 3).tolist() == ["member"] * 3


def test_each_tier_has_a_segment_that_follows_it(tiers):
    assert set(Segment.objects.filter(kind="tier").values_list("slug", "name", "is_active")) == {
        ("tier-bronze", "Bronze", True), ("tier-silver", "Silver", True), ("tier-gold", "Gold", True)}
    Tier.objects.filter(slug="bronze").delete()
    assert Segment.objects.get(slug="tier-bronze").is_active is False


def test_the_night_computes_tiers_and_records_entering_and_leaving_them(tiers, act, rule):
    rule(activity_kind="lesson", points=40)
    for day in ("2026-03-01", "2026-03-02", "2026-03-03"):
        act("gold", day, kind="lesson")
    act("silver", "2026-03-03", kind="lesson")
    act("silver", "2026-03-03", kind="lesson", hour=10)
    act("bronze", "2026-03-03", kind="lesson")
    act("none", "2026-03-03", kind="login")
    rebuild_segments(dt.date(2026, 3, 3))
    assert tier_of() == {"gold": "gold", "silver": "silver", "bronze": "bronze", "none": ""}
    assert memberships("tier-gold") == [("gold", dt.date(2026, 3, 3), None)]

    # A month on, the window no longer holds March's first two lessons: gold drops to silver.
    act("gold", "2026-04-01", kind="lesson")
    rebuild_segments(dt.date(2026, 4, 1))
    assert tier_of()["gold"] == "silver"
    assert memberships("tier-gold") == [("gold", dt.date(2026, 3, 3), dt.date(2026, 4, 1))]
    assert ("gold", dt.date(2026, 4, 1), None) in memberships("tier-silver")


def test_a_night_as_of_a_past_day_sees_the_tiers_of_that_day(tiers, act, rule):
    rule(activity_kind="lesson", points=40)
    act("c1", "2026-03-01", kind="lesson")
    act("c1", "2026-03-05", kind="lesson")
    rebuild_segments(dt.date(2026, 3, 5))
    assert tier_of() == {"c1": "silver"}
    rebuild_segments(dt.date(2026, 3, 2))
    assert tier_of() == {"c1": "bronze"}


def test_each_tier_counts_over_its_own_window_when_windows_differ(db, act, rule):
    # A 365-day tier next to a 30-day one: the year's points and days count for the first.
    Tier.objects.create(name="Monthly", slug="monthly", rank=1, min_points=80, window_days=30)
    Tier.objects.create(name="Yearly", slug="yearly", rank=2, min_points=80, min_active_days=2, window_days=365)
    rule(activity_kind="lesson", points=40)
    act("loyal", "2026-01-10", kind="lesson")
    act("loyal", "2026-03-01", kind="lesson")
    act("recent", "2026-02-20", kind="lesson")
    act("recent", "2026-02-21", kind="lesson")
    act("recent", "2026-03-01", kind="lesson")
    rebuild_segments(dt.date(2026, 3, 1))
    assert tier_of() == {"loyal": "yearly", "recent": "yearly"}
    Tier.objects.filter(slug="yearly").update(min_active_days=3)
    rebuild_segments(dt.date(2026, 3, 1))
    assert tier_of() == {"loyal": "", "recent": "yearly"}


def test_entering_tier_gold_triggers_a_campaign(tiers, act, rule, settings, django_capture_on_commit_callbacks):
    settings.CRM_PUBLIC_URL = "https://crm.example.com"
    rule(activity_kind="lesson", points=40)
    template = EmailTemplate.objects.create(
        name="Gold", subject="Welcome to {{ loyalty.tier }}",
        html_body='<p>{{ loyalty.points }} points</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>')
    for day in ("2026-03-01", "2026-03-02"):
        act("c1", day, kind="lesson")
    rebuild_segments(dt.date(2026, 3, 2))
    Client.objects.filter(external_id="c1").update(email="ann@example.com", email_consent=True)
    Campaign.objects.create(slug="reached-gold", name="Reached Gold", template=template,
                            schedule=Campaign.Schedule.TRIGGERED, state=Campaign.State.SCHEDULED,
                            trigger_segment=Segment.objects.get(slug="tier-gold"))
    act("c1", "2026-03-03", kind="lesson")
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        run = rebuild_segments(dt.date(2026, 3, 3))
        fire_triggers(run.pk)
    assert [(m.to, m.subject) for m in mail.outbox] == [(["ann@example.com"], "Welcome to Gold")]
    assert "120 points" in mail.outbox[0].alternatives[0][0]


def test_tier_moves_give_the_same_memberships_as_the_full_path(tiers, act, rule, night_both_ways):
    """An ordinary night derives memberships from the score rows that changed: the tier column must be
    among them (segments/membership.py, moves)."""
    rule(activity_kind="lesson", points=40)

    def state():
        return sorted(SegmentMembership.objects.filter(segment__kind="tier").values_list(
            "segment__slug", "client__external_id", "entered_at", "left_at"))

    def night(day):
        return night_both_ways(day, state)

    for client in ("a", "b"):
        act(client, "2026-03-01", kind="lesson")
    night(dt.date(2026, 3, 1))
    for day in ("2026-03-02", "2026-03-03"):
        act("a", day, kind="lesson")
    act("b", "2026-03-03", kind="lesson")
    after = night(dt.date(2026, 3, 3))
    assert night_both_ways.chosen[-1] == "moves"
    assert ("tier-gold", "a", dt.date(2026, 3, 3), None) in after
    assert ("tier-bronze", "b", dt.date(2026, 3, 1), dt.date(2026, 3, 3)) in after
