import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from analytics.models import MarketingSpend
from analytics.precompute import build_snapshot
from crm.models import Activity, Client, Purchase, SurveyAnswer
from segments.models import ClientScore, ScoringRun, Segment, SegmentMembership

AS_OF = dt.date(2026, 3, 31)


def at(day, hour=12):
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.UTC)


@pytest.fixture
def small_shop(db, settings):
    """Four clients whose numbers are worked out by hand in the tests (TIME_ZONE is UTC):

    A (channel ads): orders 2026-01-10 100, 2026-01-20 50, 2026-03-05 150
    B (channel ads): order 2026-02-01 200
    C (organic):     orders 2025-12-15 80, 2026-03-20 40 (and a refunded one, never counted)
    D (organic):     no order; a visit on 2026-02-11
    Churn horizon 60 days: a client counts for 2 months after a month with an order.
    """
    settings.CRM_CHURN_HORIZON_DAYS = 60
    settings.CRM_CURRENCY = "RUB"
    clients = {name: Client.objects.create(external_id=name, acquisition_channel=channel)
               for name, channel in (("A", "ads"), ("B", "ads"), ("C", "organic"), ("D", "organic"))}
    orders = [("A", "2026-01-10", 100), ("A", "2026-01-20", 50), ("A", "2026-03-05", 150), ("B", "2026-02-01", 200),
              ("C", "2025-12-15", 80), ("C", "2026-03-20", 40), ("C", "2026-04-02", 999)]  # after the as-of day
    for i, (name, day, amount) in enumerate(orders):
        Purchase.objects.create(external_id=f"O{i}", client=clients[name], purchased_at=at(day), amount=Decimal(amount))
    Purchase.objects.create(external_id="R1", client=clients["C"], purchased_at=at("2026-02-10"), amount=500,
                            status=Purchase.Status.REFUNDED)
    Activity.objects.create(client=clients["D"], kind="session", occurred_at=at("2026-02-11"))
    for name, kind, score, day in (("A", "nps", 10, "2026-02-01"), ("B", "nps", 9, "2026-02-02"),
                                   ("C", "nps", 8, "2026-03-01"), ("D", "nps", 3, "2026-03-02"),
                                   ("A", "csat", 5, "2026-02-01"), ("B", "csat", 4, "2026-02-02"),
                                   ("C", "csat", 2, "2026-03-01"), ("A", "nps", 0, "2025-06-01")):
        SurveyAnswer.objects.create(client=clients[name], kind=kind, score=score, answered_at=at(day))
    for month, amount in (("2026-01-01", 100), ("2026-02-01", 120), ("2026-03-01", 80), ("2025-12-01", 1000)):
        MarketingSpend.objects.create(channel="ads", month=dt.date.fromisoformat(month), amount=Decimal(amount))
    vip = Segment.objects.create(slug="vip", name="VIP", kind=Segment.Kind.RULE)
    for name in "AB":
        SegmentMembership.objects.create(segment=vip, client=clients[name], entered_at=AS_OF)
    run = ScoringRun.objects.create(as_of=AS_OF, status=ScoringRun.Status.SUCCEEDED, finished_at=timezone.now())
    scores = {"A": (3, 300, 100, (5, 5, 5)), "B": (1, 200, 50, (4, 1, 4)), "C": (2, 120, 30, (1, 3, 2)),
              "D": (0, 0, 5, (None, None, None))}
    ClientScore.objects.bulk_create([
        ClientScore(run=run, client=clients[name], frequency=f, monetary=Decimal(m), predicted_clv=Decimal(p),
                    r=rfm[0], f=rfm[1], m=rfm[2], engagement_band="high" if name in "AB" else "low")
        for name, (f, m, p, rfm) in scores.items()])
    return build_snapshot(run)


@pytest.fixture
def analyst(db):
    user = User.objects.create_user("ana", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(content_type__app_label="analytics", codename="view_dashboard"))
    return user


@pytest.fixture
def staff_without_permission(db):
    return User.objects.create_user("bob", password="pw", is_staff=True)


@pytest.fixture(autouse=True)
def _tasks_in_process(tasks_in_process):
    """What a nightly run queues (triggered campaigns, the analytics snapshot) runs in-process."""
