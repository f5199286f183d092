"""The client page's recommendations and the recommender's page in a real browser, in English and
Russian: what a marketer reads, with no script or style refused by the Content Security Policy."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model

from crm.models import Client
from tests.recommendations.shop import catalogue, listed_client, night

pytestmark = [pytest.mark.browser]

WORDS = {
    "en": {"section": "Recommendations", "why": "bought with Notebook A5", "computed": "computed from orders until",
           "none": "No recommendations yet", "title": "The recommender", "shipped": "(shipped)",
           "warning": "One product dominates: Gel pen is recommended to 46.0 % of clients.", "top": "46.0 %"},
    "ru": {"section": "Рекомендации", "why": "покупают вместе с Notebook A5", "computed": "рассчитано по заказам до",
           "none": "Рекомендаций пока нет", "title": "Рекомендательная система", "shipped": "(в работе)",
           "warning": "Один товар преобладает: Gel pen рекомендуется 46,0 % клиентов.", "top": "46,0 %"},
}


def refused(browser):
    """What the Content Security Policy refused (the favicon's 404 is not ours to care about here)."""
    return [e for e in browser.console_errors() if "Content Security Policy" in e or "Refused to" in e]


@pytest.fixture
def shop(transactional_db):
    get_user_model().objects.create_superuser("boss", "boss@example.com", "a-long-test-password")
    catalogue()
    night(as_of=dt.date(2026, 11, 29), top=[("COF-3", 0.21)])
    night()
    return listed_client(), Client.objects.create(external_id="newcomer")


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_client_page_shows_the_recommendations_with_their_reasons(request, lang, shop):
    browser = request.getfixturevalue("browser" if lang == "en" else "browser_ru")
    words = WORDS[lang]
    listed, newcomer = shop
    browser.login("boss", "a-long-test-password")
    browser.open(f"/admin/crm/client/{listed.pk}/change/")
    browser.driver.execute_script("document.querySelector('.client-recommendation').scrollIntoView()")
    browser.shot("client-recommendations")
    text = browser.text()
    assert words["section"] in text and words["why"] in text and words["computed"] in text
    assert "Gel pen" in text and "Enamel mug" not in text
    browser.open(f"/admin/crm/client/{newcomer.pk}/change/")
    assert words["none"] in browser.text()
    assert refused(browser) == []


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_recommenders_page_shows_the_back_test_and_the_warning(request, lang, shop):
    browser = request.getfixturevalue("browser" if lang == "en" else "browser_ru")
    words = WORDS[lang]
    browser.login("boss", "a-long-test-password")
    browser.open("/admin/recommendations/recommendation/")
    browser.shot("recommender")
    text = browser.text()
    assert words["title"] in text and words["warning"] in text and words["shipped"] in text
    assert "2026-11-30" in text and "2026-11-29" in text and words["top"] in text
    browser.open("/admin/")
    assert words["section"] in browser.text()
    assert refused(browser) == []


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_products_list_edits_the_flags_in_place(request, lang, shop):
    from crm.models import Product

    browser = request.getfixturevalue("browser" if lang == "en" else "browser_ru")
    browser.login("boss", "a-long-test-password")
    browser.open("/admin/crm/product/")
    browser.shot("products")
    text = browser.text()
    action = {"en": "Never recommend the selected products", "ru": "Никогда не рекомендовать выбранные товары"}
    assert "GIFT-5" in text and action[lang] in browser.driver.page_source
    row = Product.objects.get(sku="PEN-2").pk
    browser.driver.find_element("xpath", "//tr[.//a[text()='PEN-2']]//input[contains(@name, '-in_stock')]").click()
    browser.driver.find_element("css selector", "input[name='_save']").click()
    browser.wait(lambda driver: not Product.objects.get(pk=row).in_stock)
    assert refused(browser) == []
