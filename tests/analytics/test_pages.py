import re

import pytest
from django.urls import reverse

from analytics.precompute import build_snapshot
from crm.models import Client
from segments.models import Segment, SegmentMembership

PAGES = ["analytics_dashboard_changelist", "analytics_retention", "analytics_ltv", "analytics_engagement", "analytics_surveys",
         "analytics_campaigns"]


@pytest.mark.parametrize("name", PAGES)
def test_it_shows_each_page_to_staff_with_the_permission(client, small_shop, analyst, name):
    client.force_login(analyst)
    response = client.get(reverse(f"admin:{name}"), {"from": "2026-01", "to": "2026-03"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "analytics/vendor/chart.umd.min.js" in html  # our own copy, no CDN
    # Nothing loaded from another host (a bare "cdn" search also matched a random CSRF token once).
    assert not re.search(r'<(?:script|link|img)\b[^>]*(?:src|href)="(?:https?:)?//', html)
    assert "/csv/" in html  # every chart has its download


@pytest.mark.parametrize("name", PAGES)
def test_it_refuses_staff_without_the_permission(client, small_shop, staff_without_permission, name):
    client.force_login(staff_without_permission)
    assert client.get(reverse(f"admin:{name}")).status_code == 403


def test_it_sends_people_who_are_not_logged_in_to_the_login_page(client, small_shop):
    response = client.get(reverse("admin:analytics_dashboard_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_it_refuses_the_csv_without_the_permission(client, small_shop, staff_without_permission):
    client.force_login(staff_without_permission)
    assert client.get(reverse("admin:analytics_csv", args=["revenue"])).status_code == 403


def test_it_shows_the_numbers_of_the_overview(client, small_shop, analyst):
    client.force_login(analyst)
    html = client.get(reverse("admin:analytics_dashboard_changelist"), {"from": "2026-01", "to": "2026-03"}) \
        .content.decode()
    assert "RUB\xa0540.00" in html  # revenue of the period
    assert "RUB\xa0135.00" in html  # ARPU
    assert "ARPPU = revenue in the period / paying clients." in html  # definitions on the page


def test_it_says_when_there_is_nothing_to_show_yet(client, db, analyst):
    client.force_login(analyst)
    response = client.get(reverse("admin:analytics_ltv"))
    assert response.status_code == 200
    assert "No dashboard data yet" in response.content.decode()


def test_it_downloads_a_chart_as_csv(client, small_shop, analyst):
    client.force_login(analyst)
    response = client.get(reverse("admin:analytics_csv", args=["revenue"]), {"from": "2026-01", "to": "2026-03"})
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="revenue-2026-01-2026-03.csv"' in response["Content-Disposition"]
    assert response.content.decode().splitlines() == [
        'month,"revenue, RUB",orders', "2026-01,150.0,2", "2026-02,200.0,1", "2026-03,190.0,2"]


def test_it_downloads_retention_and_cac_with_their_units(client, small_shop, analyst):
    client.force_login(analyst)
    retention = client.get(reverse("admin:analytics_csv", args=["retention"]), {"from": "2026-02", "to": "2026-02"})
    assert retention.content.decode().splitlines() == [
        'month,clients at start,clients at end,new,returning,retained,"retention rate, %","churn rate, %"',
        "2026-02,2,2,1,0,1,50.0,50.0"]
    cac = client.get(reverse("admin:analytics_csv", args=["cac"]), {"from": "2026-01", "to": "2026-03"})
    lines = cac.content.decode().splitlines()
    assert lines[1].startswith("ads,300.0,2,150.0,325.0,2.17,")


def test_it_answers_404_for_an_unknown_chart(client, small_shop, analyst):
    client.force_login(analyst)
    assert client.get(reverse("admin:analytics_csv", args=["nothing"])).status_code == 404


def test_it_escapes_names_a_spreadsheet_would_run(client, small_shop, analyst):
    Client.objects.filter(external_id="A").update(acquisition_channel="=HYPERLINK(1)")
    build_snapshot(small_shop.run)
    client.force_login(analyst)
    body = client.get(reverse("admin:analytics_csv", args=["ltv-channel"])).content.decode()
    assert "'=HYPERLINK(1)" in body



def test_it_names_the_nightly_segments_in_the_readers_language(client, small_shop, analyst):
    champions = Segment.objects.get(slug="champions")  # kept by the nightly run, stored in English
    SegmentMembership.objects.create(segment=champions, client=Client.objects.get(external_id="A"),
                                     entered_at=small_shop.run.as_of)
    build_snapshot(small_shop.run)
    client.force_login(analyst)
    russian = client.get(reverse("admin:analytics_surveys"), HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "Чемпионы" in russian and "Champions" not in russian
    assert "VIP" in russian  # a rule segment keeps the name its author gave it
    assert "Champions" in client.get(reverse("admin:analytics_surveys"), HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_it_names_the_engagement_bands_in_the_readers_language(client, small_shop, analyst):
    client.force_login(analyst)

    def bands(language):
        csv = client.get(reverse("admin:analytics_csv", args=["ltv-band"]), HTTP_ACCEPT_LANGUAGE=language)
        return [line.split(",")[0] for line in csv.content.decode().splitlines()[1:]]

    assert bands("ru") == ["высокий", "низкий"]  # the scores' keys: "high" and "low"
    assert bands("en") == ["high", "low"]  # last, so the tests after this one run in English again
