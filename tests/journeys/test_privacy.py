"""Erasing a client takes them out of their journeys; exporting them lists where they went."""

import pytest

from journeys.entry import enter
from journeys.models import Position
from journeys.scheduler import run_due
from privacy.personal_data import erase_client, export_client

pytestmark = pytest.mark.django_db(transaction=True)


def test_erase_exits_the_journeys_and_export_lists_them(make_journey, make_client):
    journey = make_journey([{"id": "hello", "kind": "email", "template": "Welcome 1", "next": "w"},
                            {"id": "w", "kind": "wait", "days": 3, "next": "again"},
                            {"id": "again", "kind": "email", "template": "Welcome 2"}])
    client = make_client()
    enter(journey, [client.pk], "x")
    run_due()
    exported = export_client(client)["journeys"]
    assert exported[0]["journey"] == journey.slug and [s["step"] for s in exported[0]["steps"]] == ["hello", "w"]
    erase_client(client)
    position = Position.objects.get(client=client)
    assert (position.state, position.reason) == ("exited", "unsubscribed")
