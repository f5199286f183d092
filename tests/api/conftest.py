import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from api.models import ApiToken


@pytest.fixture(autouse=True)
def _plain_http(settings):
    settings.SECURE_SSL_REDIRECT = False  # the test clients call over plain HTTP


@pytest.fixture(autouse=True)
def _fresh_throttle_counts(settings):
    # Throttle counts live in the cache, keyed by token id; ids repeat between tests (sequences restart).
    # Each test counts afresh in a cache of this process: with REDIS_URL set the cache is Redis, and clearing it
    # would flush the database the worker tests' queues are in (tests/api/test_throttling.py counts there).
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "api-tests"}}
    cache.clear()


@pytest.fixture
def make_client(db):
    """An API client sending `Authorization: Bearer <a new token>` with the given scope."""

    def make(scope=ApiToken.Scope.WRITE, name=None):
        token, raw = ApiToken.issue(name or f"shop-{scope}-{ApiToken.objects.count()}", scope)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        client.token = token
        client.raw_token = raw
        return client

    return make


@pytest.fixture
def api(make_client):
    return make_client()


@pytest.fixture
def post(api):
    """POST JSON; returns (status, body)."""

    def send(url, body, client=None):
        response = (client or api).post(url, body, format="json")
        return response.status_code, response.json()

    return send
