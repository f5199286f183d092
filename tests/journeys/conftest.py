import datetime as dt
import itertools

import pytest

from journeys.models import Journey
from journeys.publish import activate
from mailing.models import EmailTemplate
from segments.models import Segment
from tests.api.conftest import _fresh_throttle_counts, _plain_http  # noqa: F401  (the API's fixtures)
from tests.api.conftest import make_client as api_client  # noqa: F401
from tests.mailing.conftest import HTML, _eager_celery, _mail, make_client  # noqa: F401  (shared fixtures)


@pytest.fixture
def templates(db):
    return {name: EmailTemplate.objects.create(name=name, subject=f"{name} {{{{ client.first_name }}}}", html_body=HTML)
            for name in ("Welcome 1", "Welcome 2", "Offer")}


@pytest.fixture
def entry_segment(db):
    return Segment.objects.create(slug="j-new", name="New clients")


@pytest.fixture
def make_journey(templates, entry_segment):
    counter = itertools.count(1)

    def make(steps, start=None, active=True, **fields):
        fields.setdefault("entry_segment", entry_segment)
        journey = Journey.objects.create(slug=fields.pop("slug", f"j{next(counter)}"), name=fields.pop("name", "Flow"),
                                         definition={"start": start or steps[0]["id"], "steps": steps}, **fields)
        if active:
            activate(journey)
        return journey

    return make


def later(now, **delta):
    return now + dt.timedelta(**delta)
