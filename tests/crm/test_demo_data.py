"""The demo shop (`manage.py demo_data`, run by `make demo`) gives every admin page something to show."""

from analytics.models import MarketingSpend
from crm.models import SurveyAnswer
from loyalty.models import PointRule, Tier


def test_it_gives_the_dashboards_survey_answers_and_spend_and_the_loyalty_programme(db, run_command_output):
    out = run_command_output("demo_data", "--clients", "200", "--seed", "1")

    assert "Surveys and marketing spend:" in out
    assert SurveyAnswer.objects.filter(kind="nps").exists() and MarketingSpend.objects.exists()
    assert PointRule.objects.exists() and Tier.objects.exists()
