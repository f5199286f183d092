"""An open or a click recorded from the ESP's webhook brings a "wait for an open / a click" forward at
once (mailing.tracking.engaged), rather than at the wait's timeout."""

import datetime as dt

import pytest
from anymail.signals import AnymailTrackingEvent, EventType
from django.utils import timezone

from journeys.entry import enter
from journeys.models import Position, StepRun
from journeys.scheduler import run_due
from mailing.models import Delivery
from mailing.tracking import record_event

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(("event", "event_type"), [("open", EventType.OPENED), ("click", EventType.CLICKED)])
def test_an_open_or_click_brings_the_wait_for_it_forward(make_journey, make_client, event, event_type):
    steps = [
        {"id": "hello", "kind": "email", "template": "Welcome 1", "next": "ask"},
        {"id": "ask", "kind": "wait_event", "event": event, "timeout_days": 5, "happened": "thanks",
         "timed_out": "offer"},
        {"id": "thanks", "kind": "email", "template": "Welcome 2"},
        {"id": "offer", "kind": "email", "template": "Offer"},
    ]
    journey = make_journey(steps)
    ann, bob = make_client(), make_client()
    enter(journey, [ann.pk, bob.pk], "x", now=timezone.now() - dt.timedelta(minutes=5))
    run_due()
    delivery = Delivery.objects.get(client=ann)
    assert Position.objects.get(client=ann).due_at > timezone.now() + dt.timedelta(days=4)

    record_event(AnymailTrackingEvent(event_type=event_type, message_id=delivery.message_id, recipient=ann.email,
                                      timestamp=timezone.now(), metadata={"delivery_id": str(delivery.pk)}),
                 "postmark")
    assert Position.objects.get(client=ann).due_at <= timezone.now()  # due at the next pass
    assert Position.objects.get(client=bob).due_at > timezone.now() + dt.timedelta(days=4)
    run_due()
    assert StepRun.objects.get(position__client=ann, step="ask").outcome == "happened"
    assert Delivery.objects.filter(client=ann).count() == 2
    assert not StepRun.objects.filter(position__client=bob, step="ask").exists()
