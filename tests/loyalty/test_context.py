"""Loyalty values in email templates (loyalty/context.py, through templating.build_contexts)."""

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Client
from loyalty import ledger
from loyalty.context import loyalty_contexts
from loyalty.models import Tier
from mailing.templating import build_contexts
from nightly.pipeline import rebuild_segments

TODAY = dt.date(2026, 3, 20)


def test_it_gives_points_tier_streak_and_points_about_to_expire(act, rule, night):
    Tier.objects.create(name="Silver", slug="silver", rank=2, min_points=30)
    rule(activity_kind="login", points=10, expires_after_days=30)
    rule(activity_kind="lesson", points=10)  # these never expire
    act("c1", "2026-02-25", kind="login")
    for day in ("2026-03-17", "2026-03-18", "2026-03-19", "2026-03-20"):
        act("c1", day, kind="lesson")
    rebuild_segments(dt.date(2026, 3, 19))
    client = Client.objects.get(external_id="c1")
    night("2026-03-20")
    ledger.spend(client, 5, day=dt.date(2026, 3, 20))
    context = build_contexts([client], today=TODAY)[client.pk]["loyalty"]
    # 50 earned - 5 spent, taken from the 10 of 25 Feb, which expire on 27 Mar.
    assert context == {"points": 45, "tier": "Silver", "tier_slug": "silver", "streak_days": 4,
                       "expiring_points": 5, "expiring_on": dt.date(2026, 3, 27)}


def test_a_client_with_nothing_gets_no_values_and_templates_use_their_defaults(act):
    act("c1", "2026-03-01")
    client = Client.objects.get(external_id="c1")
    assert build_contexts([client], today=TODAY)[client.pk]["loyalty"] == {}


def test_it_reads_a_whole_batch_in_one_query(act, rule, night):
    rule(activity_kind="login", points=10)
    for n in range(30):
        act(f"c{n}", "2026-03-19")
        act(f"c{n}", "2026-03-20")
    night("2026-03-19")
    ids = list(Client.objects.values_list("pk", flat=True))
    with CaptureQueriesContext(connection) as queries:
        found = loyalty_contexts(ids, today=TODAY)
    assert len(queries) == 1
    assert {v["points"] for v in found.values()} == {10} and len(found) == 30
    assert {v["streak_days"] for v in found.values()} == {2}
