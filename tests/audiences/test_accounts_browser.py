"""A connected account in a real browser, in English and Russian: typed in, shown masked, tested; then
a sync's outcome in the list of API syncs. No resource or inline script refused by the CSP."""

import datetime as dt

import pytest
from selenium.webdriver.common.by import By

from audiences import push as pushing
from audiences.models import AudienceSync, ConnectedAccount
from crm.models import Client
from segments.models import Segment, SegmentMembership

pytestmark = [pytest.mark.browser]

TEXTS = {"en": ("the connection works", "succeeded"), "ru": ("подключение работает", "успешно")}


@pytest.fixture(params=["browser", "browser_ru"])
def any_browser(request):
    return request.getfixturevalue(request.param)


def test_an_account_is_typed_in_shown_masked_and_tested(any_browser, marketer, credentials_key, fake_meta, waits):
    works, _ = TEXTS[any_browser.lang]
    any_browser.login(*marketer)
    any_browser.open("/admin/audiences/connectedaccount/add/")
    driver = any_browser.driver
    driver.find_element(By.NAME, "platform").send_keys("Meta")
    driver.find_element(By.NAME, "name").send_keys("Shop ads")
    driver.find_element(By.NAME, "account_id").send_keys("act_1001")
    driver.find_element(By.NAME, "access_token").send_keys(fake_meta.token + "-0042")
    fake_meta.token += "-0042"
    driver.find_element(By.NAME, "_continue").click()
    any_browser.wait(lambda d: d.find_elements(By.ID, "test-connection"))
    assert fake_meta.token not in driver.page_source and "••••0042" in any_browser.text()

    driver.find_element(By.ID, "test-connection").click()
    any_browser.wait(lambda d: works in d.find_element(By.CSS_SELECTOR, "ul.messagelist").text)
    any_browser.shot("audiences-connected-account")
    assert [r.method for r in fake_meta.requests] == ["GET", "GET"]
    assert not [e for e in any_browser.console_errors() if "Content Security Policy" in e or "Refused to" in e]


def test_the_outcome_of_an_api_sync_is_listed(any_browser, marketer, credentials_key, fake_meta, waits):
    _, succeeded = TEXTS[any_browser.lang]
    segment = Segment.objects.create(slug="vip", name="VIP", kind=Segment.Kind.RULE)
    client = Client.objects.create(external_id="c1", email="c1@example.com", ads_consent=True)
    SegmentMembership.objects.create(segment=segment, client=client, entered_at=dt.date(2026, 6, 1))
    account = ConnectedAccount(platform="meta", name="Shop ads", account_id="act_1001")
    account.set_credentials({"access_token": fake_meta.token})
    account.save()
    pushing.sync_via_api(AudienceSync.objects.create(segment=segment, platform="meta", account=account))

    any_browser.login(*marketer)
    any_browser.open("/admin/audiences/audiencepush/")

    row = any_browser.driver.find_element(By.CSS_SELECTOR, "#result_list tbody tr").text
    assert "vip" in row and "Shop ads" in row and succeeded in row
    any_browser.shot("audiences-api-syncs")
