import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from analytics.models import MarketingSpend
from analytics.spend_import import import_spend


def test_it_imports_spend_and_updates_a_month_entered_again(db):
    report = import_spend("spend.csv", b'channel,month,amount\nads,2026-01,"1 000,50"\nvk,2026-02-15,300\n')
    assert (report.created, report.errors) == (2, [])
    assert MarketingSpend.objects.get(channel="ads").amount == Decimal("1000.50")
    assert MarketingSpend.objects.get(channel="vk").month == dt.date(2026, 2, 1)
    report = import_spend("spend.csv", b"channel;month;amount\nads;2026-01;900\nvk;2026-02;300\n")
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)


def test_it_names_each_bad_cell_and_imports_nothing(db):
    report = import_spend("spend.csv", b"channel,month,amount\nads,2026-01,100\n,2026-13,-5\nads,2026-01,7\n")
    assert report.errors[0].startswith("spend.csv:3: channel:")
    assert any(e.startswith("spend.csv:3: month:") for e in report.errors)
    assert any(e.startswith("spend.csv:3: amount:") for e in report.errors)
    assert any(e.startswith("spend.csv:4: month:") and "twice" in e for e in report.errors)
    assert not MarketingSpend.objects.exists()


def test_it_refuses_a_row_with_more_cells_than_columns(db):
    report = import_spend("spend.csv", b"channel,month,amount\nads,2026-01,1 000,50\n")
    assert report.errors == ["spend.csv:2: 4 cells, but the header has 3 columns"]


def test_it_refuses_a_file_without_the_columns(db):
    assert import_spend("spend.csv", b"channel,amount\nads,1\n").errors == ["spend.csv:1: missing column(s): month"]


@pytest.fixture
def manager(db):
    user = User.objects.create_user("meg", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="analytics",
                                                         codename__endswith="marketingspend"))
    return user


def test_it_imports_spend_from_the_admin(client, manager):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(manager)
    upload = SimpleUploadedFile("spend.csv", b"channel,month,amount\nads,2026-01,100\n", content_type="text/csv")
    response = client.post(reverse("admin:analytics_marketingspend_import"), {"file": upload})
    assert response.status_code == 302
    assert MarketingSpend.objects.get().amount == 100
    bad = SimpleUploadedFile("bad.csv", b"channel,month,amount\nads,soon,100\n", content_type="text/csv")
    response = client.post(reverse("admin:analytics_marketingspend_import"), {"file": bad})
    assert "bad.csv:2: month:" in response.content.decode()


def test_it_refuses_the_import_to_a_reader(client, analyst):
    client.force_login(analyst)
    assert client.get(reverse("admin:analytics_marketingspend_import")).status_code == 403
