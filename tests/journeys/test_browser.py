"""The journey's page in a real browser, in English and Russian: the diagram is drawn with its counts,
nothing is refused by the Content Security Policy. Screenshots in var/screenshots/."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from journeys.entry import enter
from journeys.scheduler import run_due
from mailing.recipients import in_holdout
from tests.browser import browser, browser_ru, marketer  # noqa: F401

STEPS = [
    {"id": "hello", "kind": "email", "template": "Welcome 1", "next": "ask"},
    {"id": "ask", "kind": "wait_event", "event": "order", "timeout_days": 5, "happened": "thanks",
     "timed_out": "offer"},
    {"id": "thanks", "kind": "points", "points": 10},
    {"id": "offer", "kind": "email", "template": "Offer"},
]


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_journey_page_draws_the_steps(request, lang, make_journey, make_client, marketer):  # noqa: F811
    journey = make_journey(STEPS, holdout_percent=10)
    now = timezone.now() - dt.timedelta(days=6)
    # Twelve clients, at least one of them held out (the draw depends on the ids the database gives):
    # the results page compares the two groups.
    clients = [make_client().pk for _ in range(11)]
    while not any(in_holdout(f"journey-{journey.pk}", pk, 10) for pk in clients):
        clients[-1] = make_client().pk
    enter(journey, [*clients, make_client().pk], "x", now=now)
    run_due(now=now)
    run_due()
    page = request.getfixturevalue("browser" if lang == "en" else "browser_ru").login(*marketer)
    page.open(reverse("admin:journeys_journey_change", args=[journey.pk]))
    page.wait(lambda driver: driver.find_elements("css selector", "svg.journey-graph g.step"))
    assert len(page.driver.find_elements("css selector", "svg.journey-graph g.step")) == 4
    assert "timed_out: " in page.driver.page_source
    page.driver.execute_script("document.querySelector('svg.journey-graph').scrollIntoView()")
    page.shot("journey-page")
    page.open(reverse("admin:journeys_journey_results", args=[journey.pk]))
    assert ("Conversion rate" if lang == "en" else "Конверсия") in page.text()
    page.shot("journey-results")
    # What the Content Security Policy refused (the favicon's 404 is not ours to care about here).
    assert [e for e in page.console_errors() if "Content Security Policy" in e or "Refused to" in e] == []
