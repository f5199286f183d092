"""Campaign results: counts, conversions in the attribution window, holdout uplift, A/B, the admin page.

Delivery rows are written directly, in the states sending and tracking leave them: the results
depend only on those rows and on the purchases.
"""

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from crm.models import Client, Purchase
from mailing import uplift
from mailing.models import CampaignVariant, Delivery
from mailing.results import campaign_results

T = dt.datetime(2026, 11, 10, 10, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
SENT, SUPPRESSED, FAILED = Delivery.State.SENT, Delivery.State.SUPPRESSED, Delivery.State.FAILED
HOLDOUT = Delivery.Reason.HOLDOUT

_ids = itertools.count(1)


def clients(n):
    start = next(_ids) * 100_000
    return Client.objects.bulk_create([Client(external_id=f"r{start + i}", email=f"r{start + i}@example.com")
                                       for i in range(n)])


def deliver(campaign, client, state=SENT, reason="", sent_at=T, created_at=T, **fields):
    delivery = Delivery.objects.create(campaign=campaign, client=client, state=state, reason=reason,
                                       sent_at=sent_at if state == SENT else None, email=client.email, **fields)
    Delivery.objects.filter(pk=delivery.pk).update(created_at=created_at)  # auto_now_add: set afterwards
    return delivery


def buy(client, at, amount, status=Purchase.Status.COMPLETED):
    return Purchase.objects.create(external_id=f"o{next(_ids)}", client=client, purchased_at=at,
                                   amount=Decimal(amount), status=status)


@pytest.fixture
def campaign(make_campaign):
    return make_campaign(slug="win-back", name="Win back", holdout_percent=30)


@pytest.fixture
def scenario(campaign):
    c1, c2, c3, c4, c5, c6, h1, h2, h3 = clients(9)
    deliver(campaign, c1)
    buy(c1, T + DAY, "100.00")
    buy(c1, T + 2 * DAY, "50.00")
    buy(c1, T + 6 * DAY, "999.00")  # after the 5-day window
    buy(c1, T - dt.timedelta(hours=1), "777.00")  # before the message
    deliver(campaign, c2)
    buy(c2, T + DAY, "500.00", status=Purchase.Status.REFUNDED)
    deliver(campaign, c3, delivered_at=T + dt.timedelta(minutes=1), clicked_at=T + dt.timedelta(hours=2))
    deliver(campaign, c4, bounced_at=T + dt.timedelta(minutes=1), unsubscribed_at=T + DAY)
    deliver(campaign, c5, state=FAILED, reason=Delivery.Reason.REJECTED)
    buy(c5, T + DAY, "40.00")  # never sent: not a conversion of the sent group
    deliver(campaign, c6, state=SUPPRESSED, reason=Delivery.Reason.NO_CONSENT)
    deliver(campaign, h1, state=SUPPRESSED, reason=HOLDOUT)
    buy(h1, T + 3 * DAY, "80.00")
    deliver(campaign, h3, state=SUPPRESSED, reason=HOLDOUT)
    # A second occurrence, launched at night in quiet hours: its first message went out 10 hours
    # later, which is when the held-out client would have been sent, so their window opens then.
    s7 = clients(1)[0]
    deliver(campaign, s7, occurrence="night", sent_at=T + dt.timedelta(hours=10))
    deliver(campaign, h2, occurrence="night", state=SUPPRESSED, reason=HOLDOUT)
    buy(h2, T + dt.timedelta(hours=5), "300.00")  # before the occurrence's first send
    buy(h2, T + 5 * DAY + dt.timedelta(hours=8), "20.00")  # within 5 days of it
    return campaign


def test_it_counts_each_group_and_the_conversions_in_the_attribution_window(scenario):
    results = campaign_results(scenario, now=T + 30 * DAY)

    sent, holdout, everyone = results.sent_group, results.holdout, results.total
    assert (sent.audience, sent.sent, sent.delivered, sent.opened, sent.clicked, sent.bounced, sent.unsubscribed) == (
        7, 5, 1, 1, 1, 1, 1)
    assert (sent.measured, sent.conversions, sent.revenue) == (5, 1, Decimal("150.00"))
    assert (holdout.audience, holdout.sent, holdout.measured, holdout.conversions, holdout.revenue) == (
        3, 0, 3, 2, Decimal("100.00"))
    assert (everyone.audience, everyone.conversions, everyone.open_windows) == (10, 3, 0)
    assert sent.open_rate == sent.click_rate == sent.conversion_rate == 0.2
    assert holdout.conversion_rate == pytest.approx(2 / 3) and holdout.revenue_per_client == pytest.approx(
        Decimal("33.333"), abs=Decimal("0.001"))
    assert results.conversion_uplift == uplift.proportion_difference(1, 5, 2, 3)
    # Revenue per client: sent [150, 0, 0, 0, 0], holdout [80, 20, 0].
    assert results.revenue_uplift == uplift.mean_difference(5, 150.0, 22_500.0, 3, 100.0, 6_800.0)
    assert results.revenue_uplift.estimate == pytest.approx(30 - 100 / 3)
    assert results.variants == [] and results.ab == {}


def test_results_stay_provisional_while_windows_are_open(scenario):
    results = campaign_results(scenario, now=T + 3 * DAY)

    assert results.total.open_windows == 8  # 5 sent and 3 held out, all within 5 days


def test_the_attribution_window_is_a_setting(scenario, settings):
    settings.CRM_ATTRIBUTION_DAYS = 7

    results = campaign_results(scenario, now=T + 30 * DAY)

    assert results.attribution_days == 7
    assert results.sent_group.revenue == Decimal("1149.00")  # the purchase 6 days after the message now counts


def test_it_names_the_winning_variant_and_whether_it_is_significant(campaign, django_assert_max_num_queries):
    a = CampaignVariant.objects.create(campaign=campaign, name="A", subject="Come back", weight=50)
    b = CampaignVariant.objects.create(campaign=campaign, name="B", subject="We miss you", weight=50)
    people = clients(400)
    rows = []
    for i, client in enumerate(people):
        variant = a if i < 200 else b
        k = i % 200
        opened = k < (100 if variant is a else 50)
        rows.append(Delivery(campaign=campaign, client=client, state=SENT, sent_at=T, variant=variant,
                             email=client.email, opened_at=T + DAY if opened else None))
        if k < (30 if variant is a else 20):
            buy(client, T + DAY, "10.00")
    Delivery.objects.bulk_create(rows)

    # Set-based: variant names, then one aggregate (inside a savepoint, with jit off on PostgreSQL),
    # for 400 rows or 400,000.
    with django_assert_max_num_queries(6):
        results = campaign_results(campaign, now=T + 30 * DAY)

    assert [(g.name, g.sent, g.conversions, g.opened) for g in results.variants] == [
        ("A", 200, 30, 100), ("B", 200, 20, 50)]
    conversion, opens = results.ab["conversion"], results.ab["open"]
    assert (conversion.winner, conversion.runner_up) == ("A", "B")
    assert conversion.test.p_value == pytest.approx(0.13057, abs=1e-5) and not conversion.significant
    assert opens.winner == "A" and opens.significant  # 50% against 25%
    assert results.holdout.measured == 0 and results.conversion_uplift is None


def test_the_admin_shows_the_results_with_their_definitions(admin_client, scenario):
    url = reverse("admin:mailing_campaign_results", args=[scenario.pk])

    page = admin_client.get(url).content.decode()

    assert "Results: Win back" in page
    assert "Holdout" in page and "Sent group" in page and "150.00" in page
    assert "Definitions" in page and "the 5 days after the message was sent" in page
    assert "Welch" in page and "z-test" in page
    assert 'class="uplift-conversion' in page
    assert url in admin_client.get(reverse("admin:mailing_campaign_change", args=[scenario.pk])).content.decode()
    assert url in admin_client.get(reverse("admin:mailing_campaign_changelist")).content.decode()


def test_the_admin_shows_the_ab_verdict(admin_client, campaign):
    a = CampaignVariant.objects.create(campaign=campaign, name="A", weight=50)
    b = CampaignVariant.objects.create(campaign=campaign, name="B", weight=50)
    for client, variant, opened in [(c, a, True) for c in clients(30)] + [(c, b, False) for c in clients(30)]:
        deliver(campaign, client, variant=variant, opened_at=T if opened else None)

    page = admin_client.get(reverse("admin:mailing_campaign_results", args=[campaign.pk])).content.decode()

    assert "Variant A" in page and "Variant B" in page
    assert "A wins (p &lt; 0.05)" in page


def test_results_need_the_view_permission(client, django_user_model, campaign):
    url = reverse("admin:mailing_campaign_results", args=[campaign.pk])
    user = django_user_model.objects.create_user("analyst", password="pw", is_staff=True)
    client.force_login(user)

    assert client.get(url).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    assert client.get(url).status_code == 200
    assert client.get(reverse("admin:mailing_campaign_results", args=[campaign.pk + 1000])).status_code == 404
