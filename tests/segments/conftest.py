import datetime as dt

import pytest

from crm.models import Activity, Client
from demo import shop as demo

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
def act(db):
    def make(client_id, day, kind="session"):
        client, _ = Client.objects.get_or_create(external_id=client_id)
        at = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC) + dt.timedelta(hours=9)
        return Activity.objects.create(client=client, kind=kind, occurred_at=at)

    return make
