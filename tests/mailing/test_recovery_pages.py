"""What the admin shows after an interruption, in a real browser, in English and Russian: a campaign
that waits for a worker says so in its list, and the results page counts "outcome unknown" apart."""

import datetime as dt

import pytest
from django.utils import timezone

from mailing.models import Campaign, Delivery
from mailing.repair import repair_stuck_deliveries

pytestmark = [pytest.mark.browser]



@pytest.fixture
def campaigns(make_client, make_campaign, segment):
    """"Waiting sale": sending, its deliveries pending and no task on them (its queue was lost).
    "Cut short": its worker died with every row in hand, so repair closed them as outcome unknown."""
    clients = [make_client([segment]) for _ in range(4)]
    made = []
    for slug, name in (("waiting", "Waiting sale"), ("cut-short", "Cut short")):
        campaign = make_campaign(slug=slug, name=name, state=Campaign.State.SENDING)
        version = campaign.template.current_version()
        Delivery.objects.bulk_create(Delivery(campaign=campaign, client=c, email=c.email, template_version=version)
                                     for c in clients)
        made.append(campaign)
    claimed = timezone.now() - dt.timedelta(minutes=2)
    Delivery.objects.filter(campaign=made[1]).update(state=Delivery.State.SENDING, claim_token="dead",
                                                     claimed_at=claimed, lease_until=claimed + dt.timedelta(seconds=30))
    repair_stuck_deliveries(queue_empty=False)
    return made


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_admin_shows_a_waiting_campaign_and_unknown_outcomes(request, lang, marketer, campaigns):
    waiting, cut = campaigns
    browser = request.getfixturevalue("browser" if lang == "en" else "browser_ru")
    browser.login(*marketer)

    browser.open("/admin/mailing/campaign/")
    browser.shot("campaign-list-waiting")
    expected = {"en": "waiting for a worker", "ru": "ждёт обработчика"}[lang]
    assert expected in browser.text()

    browser.open(f"/admin/mailing/campaign/{cut.pk}/results/")
    browser.shot("campaign-results-unknown")
    header = {"en": "outcome unknown", "ru": "исход неизвестен"}[lang]
    assert header in browser.text().lower()
