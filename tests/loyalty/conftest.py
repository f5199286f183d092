import datetime as dt

import pytest

from crm.models import Activity, Client
from loyalty.granting import expire, grant
from loyalty.models import PointRule, PointsEntry
from segments.aggregates import cut_time

START = dt.date(2026, 1, 1)


@pytest.fixture
def act(db):
    """act("c1", "2026-03-02", "login", hour=9) records an activity event (creating the client when new)."""
    def make(client_id, day, kind="login", hour=9, minute=0):
        client, _ = Client.objects.get_or_create(external_id=client_id)
        at = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC) + dt.timedelta(hours=hour, minutes=minute)
        return Activity.objects.create(client=client, kind=kind, occurred_at=at)

    return make



@pytest.fixture
def rule(db):
    def make(**fields):
        fields.setdefault("name", fields.get("activity_kind") or fields.get("source", "rule"))
        fields.setdefault("starts_on", START)
        fields.setdefault("points", 10)
        return PointRule.objects.create(**fields)

    return make


@pytest.fixture
def night(db):
    """night("2026-03-02"): what the nightly run does to the ledger for that as-of day."""
    def run(day):
        as_of = dt.date.fromisoformat(day)
        counts = grant(cut_time(as_of))
        counts["expired"] = expire(as_of)
        return counts

    return run


def balance(client_id):
    return PointsEntry.objects.balance(Client.objects.get(external_id=client_id))


def earned_by_day(client_id):
    rows = PointsEntry.objects.filter(client__external_id=client_id, kind="earned").order_by("day")
    out = {}
    for row in rows:
        out[row.day.isoformat()] = out.get(row.day.isoformat(), 0) + row.points
    return out


@pytest.fixture(autouse=True)
def _tasks_in_process(tasks_in_process):
    """What a nightly run queues (triggered campaigns, the analytics snapshot) runs in-process."""
