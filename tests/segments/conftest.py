import datetime as dt
from decimal import Decimal

import pytest

from crm import demo
from crm.models import Activity, Client, Purchase

AS_OF = dt.date(2026, 6, 30)


@pytest.fixture
def demo_shop(db):
    """A small deterministic shop with three years of history ending on AS_OF."""
    demo.build(400, seed=7, end=AS_OF)
    return AS_OF


@pytest.fixture
def bigger_demo_shop(db):
    """Enough clients for the churn and value models to be learned rather than the fallback rules."""
    demo.build(2500, seed=11, end=AS_OF)
    return AS_OF


@pytest.fixture
def buy(db):
    """buy("c1", "2026-01-10", 100) records a completed order (creating the client when new)."""
    counter = iter(range(1, 10**6))

    def make(client_id, day, amount=100, status="completed"):
        client, _ = Client.objects.get_or_create(external_id=client_id)
        at = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC) + dt.timedelta(hours=12)
        return Purchase.objects.create(external_id=f"{client_id}-{next(counter)}", client=client, purchased_at=at,
                                       amount=Decimal(amount), status=status)

    return make


@pytest.fixture
def act(db):
    def make(client_id, day, kind="session"):
        client, _ = Client.objects.get_or_create(external_id=client_id)
        at = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC) + dt.timedelta(hours=9)
        return Activity.objects.create(client=client, kind=kind, occurred_at=at)

    return make
