"""What a marketer sees of recommendations in the admin: the client's list with the reasons, the
recommender's page, and the products' flags."""

import datetime as dt

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from crm import roles
from crm.models import Client, Product
from tests.recommendations.shop import catalogue, listed_client, night

pytestmark = pytest.mark.django_db



def test_the_client_page_shows_the_list_with_the_reasons_as_emails_read_it(admin_client, settings):
    settings.CRM_RECOMMENDED_PRODUCTS = 2
    settings.TIME_ZONE = "Europe/Moscow"
    catalogue()
    client = listed_client()
    html = admin_client.get(reverse("admin:crm_client_change", args=[client.pk])).content.decode()
    assert html.count("client-recommendation") == 3  # the mug is out of stock, the gift card never recommended
    assert "Gel pen" in html and "PEN-2" in html and "bought with Notebook A5" in html
    assert "popular in Coffee" in html and "Enamel mug" not in html and "Gift card" not in html
    assert "computed from orders until 2026-12-01 00:00 by co-purchase" in html  # in the shop's zone (Moscow)
    assert "favourite category: Stationery" in html and "emails show the first 2" in html


def test_a_client_without_a_list_is_told_when_one_comes(admin_client):
    client = Client.objects.create(external_id="new")
    html = admin_client.get(reverse("admin:crm_client_change", args=[client.pk])).content.decode()
    assert ("No recommendations yet: they come with the next night after the first order; until then emails "
            "show the shop&#x27;s popular products.") in html


def test_the_recommenders_page_shows_the_back_test_and_warns_when_one_product_dominates(admin_client):
    catalogue()
    night(as_of=dt.date(2026, 11, 29), top=[("COF-3", 0.2)])
    night()
    html = admin_client.get(reverse("admin:recommendations_recommendation_changelist")).content.decode()
    assert html.count("recommender-candidate") == 4  # two nights, two candidates each
    assert "2026-11-30" in html and "2026-11-29" in html
    assert "<b>co-purchase</b> (shipped)" in html
    for figure in ("18.3 %", "30.1 %", "9.5 %", "21.1 %", "40.0 %", "3.3 %"):
        assert figure in html
    # The newest night's top products, with names from the catalogue.
    assert "Gel pen" in html and "46.0 %" in html
    assert "One product dominates: Gel pen is recommended to 46.0 % of clients." in html


def test_no_warning_when_no_product_is_in_more_than_30_percent_of_lists(admin_client):
    catalogue()
    night(top=[("PEN-2", 0.30), ("COF-3", 0.12)])
    html = admin_client.get(reverse("admin:recommendations_recommendation_changelist")).content.decode()
    assert "dominates" not in html and "30.0 %" in html


def test_before_the_first_night_the_page_says_so(admin_client):
    html = admin_client.get(reverse("admin:recommendations_recommendation_changelist")).content.decode()
    assert "No night has made recommendations yet" in html


def test_the_back_test_downloads_as_csv(admin_client):
    night()
    response = admin_client.get(reverse("admin:recommendations_backtest_csv"))
    lines = response.content.decode().splitlines()
    assert response["Content-Disposition"] == 'attachment; filename="recommendations-backtest.csv"'
    assert lines[0] == "as_of,candidate,shipped,hit_rate@3,hit_rate@10,recall@3,recall@10,coverage,clients"
    assert lines[1] == "2026-11-30,co-purchase,yes,0.1834,0.3012,0.0951,0.2113,0.4,812"


@pytest.mark.parametrize("role", [roles.MARKETING_MANAGER, roles.ANALYST])
def test_the_roles_that_read_scores_read_the_recommenders_page(login, role):
    night()
    client = login(role)
    assert client.get(reverse("admin:recommendations_recommendation_changelist")).status_code == 200
    assert client.get(reverse("admin:recommendations_backtest_csv")).status_code == 200
    assert "recommendations/recommendation/" in client.get(reverse("admin:index")).content.decode()


def test_a_user_who_may_not_read_scores_may_not_see_it(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("clerk", password="x", is_staff=True))
    assert client.get(reverse("admin:recommendations_recommendation_changelist")).status_code == 403
    assert client.get(reverse("admin:recommendations_backtest_csv")).status_code == 403


def test_products_flags_change_in_bulk_and_each_change_is_in_the_history(login):
    catalogue()
    client = login(roles.MARKETING_MANAGER)
    url = reverse("admin:crm_product_changelist")
    chosen = list(Product.objects.filter(sku__in=["NB-1", "PEN-2", "MUG-4"]).values_list("pk", flat=True))
    response = client.post(url, {"action": "mark_out_of_stock", "_selected_action": chosen}, follow=True)
    assert "2 products changed." in response.content.decode()  # the mug was out of stock already
    assert set(Product.objects.filter(in_stock=False).values_list("sku", flat=True)) == {"NB-1", "PEN-2", "MUG-4"}
    client.post(url, {"action": "never_recommend", "_selected_action": chosen})
    assert Product.objects.filter(excluded=True).count() == 4
    entries = LogEntry.objects.filter(content_type__model="product")
    assert entries.count() == 5
    assert "in stock" in entries.order_by("action_time").first().get_change_message()


def test_products_are_found_by_sku_and_name_and_filtered_by_flags(admin_client):
    catalogue()
    url = reverse("admin:crm_product_changelist")
    assert "Coffee beans" in admin_client.get(url, {"q": "COF-3"}).content.decode()
    assert "COF-3" in admin_client.get(url, {"q": "coffee"}).content.decode()
    html = admin_client.get(url, {"excluded__exact": "1"}).content.decode()
    assert "GIFT-5" in html and "NB-1" not in html
    html = admin_client.get(url, {"category": "Coffee"}).content.decode()
    assert "TEA-6" in html and "NB-1" not in html
