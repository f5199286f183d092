"""The two ways to the memberships (segments/membership.py) must agree: the moves path, derived from the
previous run's scores, and the full path, from every member of every segment."""

import datetime as dt
from decimal import Decimal

import pytest

from crm.models import Client, Purchase
from segments.models import Segment, SegmentMembership, SegmentSize

pytestmark = pytest.mark.django_db


def state():
    """Every membership and every recorded size, by slug, client and date (run ids differ between tries)."""
    return (sorted(SegmentMembership.objects.values_list("segment__slug", "client__external_id", "entered_at",
                                                         "left_at")),
            sorted(SegmentSize.objects.values_list("segment__slug", "as_of", "size", "entered", "left")),
            sorted(Segment.objects.values_list("slug", "size")))


def test_memberships_from_score_moves_are_those_from_all_members(demo_shop, night_both_ways):
    Segment.objects.create(slug="big-spenders", name="Big spenders", kind="rule",
                           rule={"field": "monetary", "op": ">", "value": 5000})

    def night(day):
        """The night run the full way, rolled back, then run as planned: both must agree."""
        night_both_ways(day, state)

    night(demo_shop)
    for k, client in enumerate(Client.objects.order_by("id")[:40]):
        Purchase.objects.create(external_id=f"late-{k}", client=client, amount=Decimal(4000 + k),
                                purchased_at=dt.datetime(2026, 7, 3, 12, tzinfo=dt.UTC))
    Client.objects.create(external_id="newcomer", first_seen=dt.datetime(2026, 7, 2, tzinfo=dt.UTC))
    night(demo_shop + dt.timedelta(days=5))
    night(demo_shop + dt.timedelta(days=40))
    night(demo_shop + dt.timedelta(days=1))  # a past night recomputed: the newcomer leaves again
    Client.objects.order_by("id")[0].delete()  # their memberships go with them
    night(demo_shop + dt.timedelta(days=41))
    Segment.objects.filter(slug="churn-high").update(is_active=False)
    night(demo_shop + dt.timedelta(days=42))
    Segment.objects.filter(slug="churn-high").update(is_active=True)
    night(demo_shop + dt.timedelta(days=43))
    night(demo_shop + dt.timedelta(days=44))
    # The moves path ran on the ordinary nights; a deleted client's missing memberships and a segment
    # switched off or on sent those nights down the full path.
    assert night_both_ways.chosen == ["moves", "moves", "moves", "moves", "full", "full", "full", "moves"]
    assert SegmentMembership.objects.filter(client__external_id="newcomer", left_at__isnull=False).exists()
