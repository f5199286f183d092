"""A real headless Chromium (Debian's chromium and chromedriver, driven by Selenium) for the pages a
marketer clicks, with screenshots saved to var/screenshots/ to look at.

Use the `browser` fixture (it starts pytest-django's `live_server`): browser.login(user) signs in through the admin's own
login form; browser.open(path) loads a page; browser.shot(name) saves a PNG. The language is the
browser's (Accept-Language): `browser_ru` gives a Russian one.
"""

import os
import shutil
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "var" / "screenshots"
WIDTH, HEIGHT = 1440, 900


def chromium_missing():
    return not (shutil.which("chromium") and shutil.which("chromedriver"))


class Browser:
    def __init__(self, driver, base_url, lang):
        self.driver, self.base_url, self.lang = driver, base_url, lang

    def open(self, path):
        self.driver.get(self.base_url + path)
        return self

    def login(self, username, password):
        from selenium.webdriver.common.by import By

        self.open("/admin/login/")
        self.driver.find_element(By.NAME, "username").send_keys(username)
        self.driver.find_element(By.NAME, "password").send_keys(password)
        self.driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        self.wait(lambda driver: "/login/" not in driver.current_url)  # a click does not wait for the page
        return self

    def wait(self, condition, seconds=30):
        """Until condition(driver) is true; an element read while the page reloads counts as not yet."""
        from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, seconds, ignored_exceptions=(
            NoSuchElementException, StaleElementReferenceException)).until(condition)

    def text(self):
        return self.driver.find_element("tag name", "body").text

    def console_errors(self):
        """The browser console's errors since the last call (a blocked resource, a refused inline script or
        style, a script error): Chromium logs them at SEVERE."""
        return [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]

    def shot(self, name):
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}-{self.lang}.png"
        self.driver.save_screenshot(str(path))
        return path


def start(live_server, lang):
    if chromium_missing():
        if os.environ.get("CI") == "true":
            pytest.fail("chromium and chromedriver are required in CI (`make browser` installs them)")
        pytest.skip("needs Debian's chromium and chromium-driver (`make browser`)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={WIDTH},{HEIGHT}", f"--lang={lang}"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # for console_errors()
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    driver.set_page_load_timeout(60)
    return Browser(driver, live_server.url, lang)


def _live_server(request):
    # Asked for here, after the autouse fixtures turned the HTTPS redirect off: pytest-django's server
    # lives for the whole session and builds its middleware when it starts. Asked for this way, it
    # does not add its host to ALLOWED_HOSTS by itself.
    settings = request.getfixturevalue("settings")
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    return request.getfixturevalue("live_server")


@pytest.fixture
def browser(request, transactional_db):
    b = start(_live_server(request), "en")
    yield b
    b.driver.quit()


@pytest.fixture
def browser_ru(request, transactional_db):
    b = start(_live_server(request), "ru")
    yield b
    b.driver.quit()


@pytest.fixture
def marketer(transactional_db):
    """A superuser for the browser tests: (username, password)."""
    get_user_model().objects.create_superuser("boss", "boss@example.com", "a-long-test-password")
    return "boss", "a-long-test-password"
