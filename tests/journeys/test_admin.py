"""The journey's pages: the diagram with per-step counts, the results against the holdout, the client
page's journeys, and an invalid edit of a live journey refused naming the step."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Purchase
from journeys.entry import enter
from journeys.models import Journey
from journeys.scheduler import run_due

pytestmark = pytest.mark.django_db(transaction=True)

STEPS = [
    {"id": "hello", "kind": "email", "template": "Welcome 1", "next": "ask"},
    {"id": "ask", "kind": "wait_event", "event": "order", "timeout_days": 5, "happened": "thanks", "timed_out": "bye"},
    {"id": "thanks", "kind": "points", "points": 10},
    {"id": "bye", "kind": "exit"},
]


@pytest.fixture
def running(make_journey, make_client):
    journey = make_journey(STEPS, holdout_percent=20)
    clients = [make_client() for _ in range(30)]
    now = timezone.now() - dt.timedelta(days=6)
    enter(journey, [c.pk for c in clients], "x", now=now)
    run_due(now=now)
    for c in clients[:6]:
        Purchase.objects.create(external_id=f"o{c.pk}", client=c, purchased_at=now + dt.timedelta(days=1), amount=80)
    run_due()
    return journey, clients


def test_the_edit_page_draws_the_steps_with_their_counts(running, login):
    journey, _clients = running
    page = login("Marketing manager").get(reverse("admin:journeys_journey_change", args=[journey.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count('class="step ') == 4 and "<svg" in html
    entered = journey.positions.exclude(state="holdout").count()
    assert f"done {entered}" in html  # every entrant went through the first email
    assert "timed_out: " in html and "happened: " in html
    assert "Saving an active journey publishes its steps as a new version" in html


def test_the_results_page_compares_entrants_with_the_holdout(running, login):
    journey, _clients = running
    page = login("Analyst").get(reverse("admin:journeys_journey_results", args=[journey.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count('class="results-row"') == 2
    assert "Conversion rate" in html and " pp (" in html


def test_the_client_page_says_where_the_client_is(running, login):
    journey, clients = running
    page = login("Marketing manager").get(reverse("admin:crm_client_change", args=[clients[-1].pk]))
    html = page.content.decode()
    assert "client-journey" in html and journey.name in html


def test_a_broken_edit_of_a_live_journey_is_refused_naming_the_step(running, login):
    journey, _clients = running
    client = login("Marketing manager")
    url = reverse("admin:journeys_journey_change", args=[journey.pk])
    form = {"name": journey.name, "slug": journey.slug, "entry": "segment", "entry_segment": journey.entry_segment_id,
            "entry_days": 0, "reentry": "never", "holdout_percent": 20, "exit_on_unsubscribe": "on",
            "definition": '{"start": "hello", "steps": [{"id": "hello", "kind": "email", "template": "Nope"}]}'}
    page = client.post(url, form)
    assert page.status_code == 200 and "Step &#x27;hello&#x27;: template &#x27;Nope&#x27; does not exist" in \
        page.content.decode()
    assert Journey.objects.get(pk=journey.pk).live_version.number == 1
    form["definition"] = '{"start": "hello", "steps": [{"id": "hello", "kind": "email", "template": "Offer"}]}'
    assert client.post(url, form).status_code == 302
    assert Journey.objects.get(pk=journey.pk).live_version.number == 2
