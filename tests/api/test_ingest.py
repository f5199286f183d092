import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.importing import run_import
from crm.models import Activity, Client, Purchase, PurchaseItem, SurveyAnswer

pytestmark = pytest.mark.django_db


def _purchase(n, client="C1", **extra):
    return {"order_id": f"O{n}", "client_id": client, "purchased_at": "2025-03-01T10:00:00+03:00",
            "amount": "100.50", **extra}


def test_it_creates_a_client_then_updates_only_the_fields_sent(post):
    status, body = post("/api/v1/clients/", {"client_id": "C1", "email": "ann@example.com", "city": "Kazan",
                                              "email_consent": True})
    assert status == 200
    assert body == {"received": 1, "created": 1, "updated": 0, "unchanged": 0, "new_clients": 0}
    status, body = post("/api/v1/clients/", {"client_id": "C1", "city": "Perm"})
    assert (status, body["updated"]) == (200, 1)
    client = Client.objects.get(external_id="C1")
    assert (client.email, client.city, client.email_consent) == ("ann@example.com", "Perm", True)
    assert client.email_consent_source == "import:api:shop-write-0"


def test_it_changes_nothing_when_the_same_client_is_sent_again(post):
    data = {"client_id": "C1", "email": "ann@example.com", "phone": "8 912 345-67-89", "country": "RU"}
    post("/api/v1/clients/", data)
    status, body = post("/api/v1/clients/", data)
    assert body == {"received": 1, "created": 0, "updated": 0, "unchanged": 1, "new_clients": 0}
    assert Client.objects.get().phone == "+79123456789"


def test_it_names_the_field_of_an_invalid_value_and_writes_nothing(post):
    status, body = post("/api/v1/clients/", {"client_id": "C1", "email": "not-an-email", "country": "XX"})
    assert status == 400
    assert body["detail"] == "2 problems; nothing was recorded."
    assert body["errors"] == [
        {"index": None, "field": "email", "message": "'not-an-email' is not an email address"},
        {"index": None, "field": "country", "message": "'XX' is not an ISO 3166-1 alpha-2 country code (e.g. RU, DE)"},
    ]
    assert not Client.objects.exists()


def test_it_gives_the_same_message_as_the_csv_import_for_the_same_value(post, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("order_id,client_id,purchased_at,amount\nO1,C1,2025-03-01,12.345\n", encoding="utf-8")
    report = run_import("purchases", path, record=False)
    status, body = post("/api/v1/purchases/", _purchase(1, amount="12.345", purchased_at="2025-03-01"))
    assert status == 400
    assert report.errors == [f"{path}:2: amount: {body['errors'][0]['message']}"]
    assert body["errors"][0]["field"] == "amount"


def test_it_records_a_batch_of_purchases_with_items_and_creates_unknown_clients(post):
    batch = {"purchases": [
        _purchase(1, status="completed", items=[{"sku": "A", "quantity": 2, "price": "10.00", "name": "Tea"},
                                                {"sku": "B", "quantity": "1", "price": 80.5, "name": "Cup"}]),
        _purchase(2, client="C2", amount=99, status="refunded"),
    ]}
    status, body = post("/api/v1/purchases/batch/", batch)
    assert status == 200, body
    assert body == {"received": 2, "created": 2, "updated": 0, "unchanged": 0, "new_clients": 2,
                    "items": {"received": 2, "created": 2, "updated": 0, "unchanged": 0}}
    order = Purchase.objects.get(external_id="O1")
    assert order.client.external_id == "C1" and order.amount == Decimal("100.50") and order.currency == "RUB"
    assert Purchase.objects.get(external_id="O2").status == "refunded"
    assert sorted(order.items.values_list("sku", "quantity")) == [("A", Decimal(2)), ("B", Decimal(1))]


def test_it_never_duplicates_when_a_batch_is_posted_twice(post):
    batch = {"purchases": [_purchase(n, client=f"C{n % 7}", items=[{"sku": "S", "quantity": 1, "price": 5}])
                           for n in range(300)]}
    first = post("/api/v1/purchases/batch/", batch)[1]
    status, second = post("/api/v1/purchases/batch/", batch)
    assert status == 200
    assert (first["created"], first["new_clients"], first["items"]["created"]) == (300, 7, 300)
    assert second == {"received": 300, "created": 0, "updated": 0, "unchanged": 300, "new_clients": 0,
                      "items": {"received": 300, "created": 0, "updated": 0, "unchanged": 300}}
    assert (Purchase.objects.count(), PurchaseItem.objects.count(), Client.objects.count()) == (300, 300, 7)


def test_it_updates_an_order_sent_again_with_changes(post):
    post("/api/v1/purchases/", _purchase(1))
    status, body = post("/api/v1/purchases/", _purchase(1, amount="120.00", status="refunded"))
    assert (status, body["updated"], body["created"]) == (200, 1, 0)
    assert Purchase.objects.get().amount == Decimal("120.00")


def test_it_names_the_index_and_field_of_the_problems_in_a_batch_and_writes_nothing(post):
    batch = {"purchases": [
        _purchase(0),
        _purchase(1, items=[{"sku": "A", "quantity": 1, "price": "-3"}]),
        _purchase(2, amount="lots"),
        _purchase(0),
    ]}
    status, body = post("/api/v1/purchases/batch/", batch)
    assert status == 400
    # The items are checked once their purchases are valid (they are merged in the same transaction).
    assert body["errors"] == [
        {"index": 2, "field": "amount", "message": "'lots' is not a number"},
        {"index": 3, "field": "order_id", "message": "duplicate of index 0"},
    ]
    assert not Purchase.objects.exists() and not Client.objects.exists()


def test_it_reports_a_repeated_order_id_by_the_index_it_repeats(post):
    status, body = post("/api/v1/purchases/batch/", {"purchases": [_purchase(0), _purchase(1), _purchase(0)]})
    assert status == 400
    assert body["errors"] == [{"index": 2, "field": "order_id", "message": "duplicate of index 0"}]


def test_it_rolls_back_the_purchases_when_an_item_is_invalid(post):
    batch = {"purchases": [_purchase(0), _purchase(1, items=[{"sku": "A", "quantity": 1, "price": 1},
                                                             {"sku": "B", "quantity": 0, "price": 1}])]}
    status, body = post("/api/v1/purchases/batch/", batch)
    assert status == 400
    assert body["errors"] == [{"index": 1, "field": "items[1].quantity", "message": "'0' must be more than 0"}]
    assert not Purchase.objects.exists() and not Client.objects.exists()


@pytest.mark.parametrize(("body", "field", "message"), [
    ([], "", 'must be an object {"purchases": [...]}'),
    ({"purchases": "x"}, "purchases", "required: a list of objects"),
    ({"purchases": [], "extra": 1}, "extra", "unknown field"),
    ({"purchases": [_purchase(n) for n in range(1001)]}, "purchases", "1001 objects; at most 1000 per request"),
])
def test_it_refuses_a_batch_envelope_that_is_not_right(post, body, field, message):
    status, answer = post("/api/v1/purchases/batch/", body)
    assert status == 400
    assert any(e["field"] == field and e["message"].startswith(message.split(":")[0]) for e in answer["errors"]), answer


@pytest.mark.parametrize(("obj", "field", "message"), [
    ({"order_id": "O1", "client_id": "C1", "amount": 1}, "purchased_at", "required"),
    ({**_purchase(1), "colour": "red"}, "colour", "unknown field; known: "),
    ({**_purchase(1), "amount": [1]}, "amount", "must be text or a number (or null)"),
    ({**_purchase(1), "client_id": 42}, "client_id", "must be text (or null)"),
    ({**_purchase(1), "amount": None}, "amount", "'' is not a number"),
    ({**_purchase(1), "purchased_at": "2999-01-01"}, "purchased_at", "'2999-01-01' is in the future"),
    ({**_purchase(1), "items": {"sku": "A"}}, "items", "must be a list of objects"),
    ({**_purchase(1), "items": [{"sku": "A", "quantity": 1, "price": 1, "order_id": "O9"}]}, "items[0].order_id",
     "not expected"),
    ({**_purchase(1), "client_id": "x" * 65}, "client_id", "too long (65 characters, at most 64)"),
])
def test_it_names_the_field_of_a_bad_purchase(post, obj, field, message):
    status, body = post("/api/v1/purchases/", obj)
    assert status == 400
    assert [e["field"] for e in body["errors"]] == [field], body
    assert body["errors"][0]["message"].startswith(message)


def test_it_refuses_a_time_after_now_and_takes_todays_date_in_the_shops_zone(post, settings):
    # Samoa is 13 hours ahead of UTC: the shop's today may be tomorrow in UTC, and is still not the future.
    settings.TIME_ZONE = "Pacific/Apia"
    now = timezone.now()
    soon = (now + dt.timedelta(minutes=5)).isoformat()
    in_an_hour_there = (timezone.localtime(now) + dt.timedelta(hours=1)).replace(tzinfo=None).isoformat()
    for at in (soon, in_an_hour_there):
        status, body = post("/api/v1/purchases/", _purchase(1, purchased_at=at))
        assert status == 400
        assert body["errors"] == [{"index": None, "field": "purchased_at", "message": f"'{at}' is in the future"}]
    status, _ = post("/api/v1/purchases/", _purchase(1, purchased_at=timezone.localdate(now).isoformat()))
    assert status == 200 and Purchase.objects.count() == 1


def test_it_wants_the_same_fields_in_every_object_of_a_batch(post):
    batch = {"clients": [{"client_id": "C1", "email": "a@example.com"}, {"client_id": "C2"},
                         {"client_id": "C3", "email": None, "city": "Omsk"}]}
    status, body = post("/api/v1/clients/batch/", batch)
    assert status == 400
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "email"), (2, "city")]
    assert not Client.objects.exists()


def test_it_records_activity_once_however_often_it_is_sent(post):
    event = {"client_id": "C1", "kind": "lesson", "occurred_at": "2025-05-01T08:00:00Z", "properties": {"n": 3}}
    assert post("/api/v1/activity/", event)[1]["created"] == 1
    status, body = post("/api/v1/activity/batch/", {"events": [event, {**event, "kind": "login"}]})
    assert (status, body["created"], body["unchanged"]) == (200, 1, 1)
    assert Activity.objects.count() == 2
    assert Activity.objects.get(kind="lesson").properties == {"n": 3}
    status, body = post("/api/v1/activity/", {**event, "properties": [1]})
    assert (status, body["errors"][0]["field"]) == (400, "properties")


def test_the_api_refuses_a_bad_session_naming_the_event_and_property(post):
    event = {"client_id": "C1", "kind": "session", "occurred_at": "2025-05-01T08:00:00Z",
             "properties": {"duration_seconds": 30, "pages": 1, "channel": "web"}}
    status, body = post("/api/v1/activity/batch/", {"events": [event, {**event, "kind": "session",
                        "occurred_at": "2025-05-01T09:00:00Z", "properties": {"channel": "fax"}}]})
    assert status == 400
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "properties")]
    assert body["errors"][0]["message"].startswith("channel: 'fax' is not one of web, app")
    assert not Activity.objects.exists()
    assert post("/api/v1/activity/", event)[0] == 200
    assert Activity.objects.get().properties == event["properties"]


def test_it_records_survey_answers_on_their_scale(post):
    answers = [{"client_id": "C1", "kind": "nps", "score": 10, "answered_at": "2025-05-01"},
               {"client_id": "C1", "kind": "csat", "score": "4", "answered_at": "2025-05-01"}]
    status, body = post("/api/v1/survey-answers/batch/", {"answers": answers})
    assert (status, body["created"], body["new_clients"]) == (200, 2, 1)
    assert post("/api/v1/survey-answers/batch/", {"answers": answers})[1]["unchanged"] == 2
    assert sorted(SurveyAnswer.objects.values_list("kind", "score")) == [("csat", 4), ("nps", 10)]


@pytest.mark.parametrize(("answer", "field", "message"), [
    ({"kind": "csat", "score": 6}, "score", "'6' is not between 1 and 5"),
    ({"kind": "nps", "score": 11}, "score", "'11' is not between 0 and 10"),
    ({"kind": "nps", "score": "7.5"}, "score", "'7.5' is not a whole number"),
    ({"kind": "nps", "score": 7.5}, "score", "must be text or a whole number (or null)"),
    ({"kind": "ces", "score": 3}, "kind", "'ces' is not one of: nps, csat"),
])
def test_it_refuses_a_survey_answer_off_its_scale(post, answer, field, message):
    status, body = post("/api/v1/survey-answers/", {"client_id": "C1", "answered_at": "2025-05-01", **answer})
    assert status == 400
    assert body["errors"] == [{"index": None, "field": field, "message": message}]


def test_it_imports_survey_answers_from_csv_by_the_same_rules(tmp_path):
    path = tmp_path / "surveys.csv"
    path.write_text("client_id,kind,score,answered_at\nC1,nps,9,2025-05-01\nC2,csat,0,2025-05-01\n", encoding="utf-8")
    report = run_import("survey_answers", path, record=False)
    assert not report.imported
    assert report.errors == [f"{path}:3: score: '0' is not between 1 and 5"]
    report = run_import("survey_answers", path, skip_invalid=True, record=False)
    assert (report.created, report.rejected, SurveyAnswer.objects.get().score) == (1, 1, 9)


def test_a_birth_date_in_the_future_is_refused_with_its_field(post):
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    status, body = post("/api/v1/clients/", {"client_id": "C1", "birth_date": tomorrow})
    assert status == 400
    assert body["errors"] == [{"index": None, "field": "birth_date", "message": f"'{tomorrow}' is in the future"}]
    assert not Client.objects.exists()
