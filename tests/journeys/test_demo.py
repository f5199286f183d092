"""`make demo`'s journeys: created active with a 10% holdout and run over the demo shop's last weeks, so
their pages show entrants, branches taken, conversions and revenue."""

import pytest
from django.urls import reverse

from journeys.models import Journey, Position, StepRun
from journeys.publish import problems
from journeys.stats import journey_results

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_demo_journeys_run_on_the_history_and_their_pages_show_numbers(run_command_output, login, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    run_command_output("demo_data", "--clients", "1500", "--seed", "1")
    run_command_output("rebuild_segments")
    out = run_command_output("demo_journeys")
    assert "Journeys (active, 10% holdout): welcome-series, win-back-journey" in out
    assert run_command_output("demo_journeys") == ""  # once

    for journey in Journey.objects.all():
        assert journey.state == "active" and journey.holdout_percent == 10 and problems(journey) == []
        results = journey_results(journey)
        assert results.treated.measured > 0 and results.holdout.measured > 0
        assert results.treated.conversions > 0 and results.treated.revenue > 0
    win_back = Journey.objects.get(slug="win-back-journey")
    outcomes = set(StepRun.objects.filter(position__journey=win_back).values_list("step", "outcome"))
    assert {("order-5d", "timed_out"), ("miss-you", "next")} <= outcomes
    assert Position.objects.filter(journey__slug="welcome-series", reason="converted").exists()

    page = login("Marketing manager").get(reverse("admin:journeys_journey_change", args=[win_back.pk]))
    assert page.status_code == 200 and "timed_out: " in page.content.decode()
