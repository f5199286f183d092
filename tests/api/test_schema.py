import re

import pytest
import schemathesis
from django.contrib.staticfiles import finders
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, settings

from api.models import ApiToken


def test_it_serves_its_openapi_schema_without_a_token(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/purchases/batch/" in schema["paths"]
    assert schema["components"]["securitySchemes"]["token"] == {
        "type": "http", "scheme": "bearer", "description": schema["components"]["securitySchemes"]["token"][
            "description"]}


def test_it_serves_the_docs_page_from_its_own_static_files(client):
    html = client.get("/api/docs/").content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("swagger-ui-bundle.js" in a for a in assets)
    for asset in assets:
        assert asset.startswith("/"), f"{asset} would need the outside network"
        if asset.startswith("/static/"):
            assert finders.find(asset.removeprefix("/static/")), f"{asset} is not among our static files"


def _app(environ, start_response):
    # A handler per request, so each test's settings apply (middleware reads them when it is built).
    return WSGIHandler()(environ, start_response)


# The host schemathesis' WSGI client sends, over plain HTTP.
_CALLABLE = {"ALLOWED_HOSTS": ["localhost", "testserver"], "SECURE_SSL_REDIRECT": False}
with override_settings(**_CALLABLE):
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", _app)


@pytest.fixture
def bearer(db, settings):
    for name, value in _CALLABLE.items():
        setattr(settings, name, value)
    settings.CRM_API_THROTTLE = "100000/min"
    # As Django's test client does: the test's transaction must outlive each request, which would
    # otherwise close the connection when it ends.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield {"Authorization": f"Bearer {ApiToken.issue('schemathesis')[1]}"}
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=5, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_it_answers_as_its_schema_says(case, bearer):
    # Every answer is in the schema (status, content type, body), and no input makes a server error.
    # Values the schema allows may still be refused by the importer's rules (a date in the future,
    # a malformed amount), so a 400 for schema-valid data is expected: that check is left out.
    case.call_and_validate(headers=bearer, excluded_checks=[schemathesis.checks.positive_data_acceptance])
