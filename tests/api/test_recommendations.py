import pytest

from crm.models import Client, Product
from tests.recommendations.shop import catalogue, listed_client, night

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(db):
    catalogue()
    night()
    return listed_client()


def test_it_reads_the_clients_list_as_emails_would_show_it(api, shop, settings):
    settings.CRM_RECOMMENDED_PRODUCTS = 3
    response = api.get("/api/v1/clients/C1/recommendations/")
    assert response.status_code == 200
    body = response.json()
    assert body["client_id"] == "C1" and body["model"] == "co-purchase"
    assert body["orders_until"].startswith("2026-11-30") and body["favourite_category"] == "Stationery"
    # The mug (out of stock) and the gift card (never recommend) are left out; three by default.
    assert body["products"] == [
        {"sku": "PEN-2", "name": "Gel pen", "category": "Stationery", "price": "90.00", "reason": "bought_with",
         "why": "bought with Notebook A5"},
        {"sku": "COF-3", "name": "Coffee beans 1 kg", "category": "Coffee", "price": "1450.00",
         "reason": "similar_clients", "why": "clients with similar purchases bought it"},
        {"sku": "TEA-6", "name": "Green tea", "category": "Coffee", "price": "400.00",
         "reason": "popular_in_category", "why": "popular in Coffee"},
    ]


def test_limit_chooses_how_many_and_a_bad_one_is_refused_by_name(api, shop):
    assert [p["sku"] for p in api.get("/api/v1/clients/C1/recommendations/?limit=1").json()["products"]] == ["PEN-2"]
    for bad in ("0", "51", "ten", "-1", "", "1.5"):
        response = api.get("/api/v1/clients/C1/recommendations/", {"limit": bad})
        assert response.status_code == 400, bad
        body = response.json()
        assert body["detail"].startswith("limit: ") and body["errors"][0]["field"] == "limit"
    assert api.get("/api/v1/clients/C1/recommendations/?limit=50").status_code == 200


def test_a_client_without_a_list_gets_the_shops_popular_products(api, shop):
    Client.objects.create(external_id="new/one")
    body = api.get("/api/v1/clients/new%2Fone/recommendations/").json()
    assert body["model"] is None and body["orders_until"] is None and body["favourite_category"] == ""
    assert [(p["sku"], p["reason"], p["why"]) for p in body["products"]] == [
        ("COF-3", "popular", "popular now"), ("TEA-6", "popular", "popular now")]


def test_what_went_out_of_stock_since_the_night_is_not_recommended(api, shop):
    Product.objects.filter(sku="PEN-2").update(in_stock=False)
    skus = [p["sku"] for p in api.get("/api/v1/clients/C1/recommendations/").json()["products"]]
    assert "PEN-2" not in skus and skus[0] == "COF-3"


def test_the_reasons_come_in_the_requests_language(api, shop):
    body = api.get("/api/v1/clients/C1/recommendations/", HTTP_ACCEPT_LANGUAGE="ru").json()
    assert body["products"][0]["why"] == "покупают вместе с Notebook A5"


def test_an_unknown_client_is_a_404_like_the_scores(api):
    for url in ("/api/v1/clients/nobody/recommendations/", "/api/v1/clients/nobody/scores/"):
        response = api.get(url)
        assert response.status_code == 404 and set(response.json()) == {"detail"}


def test_it_needs_a_token_and_a_read_only_one_is_enough(client, make_client, shop):
    assert client.get("/api/v1/clients/C1/recommendations/").status_code == 401
    from api.models import ApiToken

    assert make_client(ApiToken.Scope.READ).get("/api/v1/clients/C1/recommendations/").status_code == 200


def test_the_schema_documents_it(client):
    schema = client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/clients/{client_id}/recommendations/"]["get"]
    assert [p["name"] for p in operation["parameters"] if p["in"] == "query"] == ["limit"]
    assert {"200", "400", "404", "401", "429"} <= set(operation["responses"])
