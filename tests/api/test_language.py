"""The API answers in the language the caller asks for (Accept-Language), English by default."""

import pytest
from django.utils import translation

from crm.models import Purchase


@pytest.fixture(autouse=True)
def _back_to_the_default_language():
    yield
    translation.deactivate()  # LocaleMiddleware leaves the request's language active in the thread


def purchase(n, **extra):
    return {"order_id": f"O{n}", "client_id": "C1", "purchased_at": "2025-03-01T10:00:00+03:00", "amount": "100.50",
            **extra}


def test_it_explains_the_problems_in_russian_when_asked(api):
    batch = {"purchases": [purchase(0), purchase(1, amount="lots"), purchase(0)]}

    response = api.post("/api/v1/purchases/batch/", batch, format="json", HTTP_ACCEPT_LANGUAGE="ru")

    assert response.status_code == 400
    assert response.json()["detail"] == "2 ошибки; ничего не записано."
    # The repeated order is still named by the index it repeats, in the caller's language.
    assert response.json()["errors"] == [
        {"index": 1, "field": "amount", "message": "'lots' — не число"},
        {"index": 2, "field": "order_id", "message": "повтор: индекс 0"},
    ]
    assert not Purchase.objects.exists()


def test_it_answers_in_english_without_a_language(api):
    response = api.post("/api/v1/purchases/batch/", {"purchases": [purchase(0), purchase(0)]}, format="json")

    assert response.json()["errors"] == [{"index": 1, "field": "order_id", "message": "duplicate of index 0"}]
    assert response.json()["detail"] == "1 problem; nothing was recorded."
