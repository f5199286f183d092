"""An order posted to the API starts the journeys entered on an order and ends those that exit on one;
journeys and a client's positions are readable through the API."""

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from journeys.entry import enter
from journeys.models import Journey, Position
from journeys.scheduler import run_due

pytestmark = pytest.mark.django_db(transaction=True)


def order(n, client="shop-1", at=None):
    return {"order_id": f"o{n}", "client_id": client, "amount": "120.00",
            "purchased_at": (at or timezone.now() - dt.timedelta(minutes=1)).isoformat()}


def test_an_order_by_the_api_starts_the_journey_and_its_first_email_goes_at_the_next_pass(make_journey, api_client):
    api = api_client()
    journey = make_journey([{"id": "thanks", "kind": "email", "template": "Welcome 1"}], entry=Journey.Entry.EVENT,
                           entry_event=Journey.Event.ORDER, entry_segment=None)
    api.post("/api/v1/clients/", {"client_id": "shop-1", "email": "ann@example.com", "email_consent": True},
             format="json")
    assert api.post("/api/v1/purchases/", order(1), format="json").status_code in (200, 201)
    api.post("/api/v1/purchases/", order(1), format="json")  # the same order again: no second entry
    assert Position.objects.filter(journey=journey).count() == 1
    run_due()
    assert [m.to for m in mail.outbox] == [["ann@example.com"]]

    listed = api.get("/api/v1/journeys/").json()
    assert listed[0]["slug"] == journey.slug and listed[0]["clients"]["done"] == 1
    mine = api.get("/api/v1/clients/shop-1/journeys/").json()
    assert mine["journeys"][0]["journey"] == journey.slug and mine["journeys"][0]["state"] == "done"
    assert api.get("/api/v1/clients/nobody/journeys/").status_code == 404


def test_an_order_by_the_api_ends_a_journey_that_exits_on_conversion(make_journey, api_client, make_client):
    api = api_client()
    journey = make_journey([{"id": "hello", "kind": "email", "template": "Welcome 1", "next": "w"},
                            {"id": "w", "kind": "wait", "days": 3, "next": "again"},
                            {"id": "again", "kind": "email", "template": "Welcome 2"}], exit_on_conversion=True)
    client = make_client()
    enter(journey, [client.pk], "x", now=timezone.now() - dt.timedelta(hours=1))
    run_due()
    api.post("/api/v1/purchases/", order(2, client=client.external_id), format="json")
    position = Position.objects.get(client=client)
    assert (position.state, position.reason) == ("exited", "converted")
