"""The scheduler's pass moves clients through the steps: emails through mailing's sending, waits,
branches, exits, the holdout; each step done once per position."""

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from crm.models import Purchase
from journeys.entry import enter
from journeys.models import Position, StepRun
from journeys.scheduler import run_due
from mailing.models import Delivery
from segments.models import ClientScore, ScoringRun

pytestmark = pytest.mark.django_db(transaction=True)

WELCOME = [
    {"id": "hello", "kind": "email", "template": "Welcome 1", "next": "pause"},
    {"id": "pause", "kind": "wait", "days": 2, "next": "again"},
    {"id": "again", "kind": "email", "template": "Welcome 2"},
]


def test_a_welcome_series_sends_its_emails_over_time_and_each_once(make_journey, make_client):
    journey = make_journey(WELCOME)
    clients = [make_client() for _ in range(5)]
    now = timezone.now()
    assert enter(journey, [c.pk for c in clients], "test", now=now) == (5, 0)

    run_due(now=now)
    assert len(mail.outbox) == 5
    assert {m.subject.split()[1] for m in mail.outbox} == {"1"}
    assert set(Position.objects.values_list("state", "step")) == {("waiting", "again")}
    run_due(now=now + dt.timedelta(days=1))  # nothing due yet
    assert len(mail.outbox) == 5

    run_due(now=now + dt.timedelta(days=2, minutes=1))
    assert len(mail.outbox) == 10
    assert set(Position.objects.values_list("state", "reason")) == {("done", "end")}
    assert StepRun.objects.count() == 15
    run_due(now=now + dt.timedelta(days=3))  # done is done
    assert len(mail.outbox) == 10
    assert Delivery.objects.filter(state="sent").count() == 10


def test_entering_twice_by_the_same_key_or_while_live_enters_once(make_journey, make_client):
    journey = make_journey(WELCOME)
    client = make_client()
    assert enter(journey, [client.pk], "a")[0] == 1
    enter(journey, [client.pk], "a")
    enter(journey, [client.pk], "b")
    assert Position.objects.count() == 1


def test_the_holdout_never_gets_a_step(make_journey, make_client):
    journey = make_journey(WELCOME, holdout_percent=50)
    clients = [make_client() for _ in range(40)]
    entered, held = enter(journey, [c.pk for c in clients], "x")
    assert entered + held == 40 and 8 <= held <= 32
    run_due()
    assert len(mail.outbox) == entered
    held_ids = set(Position.objects.filter(state="holdout").values_list("client_id", flat=True))
    assert not Delivery.objects.filter(client_id__in=held_ids).exists()


def test_an_order_exits_a_journey_that_exits_on_conversion(make_journey, make_client):
    journey = make_journey(WELCOME, exit_on_conversion=True)
    buyer, other = make_client(), make_client()
    now = timezone.now()
    enter(journey, [buyer.pk, other.pk], "x", now=now)
    run_due(now=now)
    Purchase.objects.create(external_id="o1", client=buyer, purchased_at=timezone.now(), amount=50)
    run_due(now=now + dt.timedelta(days=3))
    assert Position.objects.get(client=buyer).reason == "converted"
    assert Position.objects.get(client=other).reason == "end"
    assert Delivery.objects.filter(client=buyer).count() == 1


def test_wait_for_an_order_takes_the_happened_or_the_timed_out_branch(make_journey, make_client):
    steps = [
        {"id": "ask", "kind": "wait_event", "event": "order", "timeout_days": 5, "happened": "thanks",
         "timed_out": "offer"},
        {"id": "thanks", "kind": "email", "template": "Welcome 2"},
        {"id": "offer", "kind": "email", "template": "Offer"},
    ]
    journey = make_journey(steps)
    buyer, idle = make_client(), make_client()
    now = timezone.now()
    enter(journey, [buyer.pk, idle.pk], "x", now=now)
    run_due(now=now)
    assert not mail.outbox
    Purchase.objects.create(external_id="o1", client=buyer, purchased_at=now + dt.timedelta(days=1), amount=50)
    from journeys.scheduler import bring_forward

    bring_forward([buyer.pk], now=now + dt.timedelta(days=1))
    run_due(now=now + dt.timedelta(days=1, minutes=1))
    assert [m.to for m in mail.outbox] == [[buyer.email]]
    run_due(now=now + dt.timedelta(days=5, minutes=1))
    assert StepRun.objects.filter(step="ask").values_list("position__client", "outcome").order_by("outcome")[::1] == [
        (buyer.pk, "happened"), (idle.pk, "timed_out")]
    assert mail.outbox[1].subject.startswith("Offer")


def test_condition_and_split_branches(make_journey, make_client):
    run = ScoringRun.objects.create(as_of=dt.date(2026, 1, 1), status=ScoringRun.Status.SUCCEEDED,
                                    finished_at=timezone.now())
    rich, poor = make_client(), make_client()
    ClientScore.objects.create(run=run, client=rich, predicted_clv=9000)
    ClientScore.objects.create(run=run, client=poor, predicted_clv=10)
    steps = [
        {"id": "value", "kind": "condition", "rule": {"field": "predicted_clv", "op": ">", "value": 1000},
         "yes": "offer", "no": "bye"},
        {"id": "offer", "kind": "email", "template": "Offer"},
        {"id": "bye", "kind": "exit"},
    ]
    journey = make_journey(steps)
    enter(journey, [rich.pk, poor.pk], "x")
    run_due()
    assert [m.to for m in mail.outbox] == [[rich.email]]
    assert Position.objects.get(client=poor).reason == "exit_step"


def test_a_new_version_leaves_clients_in_flight_on_theirs(make_journey, make_client):
    from journeys.publish import save_definition

    journey = make_journey(WELCOME)
    first = make_client()
    now = timezone.now()
    enter(journey, [first.pk], "x", now=now)
    run_due(now=now)
    journey.definition = {"start": "hello", "steps": [{"id": "hello", "kind": "email", "template": "Offer"}]}
    journey.save()
    save_definition(journey)
    journey.refresh_from_db()
    assert journey.live_version.number == 2
    second = make_client()
    enter(journey, [second.pk], "y", now=now)
    run_due(now=now + dt.timedelta(days=3))
    subjects = sorted((m.to[0], m.subject.split(" ")[0] + m.subject.split(" ")[1]) for m in mail.outbox)
    assert subjects == sorted([(first.email, "Welcome1"), (first.email, "Welcome2"), (second.email, "Offer" + second.first_name)])


def test_a_condition_on_what_happened_in_the_journey(make_journey, make_client):
    steps = [
        {"id": "hello", "kind": "email", "template": "Welcome 1", "next": "w"},
        {"id": "w", "kind": "wait", "days": 1, "next": "opened"},
        {"id": "opened", "kind": "condition", "journey": {"step": "hello", "event": "opened"}, "yes": "offer",
         "no": "bye"},
        {"id": "offer", "kind": "email", "template": "Offer"},
        {"id": "bye", "kind": "exit"},
    ]
    journey = make_journey(steps)
    reader, other = make_client(), make_client()
    now = timezone.now()
    enter(journey, [reader.pk, other.pk], "x", now=now)
    run_due(now=now)
    Delivery.objects.filter(client=reader).update(opened_at=now)
    run_due(now=now + dt.timedelta(days=1, minutes=1))
    assert [m.to for m in mail.outbox[2:]] == [[reader.email]]
    assert Position.objects.get(client=other).reason == "exit_step"
