"""Did the campaign pay? Incremental conversions and revenue against the holdout, cost and return on
spend, the verdict in words, the daily chart and its CSV, and the client page's emails.

Small shops whose answers are worked out by hand (or by scipy's own Welch test, an independent oracle).
"""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from scipy import stats

from mailing.admin_results import verdict
from mailing.models import CampaignVariant, Delivery
from mailing.results import campaign_results
from tests.mailing.test_results import DAY, HOLDOUT, SUPPRESSED, T, buy, clients, deliver

LATER = T + 30 * DAY  # every 5-day window closed
HOUR = dt.timedelta(hours=1)


def shop(campaign, sent, sent_buyers, held, held_buyers, amount="100.00", variant=None):
    """`sent` clients sent at T of whom `sent_buyers` spend `amount` a day later; the same for the holdout."""
    for i, client in enumerate(clients(sent)):
        deliver(campaign, client, variant=variant)
        if i < sent_buyers:
            buy(client, T + DAY, amount)
    for i, client in enumerate(clients(held)):
        deliver(campaign, client, state=SUPPRESSED, reason=HOLDOUT)
        if i < held_buyers:
            buy(client, T + DAY, amount)


def welch(n1, buyers1, n2, buyers2, amount=100.0):
    """scipy's Welch interval for the difference in revenue per recipient."""
    a = [amount] * buyers1 + [0.0] * (n1 - buyers1)
    b = [amount] * buyers2 + [0.0] * (n2 - buyers2)
    return stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)


@pytest.fixture
def campaign(make_campaign):
    return make_campaign(slug="win-back", name="Win back", holdout_percent=30)


@pytest.fixture
def small(campaign):
    """10 sent, 4 bought (40%, 40 per recipient); 10 held out, 1 bought (10%, 10 per client)."""
    shop(campaign, 10, 4, 10, 1)
    return campaign


@pytest.fixture
def large(campaign):
    """200 sent, 80 bought; 100 held out, 10 bought: the same rates, now clearly apart."""
    shop(campaign, 200, 80, 100, 10)
    return campaign


def test_incremental_conversions_and_revenue_in_a_small_shop(small):
    payoff = campaign_results(small, now=LATER).payoff

    # Conversion: 0.4 − 0.1 = 0.3, SE = sqrt(0.4·0.6/10 + 0.1·0.9/10) = 0.181659, half width 0.356048;
    # times 10 recipients: 3 more buyers (−0.56 … 6.56).
    assert (payoff.conversions.estimate, payoff.conversions.low, payoff.conversions.high) == pytest.approx(
        (3.0, 3.0 - 3.56048, 3.0 + 3.56048), abs=1e-4)
    assert not payoff.conversions.excludes_zero
    # Revenue per recipient 40 against 10: 30 more each, 300 in all, with scipy's Welch interval times 10.
    low, high = welch(10, 4, 10, 1)
    assert (payoff.revenue.estimate, payoff.revenue.low, payoff.revenue.high) == pytest.approx(
        (300.0, 10 * low, 10 * high))
    assert not payoff.revenue.excludes_zero
    assert payoff.revenue_per_recipient == 40
    assert payoff.cost is None and payoff.return_on_spend is None


def test_with_a_cost_the_return_on_spend_follows_the_incremental_revenue(large):
    large.cost_per_message, large.cost_per_campaign = 1, 1000
    large.save()

    payoff = campaign_results(large, now=LATER).payoff

    # 30 more per recipient on 200 recipients: 6,000; cost 200 messages × 1 + 1,000 = 1,200.
    low, high = welch(200, 80, 100, 10)
    assert payoff.revenue.estimate == pytest.approx(6000) and payoff.revenue.low == pytest.approx(200 * low)
    assert payoff.cost == 1200 and payoff.messages == 200
    roi = payoff.return_on_spend
    assert roi.estimate == pytest.approx(4.0)  # (6,000 − 1,200) / 1,200
    assert (roi.low, roi.high) == pytest.approx(((200 * low - 1200) / 1200, (200 * high - 1200) / 1200))
    assert payoff.conversions.excludes_zero and payoff.revenue.excludes_zero and roi.excludes_zero


def test_messages_of_unknown_outcome_count_in_the_cost(large):
    for client in clients(5):
        deliver(large, client, state=Delivery.State.UNKNOWN)
    large.cost_per_message = Decimal("0.50")
    large.save()

    payoff = campaign_results(large, now=LATER).payoff

    assert payoff.messages == 205 and payoff.cost == pytest.approx(102.5)


def test_the_verdict_says_it_paid_when_the_interval_says_so(large, settings):
    settings.CRM_CURRENCY = "USD"
    large.cost_per_campaign = 1200
    large.save()

    lines = verdict(campaign_results(large, now=LATER))

    assert lines[0].startswith("It paid: +$6,000 incremental revenue (+$")
    assert lines[0].endswith("return 4.0× on $1,200 spent.")
    assert len(lines) == 1  # every window closed: nothing provisional


def test_the_verdict_says_when_the_difference_could_be_chance(small):
    lines = verdict(campaign_results(small, now=T + 2 * DAY))

    assert lines[0].startswith("Not shown to pay yet: the difference could be chance (incremental revenue +RUB\xa0300.00, "
                               "somewhere from -RUB\xa0108.34 … +RUB\xa0708.34).")
    assert lines[-1].startswith("Provisional:")
    assert not any("It paid" in line for line in lines)


def test_the_verdict_without_a_cost_says_none_was_entered(large):
    assert "No cost entered" in verdict(campaign_results(large, now=LATER))[0]


def test_the_verdict_when_revenue_clearly_does_not_cover_the_cost(large):
    large.cost_per_campaign = 100_000
    large.save()

    line = verdict(campaign_results(large, now=LATER))[0]

    assert line.startswith("It brought +") and "less than the" in line and "-0.9×" in line


def test_the_verdict_without_a_holdout(campaign):
    shop(campaign, 5, 1, 0, 0)

    results = campaign_results(campaign, now=LATER)

    assert results.payoffs == []
    assert verdict(results) == ["Whether it paid cannot be measured: the campaign has no holdout group."]


def test_each_variant_gets_its_payoff_and_its_share_of_the_fixed_cost(campaign):
    a = CampaignVariant.objects.create(campaign=campaign, name="A", weight=50)
    b = CampaignVariant.objects.create(campaign=campaign, name="B", weight=50)
    for i, client in enumerate(clients(30)):
        deliver(campaign, client, variant=a)
        if i < 15:
            buy(client, T + DAY, "100.00")
    for client in clients(10):
        deliver(campaign, client, variant=b)
    for client in clients(20):
        deliver(campaign, client, state=SUPPRESSED, reason=HOLDOUT)
    campaign.cost_per_message, campaign.cost_per_campaign = 1, 400
    campaign.save()

    payoffs = campaign_results(campaign, now=LATER).payoffs

    assert [p.group.label for p in payoffs] == ["Sent group (all variants)", "Variant A", "Variant B"]
    # A: 30 messages and 3/4 of the 400; B: 10 and 1/4.
    assert [p.cost for p in payoffs] == [440, 330, 110]
    assert payoffs[1].conversions.estimate == pytest.approx(15)  # 50% − 0% of 30
    assert payoffs[2].conversions.estimate == 0 and payoffs[2].revenue.estimate == 0


def test_the_daily_chart_counts_each_clients_first_conversion_against_who_has_reached_that_day(campaign):
    c1, c2, c3, late = clients(4)
    h1, h2 = clients(2)
    for client in (c1, c2, c3):
        deliver(campaign, client)
    deliver(campaign, late, sent_at=T + DAY)  # a second occurrence, a day later
    for client in (h1, h2):
        deliver(campaign, client, state=SUPPRESSED, reason=HOLDOUT)
    buy(c1, T + HOUR, "10.00")  # day 1
    buy(c1, T + 2 * DAY + HOUR, "10.00")  # day 3 again: not a first conversion
    buy(c2, T + DAY + HOUR, "10.00")  # day 2
    buy(h1, T + 2 * DAY + HOUR, "10.00")  # day 3
    buy(late, T + DAY + 2 * HOUR, "10.00")  # its own day 1

    daily = campaign_results(campaign, now=T + 2 * DAY + 12 * HOUR).daily

    # Three days begun for the first sends, two for the late one.
    assert [(d.day, d.sent_conversions, d.sent_reached, d.holdout_conversions, d.holdout_reached) for d in daily] == [
        (1, 2, 4, 0, 2), (2, 1, 4, 0, 2), (3, 0, 3, 1, 2)]
    assert daily[0].sent_rate == 0.5 and daily[2].holdout_rate == 0.5

    closed = campaign_results(campaign, now=LATER).daily
    assert [(d.day, d.sent_conversions, d.sent_reached, d.holdout_conversions, d.holdout_reached) for d in closed] == [
        (1, 2, 4, 0, 2), (2, 1, 4, 0, 2), (3, 0, 4, 1, 2), (4, 0, 4, 0, 2), (5, 0, 4, 0, 2)]


def test_the_daily_csv_gives_the_charts_numbers(admin_client, small):
    response = admin_client.get(reverse("admin:mailing_campaign_results_daily", args=[small.pk]))

    assert response["Content-Type"].startswith("text/csv")
    assert "win-back-daily-conversions.csv" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][0] == "day" and rows[0][3] == "sent group: conversion rate, %"
    assert rows[2] == ["2", "4", "10", "40.0", "1", "10", "10.0"]  # the purchases came a day after sending
    assert [row[1] for row in rows[1:]] == ["0", "4", "0", "0", "0"]
    assert len(rows) == 1 + 5


def test_the_results_page_labels_every_figure_and_says_when_no_cost_is_entered(admin_client, small):
    page = admin_client.get(reverse("admin:mailing_campaign_results", args=[small.pk])).content.decode()

    assert "Not shown to pay yet" in page
    assert "incremental conversions" in page and "incremental revenue" in page
    assert page.count("— not significant") >= 4  # conversions and revenue in the payoff table and uplift table
    assert "no cost entered" in page
    assert 'data-chart="chart-data-daily"' in page and 'id="chart-data-daily"' in page
    assert "chart.umd.min.js" in page and "https://" not in page.split("<body")[0]


def test_the_results_page_shows_the_return_on_spend(admin_client, large):
    large.cost_per_message = 2
    large.save()

    page = admin_client.get(reverse("admin:mailing_campaign_results", args=[large.pk])).content.decode()

    assert "It paid:" in page and "return 14.0× on RUB\xa0400.00 spent" in page  # (6,000 − 400) / 400
    assert "no cost entered" not in page


def test_the_client_page_lists_the_emails_the_client_got(admin_client, campaign, make_campaign):
    other = make_campaign(slug="spring", name="Spring sale")
    client = clients(1)[0]
    deliver(campaign, client, subject="We miss you", opened_at=T + HOUR, clicked_at=T + 2 * HOUR)
    deliver(other, client, state=Delivery.State.UNKNOWN, sent_at=None, subject="Spring is here")
    deliver(other, client, occurrence="second", state=SUPPRESSED, reason=HOLDOUT)

    page = admin_client.get(reverse("admin:crm_client_change", args=[client.pk])).content.decode()

    assert page.count("class='client-email'") == 3
    assert "Win back" in page and "Spring sale" in page
    assert "We miss you" in page and "Spring is here" in page
    assert "outcome unknown" in page and "suppressed: holdout group" in page
    assert reverse("admin:mailing_campaign_change", args=[campaign.pk]) in page
    assert reverse("admin:mailing_delivery_changelist") + f"?client__id__exact={client.pk}" in page


def test_a_client_without_emails_says_so(admin_client):
    client = clients(1)[0]

    page = admin_client.get(reverse("admin:crm_client_change", args=[client.pk])).content.decode()

    assert "No email campaign has reached this client yet." in page


def test_the_cost_fields_are_on_the_campaign_form_and_refuse_negative_amounts(admin_client, campaign):
    page = admin_client.get(reverse("admin:mailing_campaign_change", args=[campaign.pk])).content.decode()
    assert 'name="cost_per_message"' in page and 'name="cost_per_campaign"' in page
    campaign.cost_per_message = -1
    with pytest.raises(Exception, match="greater than or equal to 0"):
        campaign.full_clean()
