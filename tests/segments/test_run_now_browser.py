"""'Run scoring now' in a real browser, in English and Russian: queued, then followed stage by stage
on a page that refreshes itself until the run has succeeded."""

import pytest
from django.contrib.auth import get_user_model
from selenium.webdriver.common.by import By

from nightly import tasks
from nightly.pipeline import STAGES, rebuild_segments
from segments.models import ScoringRun

pytestmark = [pytest.mark.browser]


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_run_scoring_now_shows_the_run_stage_by_stage(request, lang, demo_shop, monkeypatch, transactional_db):
    get_user_model().objects.create_superuser("boss", "boss@example.com", "a-long-test-password")
    queued = []
    monkeypatch.setattr(tasks.nightly_rebuild, "delay", lambda *a: queued.append(a))  # the test is the worker
    browser = request.getfixturevalue("browser" if lang == "en" else "browser_ru")
    browser.login("boss", "a-long-test-password")

    browser.open("/admin/segments/scoringrun/")
    browser.driver.find_element(By.CSS_SELECTOR, "form[action$='/run-now/'] button").click()
    browser.wait(lambda d: "/run-now/progress/" in d.current_url)
    assert queued == [()]
    assert not browser.driver.find_elements(By.CSS_SELECTOR, "#run-progress table")  # queued, not started
    browser.shot("scoring-run-queued")

    # Half-way through a run (as another worker's run would look): the page picks it up by itself.
    half = ScoringRun.objects.create(as_of=demo_shop, stage_seconds={"read": 1.2, "models": 3.4})
    browser.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr.stage-running")) == 1, seconds=30)
    assert len(browser.driver.find_elements(By.CSS_SELECTOR, "tr.stage-done")) == 2
    browser.shot("scoring-run-running")
    half.delete()

    rebuild_segments(demo_shop)
    browser.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr.stage-done")) == len(STAGES), seconds=30)
    browser.shot("scoring-run-done")
