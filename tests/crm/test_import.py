import csv
import datetime as dt
import io
import sys
from decimal import Decimal

import pytest
from django.db import connection

from crm.importing import staging
from crm.models import Activity, Client, ImportRun, Purchase, PurchaseItem

pytestmark = pytest.mark.django_db

CLIENTS = """client_id,email,phone,first_name,last_name,city,country,zip,birth_date,gender,acquisition_channel,created_at,email_consent,ads_consent
c1,ivan@example.ru,8 912 345-67-89,Иван,Иванов,Москва,ru,101000,1990-05-01,м,organic,2024-01-02,да,1
c2,bob@example.com,,Bob,Brown,London,GB,,,m,google_ads,2024-03-01T10:00:00+03:00,0,0
"""


def test_it_imports_clients_then_changes_nothing_on_the_same_file(write_csv, run_command):
    path = write_csv("clients.csv", CLIENTS)
    ok, out, _ = run_command("import_clients", str(path))
    assert ok
    assert "read 2, created 2, updated 0, unchanged 0, rejected 0" in out
    ivan = Client.objects.get(external_id="c1")
    assert (ivan.first_name, ivan.country, ivan.phone, ivan.gender) == ("Иван", "RU", "+79123456789", "m")
    assert ivan.email_consent and ivan.ads_consent and ivan.email_consent_at is not None
    assert ivan.email_consent_source == "import:clients.csv"
    assert ivan.birth_date == dt.date(1990, 5, 1)
    stamp = ivan.updated_at

    ok, out, _ = run_command("import_clients", str(path))
    assert ok
    assert "read 2, created 0, updated 0, unchanged 2, rejected 0" in out
    assert Client.objects.count() == 2
    assert Client.objects.get(external_id="c1").updated_at == stamp


def test_it_updates_clients_in_place_and_records_consent_changes(write_csv, run_command):
    run_command("import_clients", str(write_csv("a.csv", CLIENTS)))
    before = Client.objects.get(external_id="c2")
    ok, out, _ = run_command("import_clients", str(write_csv("b.csv", "email_consent,client_id\nyes,c2\n0,c1\n")))
    assert ok and "read 2, created 0, updated 2, unchanged 0" in out
    bob, ivan = Client.objects.get(external_id="c2"), Client.objects.get(external_id="c1")
    assert bob.email_consent and bob.email_consent_source == "import:b.csv" and bob.email_consent_at
    assert not ivan.email_consent and ivan.email_consent_source == "import:b.csv"
    # Columns the file does not have are left alone.
    assert bob.email == before.email and ivan.phone == "+79123456789"


def test_it_imports_purchases_creating_bare_clients(write_csv, run_command, settings):
    settings.TIME_ZONE = "Europe/Moscow"
    path = write_csv("orders.csv", "order_id,client_id,purchased_at,amount,currency,status\n"
                                   "o1,new-client,2024-02-01 10:00,\"1 234,50\",,\n"
                                   "o2,new-client,2024-02-03T10:00:00Z,0,usd,refunded\n")
    ok, out, _ = run_command("import_purchases", str(path))
    assert ok and "created 2" in out and "new bare clients 1" in out
    o1 = Purchase.objects.get(external_id="o1")
    assert o1.amount == Decimal("1234.50") and o1.currency == "RUB" and o1.status == "completed"
    # A naive time is read in TIME_ZONE (Moscow, UTC+3) and stored in UTC.
    assert o1.purchased_at == dt.datetime(2024, 2, 1, 7, 0, tzinfo=dt.UTC)
    assert Purchase.objects.get(external_id="o2").status == "refunded"
    assert Client.objects.filter(external_id="new-client").count() == 1

    ok, out, _ = run_command("import_purchases", str(path))
    assert ok and "created 0, updated 0, unchanged 2" in out and "bare" not in out


def test_it_imports_nothing_when_a_row_is_bad_and_names_file_line_and_column(write_csv, run_command):
    path = write_csv("orders.csv", "order_id,client_id,purchased_at,amount\n"
                                   "o1,c1,2024-02-01,10\n"
                                   "o2,c1,yesterday,10\n"
                                   "o3,c1,2024-02-01,-5\n"
                                   "o1,c1,2024-02-01,10\n")
    ok, out, err = run_command("import_purchases", str(path))
    assert not ok
    assert f"{path}:3: purchased_at: 'yesterday' is not an ISO 8601 date" in err
    assert f"{path}:4: amount: '-5' must be at least 0" in err
    assert f"{path}:5: order_id: duplicate of line 2" in err
    assert "nothing was imported" in err
    assert Purchase.objects.count() == 0 and Client.objects.count() == 0
    assert not ImportRun.objects.get().ok


def test_it_imports_valid_rows_and_keeps_rejected_ones_with_skip_invalid(write_csv, run_command):
    path = write_csv("orders.csv", "order_id,client_id,purchased_at,amount\n"
                                   "o1,c1,2024-02-01,10\n"
                                   "o2,c1,2999-01-01,abc\n"
                                   "o1,c1,2024-02-01,10\n"
                                   "o3,c1,2024-02-02\n")
    ok, out, _ = run_command("import_purchases", str(path), "--skip-invalid")
    assert ok and "read 4, created 1, updated 0, unchanged 0, rejected 3" in out
    with open(path.parent / "orders.rejected.csv", encoding="utf-8", newline="") as f:
        rejected = list(csv.reader(f))
    assert rejected[0] == ["order_id", "client_id", "purchased_at", "amount", "error"]
    assert sorted(rejected[1:]) == sorted([
        ["o2", "c1", "2999-01-01", "abc", "purchased_at: '2999-01-01' is in the future; amount: 'abc' is not a number"],
        ["o3", "c1", "2024-02-02", "row: expected 4 cells as in the header, found 3"],
        ["o1", "c1", "2024-02-01", "10", "order_id: duplicate of line 2"],
    ])
    assert list(Purchase.objects.values_list("external_id", flat=True)) == ["o1"]


def test_it_prints_the_first_50_errors_then_a_count(write_csv, run_command):
    rows = "".join(f"o{i},c1,2024-01-01,x\n" for i in range(60))
    ok, _, err = run_command("import_purchases", str(write_csv("bad.csv", "order_id,client_id,purchased_at,amount\n" + rows)))
    assert not ok
    assert err.count("amount: 'x' is not a number") == 50
    assert "... and 10 more errors" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"client_id,emial\nc1,a@b.c\n", ":1: unknown column(s): emial"),
        (b"email\na@b.c\n", ":1: missing required column(s): client_id"),
        (b"client_id,email,email\nc1,a,b\n", ":1: repeated column(s): email"),
        ("client_id,first_name\nc1,Иван\n".encode("cp1251"), ":2: not UTF-8 text (byte 0xc8 at position 4). It looks like Windows-1251"),
    ],
)
def test_it_refuses_files_it_cannot_read_with_a_clear_message(write_csv, run_command, content, message):
    path = write_csv("clients.csv", content)
    ok, _, err = run_command("import_clients", str(path))
    assert not ok
    assert message in err and str(path) in err
    assert Client.objects.count() == 0


def test_it_reads_semicolons_and_a_byte_order_mark_as_spreadsheets_write_them(write_csv, run_command):
    path = write_csv("excel.csv", "\ufeffclient_id;first_name;country\nc1;Анна;RU\n")
    ok, out, _ = run_command("import_clients", str(path))
    assert ok and Client.objects.get(external_id="c1").first_name == "Анна"


def test_it_reads_standard_input(run_command, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    data = b"client_id,kind,occurred_at,properties\nc1,lesson_completed,2024-01-01T10:00:00Z,\"{\"\"lesson\"\": 3}\"\nc1,login,2024-01-01,[1]\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    ok, out, _ = run_command("import_activity", "-", "--skip-invalid")
    assert ok and "created 1" in out and "rejected 1" in out
    assert Activity.objects.get().properties == {"lesson": 3}
    assert "properties: must be a JSON object" in (tmp_path / "stdin.rejected.csv").read_text()


def test_it_imports_items_only_for_known_orders(write_csv, run_command):
    run_command("import_purchases", str(write_csv("o.csv", "order_id,client_id,purchased_at,amount\no1,c1,2024-01-01,30\n")))
    path = write_csv("items.csv", "order_id,sku,quantity,price,name,category\n"
                                  "o1,BOOK-1,2,15,Book,books\n"
                                  "o9,BOOK-2,1,5,Other,books\n")
    ok, _, err = run_command("import_purchase_items", str(path))
    assert not ok and f"{path}:3: order_id: no order with this id" in err
    ok, out, _ = run_command("import_purchase_items", str(path), "--skip-invalid")
    assert ok and "created 1" in out
    item = PurchaseItem.objects.get()
    assert (item.purchase.external_id, item.quantity, item.category) == ("o1", 2, "books")


def test_activity_is_keyed_by_client_kind_and_time(write_csv, run_command):
    path = write_csv("a.csv", "client_id,kind,occurred_at\nc1,login,2024-01-01T10:00:00Z\nc1,session,2024-01-01T10:00:00Z\n")
    assert run_command("import_activity", str(path))[0]
    ok, out, _ = run_command("import_activity", str(path))
    assert ok and "unchanged 2" in out
    assert Activity.objects.count() == 2


def _stage_tables():
    """This connection's stage tables: (oid, name, rows held)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT oid, relname FROM pg_class WHERE relname LIKE %s AND relpersistence = 't' "
                       "AND pg_table_is_visible(oid)", [f"{staging.STAGE}%"])
        tables = cursor.fetchall()
        for oid, name in tables:
            cursor.execute(f"SELECT COUNT(*) FROM {name}")
            yield oid, name, cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_the_connection_keeps_its_stage_table_and_each_commit_empties_it(write_csv, run_command):
    # Creating and dropping a table per import are writes to the system catalogs that cost a small
    # import (an API request) more than its rows; the rows staged must not outlive the import.
    path = write_csv("orders.csv", "order_id,client_id,purchased_at,amount\no1,c1,2024-02-01,10\no2,c2,2024-02-01,5\n")
    assert run_command("import_purchases", str(path))[0]
    (oid, name, held), = _stage_tables()
    assert held == 0
    ok, out, _ = run_command("import_purchases", str(path))
    assert ok and "unchanged 2" in out
    assert list(_stage_tables()) == [(oid, name, 0)]


def test_an_import_after_one_refused_in_the_same_transaction_finds_an_empty_stage(write_csv, run_command):
    # The refused import's savepoint is rolled back, taking with it the stage table it created.
    header = "order_id,client_id,purchased_at,amount\n"
    ok, _, err = run_command("import_purchases", str(write_csv("bad.csv", header + "o1,c1,2024-02-01,x\n")))
    assert not ok and "amount: 'x' is not a number" in err
    ok, out, _ = run_command("import_purchases", str(write_csv("good.csv", header + "o1,c1,2024-02-01,10\n")))
    assert ok and "read 1, created 1" in out
    ok, out, _ = run_command("import_purchases", str(write_csv("good.csv", header + "o1,c1,2024-02-01,10\n")))
    assert ok and "read 1, created 0, updated 0, unchanged 1, rejected 0" in out
