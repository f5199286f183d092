import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.models import Activity, Client, Purchase
from loyalty.ledger import adjust

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    at = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    clients = Client.objects.bulk_create(
        Client(external_id=f"c{i}", email=f"u{i}@example.com", first_name="Иван", country="RU") for i in range(30)
    )
    Purchase.objects.bulk_create(
        Purchase(external_id=f"o{i}", client=clients[i % 30], purchased_at=at, amount=Decimal(10)) for i in range(90)
    )
    Activity.objects.bulk_create(Activity(client=c, kind="login", occurred_at=at) for c in clients)
    return clients


@pytest.mark.parametrize("name", ["crm_client", "crm_purchase", "crm_activity"])
def test_it_lists_without_a_query_per_row(admin_client, shop, name):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(reverse(f"admin:{name}_changelist")).status_code == 200
        return len(captured.captured_queries)

    queries()  # the first request of a test fills Django's caches (content types, permissions)
    with_30 = queries()
    more = Client.objects.bulk_create(Client(external_id=f"n{i}", email=f"n{i}@example.com") for i in range(30))
    Purchase.objects.bulk_create(Purchase(external_id=f"p{i}", client=c, purchased_at=dt.datetime(2024, 2, 1, tzinfo=dt.UTC),
                                          amount=Decimal(5)) for i, c in enumerate(more))
    Activity.objects.bulk_create(Activity(client=c, kind="login", occurred_at=dt.datetime(2024, 2, 1, tzinfo=dt.UTC))
                                 for c in more)
    assert queries() == with_30  # twice the rows on the page, the same queries


def test_it_finds_clients_by_id_email_and_name(admin_client, shop):
    response = admin_client.get(reverse("admin:crm_client_changelist"), {"q": "c7"})
    assert list(response.context["cl"].result_list) == [shop[7]]
    response = admin_client.get(reverse("admin:crm_client_changelist"), {"q": "u12@"})
    assert list(response.context["cl"].result_list) == [shop[12]]


def test_the_client_page_shows_their_purchases_and_activity(admin_client, shop):
    response = admin_client.get(reverse("admin:crm_client_change", args=[shop[3].pk]))
    page = response.content.decode()
    assert "o3" in page and "o33" in page and "o63" in page and "o4<" not in page
    assert "login" in page


def test_the_client_page_shows_their_points_with_a_link_to_the_ledger(admin_client, shop):
    adjust(shop[3], 120, "welcome gift")
    adjust(shop[3], -20, "correction")
    page = admin_client.get(reverse("admin:crm_client_change", args=[shop[3].pk])).content.decode()
    assert "100 points" in page and "tier: -" in page
    assert reverse("admin:loyalty_pointsentry_changelist") + "?q=c3" in page


def test_it_imports_an_uploaded_file_with_the_same_report(admin_client, shop):
    upload = SimpleUploadedFile("orders.csv", b"order_id,client_id,purchased_at,amount\nn1,c1,2024-05-01,5\nn2,c1,bad,5\n")
    response = admin_client.post(reverse("admin:crm_importrun_upload"),
                                 {"kind": "purchases", "file": upload, "skip_invalid": "on"})
    page = response.content.decode()
    assert "read 2, created 1, updated 0, unchanged 0, rejected 1" in page
    assert "purchased_at: &#x27;bad&#x27; is not an ISO 8601" in page
    assert Purchase.objects.filter(external_id="n1").exists()
    download = admin_client.get(reverse("admin:crm_importrun_upload"),
                                {"rejected": response.context["report"].rejected_name})
    assert b"n2,c1,bad,5" in b"".join(download.streaming_content)


def test_only_users_allowed_to_add_clients_may_import(client, django_user_model):
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(reverse("admin:crm_importrun_upload")).status_code == 403
