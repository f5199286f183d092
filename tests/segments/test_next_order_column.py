"""The client lists (a segment's members included) show when each client's next order is due."""

import pytest
from django.utils.formats import date_format

from crm import roles
from nightly.pipeline import rebuild_segments
from segments.models import ClientScore, Segment

pytestmark = pytest.mark.django_db


def test_the_member_list_shows_and_sorts_by_the_next_order_due(demo_shop, login):
    rebuild_segments(demo_shop)
    segment = Segment.objects.get(slug="all-clients")
    page = login(roles.MARKETING_MANAGER).get(f"/admin/crm/client/?segment={segment.slug}&o=5")
    assert page.status_code == 200
    body = page.content.decode()
    assert "next order due" in body.lower()
    soonest = ClientScore.objects.current().exclude(next_order_at=None).order_by("next_order_at").first()
    assert date_format(soonest.next_order_at, "SHORT_DATE_FORMAT") in body
