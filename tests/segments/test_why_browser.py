"""In a real browser, in English and Russian: a client's page says why their churn risk and value are
what they are, and the night's model page shows every model, the reliability diagram and the quality
line, with nothing refused by the Content Security Policy."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import translation

from crm import roles
from nightly.pipeline import rebuild_segments
from segments.models import ClientScore

pytestmark = [pytest.mark.browser]


@pytest.fixture
def night(transactional_db, bigger_demo_shop):
    run = rebuild_segments(bigger_demo_shop)
    user = get_user_model().objects.create_user("marketer", password="a-long-test-password", is_staff=True)
    user.groups.add(Group.objects.get(name=roles.MARKETING_MANAGER))
    return run


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_client_page_and_the_model_page_explain_the_scores(request, lang, night):
    from selenium.webdriver.common.by import By

    browser = request.getfixturevalue("browser" if lang == "en" else "browser_ru")
    browser.login("marketer", "a-long-test-password")
    score = ClientScore.objects.current().filter(churn_band="high", churn_reason="long_gap").first()
    with translation.override(lang):
        words = score.reasons("churn")
    browser.open(f"/admin/crm/client/{score.client_id}/change/")
    row = browser.driver.find_element(By.CSS_SELECTOR, ".field-scores")
    browser.driver.execute_script("arguments[0].scrollIntoView()", row)
    assert words[0] in row.text
    browser.shot("client-why")

    browser.open(f"/admin/segments/scoringrun/{night.pk}/change/")
    diagram = browser.driver.find_element(By.CSS_SELECTOR, ".field-reliability svg")
    assert len(diagram.find_elements(By.TAG_NAME, "circle")) == len(night.metrics["churn"]["reliability"])
    browser.driver.execute_script("arguments[0].scrollIntoView()", browser.driver.find_element(
        By.CSS_SELECTOR, ".field-models_compared"))
    browser.shot("model-page")
    assert [e for e in browser.console_errors() if "Content Security Policy" in e or "Refused to" in e] == []
