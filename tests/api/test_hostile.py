import json

import pytest

from crm.models import Activity, Client

pytestmark = pytest.mark.django_db


def _raw_post(api, url, body):
    return api.generic("POST", url, body, content_type="application/json")


def test_it_refuses_a_body_that_is_not_json_naming_the_problem(api):
    response = _raw_post(api, "/api/v1/clients/", b'{"client_id": ')
    assert response.status_code == 400 and "JSON parse error" in response.json()["detail"]


def test_it_refuses_a_body_that_is_not_utf8(api):
    response = _raw_post(api, "/api/v1/clients/", b'{"client_id": "\xff\xfe"}')
    assert response.status_code == 400 and "detail" in response.json()
    assert not Client.objects.exists()


def _body_of(size):
    """A valid batch of clients, padded with JSON whitespace to exactly `size` bytes."""
    body = json.dumps({"clients": [{"client_id": f"C{n}", "city": "Kazan"} for n in range(5)]}).encode()
    assert len(body) <= size
    return body + b" " * (size - len(body))


def test_it_takes_a_body_of_the_limit_and_refuses_one_byte_more_with_a_json_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000  # the one limit: Django's, answered by the API

    assert _raw_post(api, "/api/v1/clients/batch/", _body_of(1000)).status_code == 200
    response = _raw_post(api, "/api/v1/clients/batch/", _body_of(1001))
    assert response.status_code == 413 and response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "The body is larger than 1000 bytes: send smaller batches."}


def test_it_takes_a_3_mb_body_which_djangos_default_limit_would_refuse(api):
    response = _raw_post(api, "/api/v1/clients/batch/", _body_of(3 * 1024 * 1024))
    assert response.status_code == 200 and response.json()["created"] == 5


def test_it_refuses_a_chunked_body_it_cannot_read_rather_than_take_it_as_empty(api):
    # Behind WSGI, Django reads a body without Content-Length as empty, whatever its size.
    response = api.generic("POST", "/api/v1/clients/", b'{"client_id": "C1"}', content_type="application/json",
                           CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked")
    assert response.status_code == 411 and "Content-Length" in response.json()["detail"]
    assert not Client.objects.exists()


@pytest.mark.parametrize(("properties", "message"), [
    ('{"price": 1e999}', "1e999 is too large a number (at price)"),
    ('{"a": [NaN]}', "NaN is not a JSON value (at a[0])"),
])
def test_it_refuses_properties_text_with_a_number_json_columns_cannot_hold_by_field(post, properties, message):
    status, body = post("/api/v1/activity/batch/", {"events": [
        {"client_id": "C1", "kind": "login", "occurred_at": "2025-01-01", "properties": "{}"},
        {"client_id": "C1", "kind": "view", "occurred_at": "2025-01-01", "properties": properties}]})
    assert status == 400
    assert body["errors"] == [{"index": 1, "field": "properties", "message": message}]
    assert not Activity.objects.exists()


@pytest.mark.parametrize(("body", "where"), [
    (b'{"events": [{"client_id": "C1", "kind": "login", "occurred_at": "2025-01-01", "properties": {"a": 1e999}}]}',
     "1e999 is too large a number (at events[0].properties.a)"),
    (b'{"order_id": "O1", "client_id": "C1", "purchased_at": "2025-01-01", "amount": -1e400}',
     "-1e400 is too large a number (at amount)"),
    (b'{"client_id": "C1", "colour": Infinity}', "Infinity is not a JSON value (at colour)"),
])
def test_it_refuses_a_number_too_large_for_json_columns_anywhere_in_the_body_naming_where(api, body, where):
    url = "/api/v1/activity/batch/" if b"events" in body else "/api/v1/purchases/" if b"order_id" in body \
        else "/api/v1/clients/"
    response = _raw_post(api, url, body)
    assert response.status_code == 400 and response.json() == {"detail": f"JSON parse error - {where}"}
    assert not Activity.objects.exists() and not Client.objects.exists()


def test_it_refuses_a_huge_value_by_field(post):
    status, body = post("/api/v1/clients/", {"client_id": "C1", "city": "x" * 1_000_000})
    assert status == 400
    assert body["errors"] == [{"index": None, "field": "city",
                               "message": "too long (1000000 characters, at most 100)"}]


@pytest.mark.parametrize("value", ["Robert'); DROP TABLE crm_client;--", "=HYPERLINK(\"http://x\")", "<script>"])
def test_it_stores_injection_strings_as_plain_text(post, value):
    status, _ = post("/api/v1/clients/", {"client_id": "C1", "first_name": value})
    assert status == 200
    assert Client.objects.get(external_id="C1").first_name == value


def test_it_refuses_a_nul_character_by_field(post):
    status, body = post("/api/v1/activity/", {"client_id": "C\x001", "kind": "login", "occurred_at": "2025-01-01"})
    assert status == 400
    assert body["errors"][0]["field"] == "client_id"
    assert not Activity.objects.exists()


def test_it_refuses_a_nul_character_inside_properties(post):
    status, body = post("/api/v1/activity/", {"client_id": "C1", "kind": "login", "occurred_at": "2025-01-01",
                                              "properties": {"note": "a\x00b"}})
    assert (status, body["errors"][0]["field"]) == (400, "properties")


@pytest.mark.parametrize("amount", ["10", 10], ids=["all-text", "with-numbers"])
def test_it_names_the_object_and_field_of_a_nul_character_deep_in_a_batch(post, amount):
    purchases = [{"order_id": f"O{n}", "client_id": "C1", "purchased_at": "2025-01-01", "amount": amount}
                 for n in range(300)]
    purchases[217]["client_id"] = "C\x001"
    status, body = post("/api/v1/purchases/batch/", {"purchases": purchases})
    assert status == 400
    assert body["errors"] == [{"index": 217, "field": "client_id",
                               "message": "must not contain the NUL character (\\u0000)"}]
    assert not Client.objects.exists()


def test_it_stores_the_text_backslash_u0000_in_a_text_field_of_a_batch(post):
    # Only JSON columns refuse the escape (PostgreSQL's jsonb cannot hold it); as text it is plain characters.
    status, _ = post("/api/v1/clients/batch/", {"clients": [{"client_id": "C1", "first_name": "a\\u0000b"},
                                                            {"client_id": "C2", "first_name": "Bob"}]})
    assert status == 200
    assert Client.objects.get(external_id="C1").first_name == "a\\u0000b"


def test_it_refuses_json_nested_too_deeply(api):
    response = _raw_post(api, "/api/v1/clients/", b"[" * 100_000 + b"]" * 100_000)
    assert response.status_code == 400 and "nested too deeply" in response.json()["detail"]
