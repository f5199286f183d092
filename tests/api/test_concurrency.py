import threading

import pytest
from django.db import connections
from rest_framework.test import APIClient

from api.models import ApiToken
from crm.models import Client, Purchase


@pytest.mark.django_db(transaction=True)
def test_it_takes_overlapping_batches_at_once_without_errors_or_duplicates():
    raw = ApiToken.issue("shop")[1]
    # Every batch names the same new clients, in a different order: the bare-client inserts race.
    batches = [{"purchases": [{"order_id": f"O{b}-{n}", "client_id": f"C{(n * (b + 1)) % 40}",
                               "purchased_at": "2025-01-02", "amount": 1} for n in range(120)]} for b in range(6)]
    statuses = []

    def send(batch):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        try:
            statuses.append(client.post("/api/v1/purchases/batch/", batch, format="json").status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 6
    assert (Purchase.objects.count(), Client.objects.count()) == (720, 40)
