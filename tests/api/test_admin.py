import re

import pytest
from rest_framework.test import APIClient

from api.models import ApiToken, hash_token

pytestmark = pytest.mark.django_db


def test_it_shows_a_new_token_once_and_keeps_only_its_hash(admin_client):
    response = admin_client.post("/admin/api/apitoken/add/", {"name": "back office", "scope": "write",
                                                              "is_active": "on"})
    assert response.status_code == 200
    raw = re.search(r'<code id="api-token"[^>]*>(crm_[^<]+)</code>', response.content.decode())[1]
    token = ApiToken.objects.get(name="back office")
    assert token.token_hash == hash_token(raw)

    for page in ("/admin/api/apitoken/", f"/admin/api/apitoken/{token.pk}/change/"):
        html = admin_client.get(page).content.decode()
        assert token.prefix in html and raw not in html and token.token_hash not in html

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.post("/api/v1/clients/", {"client_id": "C1"}, format="json").status_code == 200


def test_it_keeps_the_secret_when_a_token_is_edited(admin_client):
    token, raw = ApiToken.issue("shop")
    response = admin_client.post(f"/admin/api/apitoken/{token.pk}/change/", {"name": "shop 2", "scope": "read"})
    assert response.status_code == 302
    token.refresh_from_db()
    assert (token.name, token.scope, token.token_hash, token.is_active) == ("shop 2", "read", hash_token(raw), False)


def test_it_deactivates_tokens_with_an_admin_action(admin_client):
    token, raw = ApiToken.issue("shop")
    admin_client.post("/admin/api/apitoken/", {"action": "deactivate", "_selected_action": [token.pk]})
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/clients/C1/scores/").status_code == 401
