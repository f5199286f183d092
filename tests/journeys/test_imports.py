"""Orders and activity from a CSV import move the journeys as the API's do (crm.signals.data_arrived,
sent once the import commits): entries on an event or into a rule segment, exits on conversion,
waits for an event brought forward. Real files through crm.importing.run_import."""

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from crm.importing import run_import
from journeys.entry import enter
from journeys.models import Journey, Position, StepRun
from journeys.scheduler import run_due
from segments.models import ClientScore, ScoringRun, Segment, SegmentMembership

pytestmark = pytest.mark.django_db(transaction=True)

THANKS = [{"id": "thanks", "kind": "email", "template": "Welcome 1"}]


def csv_file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def purchases(tmp_path, *orders):
    at = (timezone.now() - dt.timedelta(minutes=5)).isoformat()
    return csv_file(tmp_path, "purchases.csv", "order_id,client_id,purchased_at,amount\n"
                    + "".join(f"{order},{client},{at},120.00\n" for order, client in orders))


def test_a_purchases_file_enters_order_and_first_order_journeys_once(make_journey, make_client, tmp_path):
    on_order = make_journey(THANKS, entry=Journey.Entry.EVENT, entry_event=Journey.Event.ORDER, entry_segment=None)
    on_first = make_journey(THANKS, entry=Journey.Entry.EVENT, entry_event=Journey.Event.FIRST_ORDER,
                            entry_segment=None)
    ann, bob = make_client(), make_client()
    assert run_import("purchases", purchases(tmp_path, ("o1", ann.external_id), ("o2", bob.external_id),
                                             ("o3", bob.external_id))).imported
    # Bob's second order finds him in the journey already (one live position per client).
    assert Position.objects.filter(journey=on_order).count() == 2
    assert list(Position.objects.filter(journey=on_first).values_list("client", flat=True)) == [ann.pk]
    run_import("purchases", purchases(tmp_path, ("o1", ann.external_id)))  # the same file again: nothing new
    assert Position.objects.filter(journey=on_order).count() == 2
    run_due()
    assert sorted(m.to[0] for m in mail.outbox) == sorted([ann.email, bob.email, ann.email])


def test_history_loaded_later_enters_no_journey(make_journey, make_client, tmp_path):
    """Orders older than two days are a first load or a backfill, not events: last year's buyers are
    not welcomed today (the night takes the orders in like any data)."""
    on_order = make_journey(THANKS, entry=Journey.Entry.EVENT, entry_event=Journey.Event.ORDER, entry_segment=None)
    ann, bob = make_client(), make_client()
    old = (timezone.now() - dt.timedelta(days=3)).isoformat()
    recent = (timezone.now() - dt.timedelta(hours=30)).isoformat()
    path = csv_file(tmp_path, "history.csv", "order_id,client_id,purchased_at,amount\n"
                    f"h1,{ann.external_id},{old},120.00\nh2,{bob.external_id},{recent},80.00\n")
    assert run_import("purchases", path).created == 2
    assert list(Position.objects.filter(journey=on_order).values_list("client", flat=True)) == [bob.pk]


def test_a_file_with_a_bad_row_imports_nothing_and_enters_nothing(make_journey, make_client, tmp_path):
    journey = make_journey(THANKS, entry=Journey.Entry.EVENT, entry_event=Journey.Event.ORDER, entry_segment=None)
    ann = make_client()
    path = csv_file(tmp_path, "bad.csv", f"order_id,client_id,purchased_at,amount\n"
                    f"o1,{ann.external_id},2026-01-01T10:00:00+00:00,120.00\no2,{ann.external_id},yesterday,1\n")
    assert not run_import("purchases", path).imported
    assert not Position.objects.filter(journey=journey).exists()


def test_a_purchases_file_exits_on_conversion_and_brings_a_wait_for_an_order_forward(make_journey, make_client,
                                                                                      tmp_path):
    converting = make_journey([{"id": "pause", "kind": "wait", "days": 2, "next": "again"},
                               {"id": "again", "kind": "email", "template": "Welcome 2"}], exit_on_conversion=True)
    waiting = make_journey([
        {"id": "ask", "kind": "wait_event", "event": "order", "timeout_days": 5, "happened": "thanks",
         "timed_out": "offer"},
        {"id": "thanks", "kind": "email", "template": "Welcome 2"},
        {"id": "offer", "kind": "email", "template": "Offer"},
    ])
    ann = make_client()
    now = timezone.now() - dt.timedelta(hours=1)
    enter(converting, [ann.pk], "x", now=now)
    enter(waiting, [ann.pk], "x", now=now)
    run_due(now=now)
    assert not mail.outbox
    run_import("purchases", purchases(tmp_path, ("o1", ann.external_id)))
    assert Position.objects.get(journey=converting).reason == "converted"
    run_due()  # the next pass, not the timeout five days on
    assert StepRun.objects.get(position__journey=waiting, step="ask").outcome == "happened"
    assert [m.subject.split()[0] for m in mail.outbox] == ["Welcome"]


def test_an_activity_file_enters_activity_journeys_and_brings_a_wait_for_it_forward(make_journey, make_client,
                                                                                     tmp_path):
    on_view = make_journey(THANKS, entry=Journey.Entry.EVENT, entry_event=Journey.Event.ACTIVITY,
                           entry_activity_kind="viewed_product", entry_segment=None)
    waiting = make_journey([
        {"id": "ask", "kind": "wait_event", "event": "activity", "activity_kind": "viewed_product", "timeout_days": 5,
         "happened": "thanks", "timed_out": "offer"},
        {"id": "thanks", "kind": "email", "template": "Welcome 2"},
        {"id": "offer", "kind": "email", "template": "Offer"},
    ])
    ann, bob = make_client(), make_client()
    now = timezone.now() - dt.timedelta(hours=1)
    enter(waiting, [ann.pk], "x", now=now)
    run_due(now=now)
    at = (timezone.now() - dt.timedelta(minutes=1)).isoformat()
    path = csv_file(tmp_path, "activity.csv", f"client_id,kind,occurred_at\n{ann.external_id},viewed_product,{at}\n"
                    f"{bob.external_id},logged_in,{at}\n")
    assert run_import("activity", path).imported
    assert list(Position.objects.filter(journey=on_view).values_list("client", flat=True)) == [ann.pk]
    run_due()
    assert StepRun.objects.get(position__journey=waiting, step="ask").outcome == "happened"


def test_an_import_puts_clients_in_a_rule_segment_journey_at_once(make_journey, make_client, tmp_path):
    run = ScoringRun.objects.create(as_of=dt.date(2026, 1, 1), status=ScoringRun.Status.SUCCEEDED,
                                    finished_at=timezone.now())
    rich, poor = make_client(), make_client()
    ClientScore.objects.create(run=run, client=rich, predicted_clv=9000)
    ClientScore.objects.create(run=run, client=poor, predicted_clv=10)
    segment = Segment.objects.create(slug="rich", name="Rich", kind=Segment.Kind.RULE,
                                     rule={"field": "predicted_clv", "op": ">", "value": 1000})
    journey = make_journey(THANKS, entry_segment=segment)
    run_import("purchases", purchases(tmp_path, ("o1", rich.external_id), ("o2", poor.external_id)))
    assert list(Position.objects.filter(journey=journey).values_list("client", flat=True)) == [rich.pk]
    assert SegmentMembership.objects.filter(segment=segment, client=rich, left_at__isnull=True).exists()
