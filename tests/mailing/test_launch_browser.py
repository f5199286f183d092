"""A marketer launches a campaign in a real browser, in English and Russian: the campaign's page shows
the reach, "Launch..." opens the breakdown with sample subjects, a test goes to the marketer, and
after confirming the campaign's page follows the sending (reloading itself) until it is done."""

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.cache import cache
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from mailing import admin_launch, tasks
from mailing.models import Campaign

pytestmark = [pytest.mark.browser]

# Only words the project had translated before; the new ones are checked by id (tr-i-c.po brings them).
TEXT = {
    "en": {"consent": "no email consent", "sent_test": "Test message sent to", "sent": "sent", "done": "done"},
    "ru": {"consent": "нет согласия на email", "sent_test": "Тестовое письмо отправлено", "sent": "отправлено",
           "done": "завершена"},
}


def progress(browser):
    """{column: count} of the campaign's sending progress, and its state line."""
    box = browser.driver.find_element(By.ID, "launch-progress")
    heads = [th.text for th in box.find_elements(By.TAG_NAME, "th")]
    counts = [td.text for td in box.find_elements(By.TAG_NAME, "td")]
    return dict(zip(heads, counts, strict=True)), box.find_element(By.TAG_NAME, "p").text


@pytest.fixture
def marketer(transactional_db):
    get_user_model().objects.create_superuser("mia", "mia@shop.example", "a-long-test-password")
    return "mia", "a-long-test-password"


@pytest.fixture
def campaign(make_client, make_campaign, segment):
    cache.clear()
    for name in ("Olga", "Pavel", "Rita"):
        make_client([segment], first_name=name)
    make_client([segment], consent=False, first_name="Quiet")
    return make_campaign(slug="spring", name="Spring sale")


def click(browser, css):
    browser.driver.find_element(By.CSS_SELECTOR, css).click()


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_marketer_sees_the_reach_tests_and_launches(request, lang, marketer, campaign, monkeypatch, tasks_in_process):
    words = TEXT[lang]
    queued = []
    # The worker is this test: the request only queues (as with a real broker), the test runs the task.
    monkeypatch.setattr(admin_launch, "queue_launch", lambda pk: queued.append(pk) or True)
    browser = request.getfixturevalue("browser" if lang == "en" else "browser_ru")
    browser.login(*marketer)

    browser.open(f"/admin/mailing/campaign/{campaign.pk}/change/")
    reach = browser.driver.find_element(By.ID, "reach-now").text
    assert words["consent"] in reach and reach.splitlines()[-1].endswith("3")  # will receive it: 3
    browser.driver.execute_script("document.getElementById('reach-now').scrollIntoView()")
    browser.shot("campaign-reach")

    click(browser, f"a[href$='/{campaign.pk}/launch/']")
    browser.wait(lambda d: "/launch/" in d.current_url)
    page = browser.text()
    assert "Hi Olga" in page and "Hi Rita" in page and "Hi Quiet" not in page
    browser.shot("campaign-launch-confirm")

    click(browser, "input[name=test]")
    browser.wait(lambda d: words["sent_test"] in d.find_element(By.TAG_NAME, "body").text)
    assert [m.to for m in mail.outbox] == [["mia@shop.example"]]
    browser.shot("campaign-launch-test-sent")

    click(browser, "input[name=confirm]")
    browser.wait(lambda d: "/change/" in d.current_url)
    assert queued == [campaign.pk]
    assert browser.driver.find_element(By.ID, "launch-progress").get_attribute("data-busy") == "1"
    browser.driver.execute_script("document.getElementById('launch-progress').scrollIntoView()")
    browser.shot("campaign-launching")

    tasks.launch_campaign_task(campaign.pk)  # the worker; the page reloads itself until it is done
    def sent_three(driver):
        try:
            return progress(browser)[0].get(words["sent"]) == "3"
        except (StaleElementReferenceException, NoSuchElementException):  # read while the page reloaded
            return False

    browser.wait(sent_three, seconds=30)
    assert progress(browser)[1].lower() == words["done"]
    assert len(mail.outbox) == 4
    assert Campaign.objects.get(pk=campaign.pk).state == Campaign.State.DONE
    browser.driver.execute_script("document.getElementById('launch-progress').scrollIntoView()")
    browser.shot("campaign-launch-done")


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_marketer_duplicates_a_campaign(request, lang, marketer, campaign):
    browser = request.getfixturevalue("browser" if lang == "en" else "browser_ru")
    browser.login(*marketer)
    browser.open("/admin/mailing/campaign/")
    browser.driver.find_element(By.CSS_SELECTOR, f"input[name=_selected_action][value='{campaign.pk}']").click()
    Select(browser.driver.find_element(By.NAME, "action")).select_by_value("duplicate")
    browser.driver.find_element(By.NAME, "index").click()
    browser.wait(lambda d: "spring-copy" in d.find_element(By.TAG_NAME, "body").text)
    browser.shot("campaign-duplicated")
    copy = Campaign.objects.get(slug="spring-copy")
    # "(copy)" in the marketer's language (Russian from tr-i-c.po)
    assert copy.state == Campaign.State.DRAFT and copy.name.startswith("Spring sale (")
