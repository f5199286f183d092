"""A first load of history (many rows into nearly empty tables) builds the indexes once, after the
rows are in: the same tables, indexes and keys come out as the ordinary path leaves them, and a load
that fails changes nothing."""

import pytest
from django.db import IntegrityError, OperationalError, connection, transaction

from core import bulk_load
from crm.importing import staging
from crm.models import Client, Purchase

pytestmark = pytest.mark.django_db(transaction=True)

HEADER = "order_id,client_id,purchased_at,amount,currency,status\n"


def _schema(model):
    """Every index and constraint of the model's table, with its definition."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [model._meta.db_table])
        indexes = set(cursor.fetchall())
        cursor.execute("SELECT conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint "
                       "WHERE conrelid = CAST(%s AS regclass)", [model._meta.db_table])
        return indexes, set(cursor.fetchall())


def _orders(count, start=1):
    return HEADER + "".join(f"o{n},c{n % 7},2024-02-01 10:00,{n}.50,RUB,completed\n" for n in range(start, start + count))


@pytest.fixture
def bulk_from_ten(monkeypatch):
    """Bulk from 10 rows; returns the tables each import loaded by the bulk path, in order."""
    monkeypatch.setattr(bulk_load, "BULK_FROM_ROWS", 10)
    real, taken = bulk_load.is_bulk, []

    def is_bulk(model, incoming):
        bulk = real(model, incoming)
        if bulk:
            taken.append(model)
        return bulk

    monkeypatch.setattr(bulk_load, "is_bulk", is_bulk)
    return taken


@pytest.fixture
def schema_before():
    return {model: _schema(model) for model in (Client, Purchase)}


def test_a_first_load_leaves_the_indexes_and_keys_as_they_were(bulk_from_ten, schema_before, write_csv,
                                                                run_command):
    path = write_csv("orders.csv", _orders(40))
    ok, out, _ = run_command("import_purchases", str(path))
    assert ok and "created 40" in out and "new bare clients 7" in out
    assert bulk_from_ten == [Client, Purchase]
    assert {model: _schema(model) for model in (Client, Purchase)} == schema_before
    # The keys hold again: the file's order id is unique, and an order needs its client.
    with pytest.raises(IntegrityError), transaction.atomic():
        Purchase.objects.create(external_id="o1", client=Client.objects.first(), amount=1,
                                purchased_at="2024-02-01T10:00Z")
    with pytest.raises(IntegrityError), transaction.atomic():
        Purchase.objects.create(external_id="o-x", client_id=10**9, amount=1, purchased_at="2024-02-01T10:00Z")

    ok, out, _ = run_command("import_purchases", str(path))
    assert ok and "created 0, updated 0, unchanged 40" in out, "a re-import stays a no-op"
    assert bulk_from_ten == [Client, Purchase], "a re-import takes the ordinary path"


def test_a_first_load_that_fails_midway_writes_nothing_and_brings_the_indexes_back(
        bulk_from_ten, schema_before, write_csv, run_command, monkeypatch):
    real_upsert = staging.upsert

    def upsert_then_fail(stage, target, params):
        result = real_upsert(stage, target, params)
        if target.model is Purchase:  # the clients are in, the orders too, their indexes not built yet
            raise OperationalError("server closed the connection unexpectedly")
        return result

    monkeypatch.setattr(staging, "upsert", upsert_then_fail)
    with pytest.raises(OperationalError):
        run_command("import_purchases", str(write_csv("orders.csv", _orders(40))))
    assert bulk_from_ten == [Client, Purchase]
    assert not Purchase.objects.exists() and not Client.objects.exists()
    assert {model: _schema(model) for model in (Client, Purchase)} == schema_before


def test_a_load_into_a_table_not_nearly_empty_takes_the_ordinary_path(bulk_from_ten, write_csv, run_command):
    run_command("import_purchases", str(write_csv("first.csv", _orders(40))))
    assert not bulk_load.is_bulk(Purchase, 400), "40 held: not under a tenth of 400"
    assert bulk_load.is_bulk(Purchase, 410)
    assert not bulk_load.is_bulk(Purchase, 5), "below BULK_FROM_ROWS nothing is counted or locked"
    ok, out, _ = run_command("import_purchases", str(write_csv("more.csv", _orders(30, start=41))))
    assert ok and "created 30" in out
    assert Purchase.objects.count() == 70
