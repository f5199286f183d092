"""The account pages and the Content Security Policy in a real browser, in English and Russian: sign-in,
lock-out, two-factor enrolment and verification; no page of ours, Django's admin or the API docs has a
resource or an inline script refused; an email template's <script> does not run in the preview."""

import pytest
from django.contrib.auth import get_user_model
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from selenium.webdriver.common.by import By

from crm.accounts import two_factor
from mailing.models import EmailTemplate

pytestmark = [pytest.mark.browser]
PASSWORD = "a-long-test-password"


@pytest.fixture(params=["browser", "browser_ru"])
def any_browser(request):
    return request.getfixturevalue(request.param)


@pytest.fixture
def boss(transactional_db):
    return get_user_model().objects.create_superuser("boss", "boss@example.com", PASSWORD)


def fill(browser, code):
    field = browser.driver.find_element(By.NAME, "code")
    field.clear()
    field.send_keys(code)
    field.submit()


def refused(browser):
    """What the console says the Content Security Policy refused (a script, a style, an image, a frame)."""
    return [e for e in browser.console_errors() if "Content Security Policy" in e or "Refused to" in e]


def code_of(device):
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def test_the_sign_in_and_lock_out_pages(any_browser, boss, settings):
    settings.CRM_LOGIN_FAILURE_LIMIT = settings.AXES_FAILURE_LIMIT = 3
    any_browser.open("/admin/login/")
    any_browser.shot("accounts-login")
    for _ in range(3):
        any_browser.open("/admin/login/")
        any_browser.driver.find_element(By.NAME, "username").send_keys("boss")
        any_browser.driver.find_element(By.NAME, "password").send_keys("wrong")
        any_browser.driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        any_browser.wait(lambda driver: driver.find_elements(By.CSS_SELECTOR, ".errornote"))
    assert any_browser.driver.find_elements(By.ID, "locked-out")
    any_browser.shot("accounts-locked-out")
    assert not refused(any_browser)


def test_enrolment_and_verification_pages(any_browser, boss, settings):
    settings.CRM_TWO_FACTOR_REQUIRED = True
    any_browser.login("boss", PASSWORD)
    any_browser.wait(lambda driver: "/two-factor/" in driver.current_url)
    assert any_browser.driver.find_elements(By.CSS_SELECTOR, ".accounts-qr svg")
    any_browser.shot("accounts-enrol")
    device = TOTPDevice.objects.get(user=boss, confirmed=False)
    fill(any_browser, code_of(device))
    any_browser.wait(lambda driver: driver.find_elements(By.ID, "recovery-codes"))
    any_browser.shot("accounts-recovery-codes")
    assert not refused(any_browser)

    any_browser.driver.delete_all_cookies()
    any_browser.login("boss", PASSWORD)
    any_browser.wait(lambda driver: "/two-factor/verify/" in driver.current_url)
    any_browser.shot("accounts-verify")
    for item in two_factor.devices(boss):
        item.throttle_reset()
    TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1)  # the enrolment's code may still be the current one
    device.refresh_from_db()
    any_browser.open("/admin/two-factor/verify/")
    fill(any_browser, code_of(device))
    any_browser.wait(lambda driver: "/two-factor/" not in driver.current_url)
    assert any_browser.driver.find_elements(By.ID, "site-name")
    assert not refused(any_browser)


# /admin/crm/client/add/ is left out: it fails (500) before this work, in loyalty/admin.py on an unsaved client.
PAGES = ["/admin/", "/admin/crm/client/", "/admin/auth/user/", "/admin/auth/user/add/",
         "/admin/axes/accessattempt/", "/admin/crm/auditlog/", "/admin/mailing/campaign/",
         "/admin/mailing/emailtemplate/add/", "/admin/segments/segment/add/", "/admin/segments/scoringrun/",
         "/admin/segments/scoringrun/dashboard/", "/admin/analytics/dashboard/", "/admin/two-factor/",
         "/admin/loyalty/tier/", "/api/docs/", "/u/not-a-real-token/"]


def test_the_pages_work_under_the_policy_with_nothing_refused(browser, boss):
    browser.login("boss", PASSWORD)
    blocked = {}
    for path in PAGES:
        browser.open(path)
        browser.wait(lambda driver: driver.execute_script("return document.readyState") == "complete")
        errors = refused(browser)
        if errors:
            blocked[path] = errors
    assert blocked == {}
    browser.open("/api/docs/")
    browser.wait(lambda driver: driver.find_elements(By.CSS_SELECTOR, ".swagger-ui .info"))  # its script ran


def test_a_script_in_a_template_does_not_run_in_the_preview(browser, boss):
    template = EmailTemplate.objects.create(
        name="Sneaky", subject="Hello",
        html_body='<p id="greeting">Hello there</p>'
                  '<script>document.body.insertAdjacentHTML("beforeend", "<p id=ran>ran</p>");'
                  'try { parent.document.body.setAttribute("data-ran", "1"); } catch (e) {}</script>')
    browser.login("boss", PASSWORD)
    browser.open(f"/admin/mailing/emailtemplate/{template.pk}/preview/?client=")
    frame = browser.wait(lambda driver: driver.find_element(By.CSS_SELECTOR, ".preview iframe"))
    browser.shot("accounts-preview-sandbox")
    assert browser.driver.find_element(By.TAG_NAME, "body").get_attribute("data-ran") is None
    browser.driver.switch_to.frame(frame)
    assert browser.driver.find_element(By.ID, "greeting").text == "Hello there"
    assert browser.driver.find_elements(By.ID, "ran") == []
    browser.driver.switch_to.default_content()
