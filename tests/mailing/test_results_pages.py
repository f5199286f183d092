"""The results page of a finished campaign with a holdout, in a real browser, in English and Russian:
the verdict on top, the payoff table, and the daily chart drawn (Chart.js from our own static files);
and the client page's list of emails."""

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.models import Client, Purchase
from mailing.models import Delivery

pytestmark = [pytest.mark.browser]



@pytest.fixture
def spring(make_campaign):
    """Like the demo's spring win-back: sent 40 days ago to 400 clients, 100 held out; the sent group
    buys more (25% against 10%), most of it in the first two days."""
    campaign = make_campaign(slug="spring-win-back", name="Spring win-back", holdout_percent=20,
                             state="done", cost_per_message=Decimal("0.50"), cost_per_campaign=Decimal("500"))
    version = campaign.template.current_version()
    sent_at = timezone.now() - dt.timedelta(days=40)
    people = Client.objects.bulk_create(Client(external_id=f"s{i}", email=f"s{i}@example.com", first_name="Ann")
                                        for i in range(500))
    rows, purchases, rng = [], [], random.Random(7)
    for i, client in enumerate(people):
        held = i >= 400
        rows.append(Delivery(campaign=campaign, client=client, email=client.email, template_version=version,
                             state=Delivery.State.SUPPRESSED if held else Delivery.State.SENT,
                             reason=Delivery.Reason.HOLDOUT if held else "", sent_at=None if held else sent_at,
                             subject="" if held else "We miss you, Ann",
                             opened_at=sent_at + dt.timedelta(hours=2) if not held and i % 3 == 0 else None))
        if rng.random() < (0.10 if held else 0.25):
            hours = rng.choice([3, 10, 20, 30, 40, 60, 90, 110])
            purchases.append(Purchase(external_id=f"p{i}", client=client, amount=Decimal(rng.choice([900, 1500, 2500])),
                                      purchased_at=sent_at + dt.timedelta(hours=hours),
                                      status=Purchase.Status.COMPLETED))
    Delivery.objects.bulk_create(rows)
    Delivery.objects.filter(campaign=campaign, reason=Delivery.Reason.HOLDOUT).update(created_at=sent_at)
    Purchase.objects.bulk_create(purchases)
    return campaign, people[0]


def chart_drawn(driver):
    return driver.execute_script(
        "var c = document.querySelector('canvas[data-chart]');"
        "return !!(c && window.Chart && Chart.getChart(c) && Chart.getChart(c).data.datasets.length === 2);")


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_results_page_says_whether_it_paid_and_draws_the_daily_chart(request, lang, marketer, spring):
    campaign, client = spring
    browser = request.getfixturevalue("browser" if lang == "en" else "browser_ru")
    browser.login(*marketer)

    browser.open(f"/admin/mailing/campaign/{campaign.pk}/results/")
    browser.wait(chart_drawn)
    browser.shot("campaign-results-payoff")
    text = browser.text()
    if lang == "en":
        assert "It paid:" in text and "incremental revenue" in text and "return on spend" in text
    else:
        assert "Контрольная группа" in text and "значимо" in text
    browser.driver.execute_script("document.getElementById('chart-daily').scrollIntoView()")
    browser.shot("campaign-results-chart")
    assert browser.driver.execute_script(
        "return document.querySelector('canvas[data-chart]').getBoundingClientRect().height") > 200

    browser.open(f"/admin/crm/client/{client.pk}/change/")
    browser.driver.execute_script("document.querySelector('.client-email').scrollIntoView()")
    browser.shot("client-emails")
    assert "Spring win-back" in browser.text() and "We miss you, Ann" in browser.text()
