import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from api.models import ApiToken, hash_token

ONE_CLIENT = {"client_id": "C1", "email": "ann@example.com"}


@pytest.mark.django_db
def test_it_stores_only_a_hash_of_the_token():
    token, raw = ApiToken.issue("shop")
    token.refresh_from_db()
    assert raw.startswith("crm_") and len(raw) > 40
    assert token.token_hash == hash_token(raw) and raw not in token.token_hash
    assert token.prefix == raw[:10]


@pytest.mark.django_db
def test_it_refuses_calls_without_a_token_with_401():
    response = APIClient().post("/api/v1/clients/", ONE_CLIENT, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["Bearer crm_wrong", "Bearer", "Bearer a b", "Token crm_x"])
def test_it_refuses_a_wrong_or_malformed_token(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get("/api/v1/clients/C1/scores/").status_code == 401


def test_it_refuses_an_inactive_token(make_client):
    client = make_client()
    ApiToken.objects.filter(pk=client.token.pk).update(is_active=False)
    assert client.post("/api/v1/clients/", ONE_CLIENT, format="json").status_code == 401


def test_it_lets_a_read_token_read_but_not_write(make_client):
    reader = make_client(ApiToken.Scope.READ)
    response = reader.post("/api/v1/clients/", ONE_CLIENT, format="json")
    assert response.status_code == 403
    assert "write scope" in response.json()["detail"]
    assert reader.get("/api/v1/clients/C1/scores/").status_code == 404  # allowed in, no such client


def test_it_lets_a_write_token_write_and_read(make_client):
    writer = make_client(ApiToken.Scope.WRITE)
    assert writer.post("/api/v1/clients/", ONE_CLIENT, format="json").status_code == 200
    assert writer.get("/api/v1/clients/C1/scores/").status_code == 200


def test_it_records_when_a_token_was_last_used_at_most_once_a_minute(api):
    api.get("/api/v1/clients/C1/scores/")
    first = ApiToken.objects.get(pk=api.token.pk).last_used_at
    assert first is not None
    api.get("/api/v1/clients/C1/scores/")
    assert ApiToken.objects.get(pk=api.token.pk).last_used_at == first
    ApiToken.objects.filter(pk=api.token.pk).update(last_used_at=timezone.now() - timezone.timedelta(minutes=2))
    api.get("/api/v1/clients/C1/scores/")
    assert ApiToken.objects.get(pk=api.token.pk).last_used_at > first


def test_it_throttles_each_token_at_the_configured_rate(make_client, settings):
    settings.CRM_API_THROTTLE = "3/min"
    busy, other = make_client(), make_client()
    codes = [busy.get("/api/v1/clients/C1/scores/").status_code for _ in range(4)]
    assert codes == [404, 404, 404, 429]
    throttled = busy.get("/api/v1/clients/C1/scores/")
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert other.get("/api/v1/clients/C1/scores/").status_code == 404  # counted per token
