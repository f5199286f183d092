"""The snapshot's history by month (analytics/history.py): a night recomputes only the months that
changed, and what it stores equals a full rebuild's, figure for figure."""

import random
from decimal import Decimal

import pytest

from analytics.models import ActiveMonth, ClientMonth, MonthPiece
from analytics.precompute import build_snapshot
from crm.models import Activity, Client, Purchase
from privacy.personal_data import erase_client

from .conftest import at

NOT_FIGURES = ("seconds", "recomputed")  # how long it took and what it recomputed differ by design


def figures(snapshot):
    return {k: v for k, v in snapshot.data.items() if k not in NOT_FIGURES}


def stored():
    """Every row of the history's tables, in one order."""
    return (sorted(MonthPiece.objects.values_list("month", "orders_print", "activity_print", "data")),
            sorted(ClientMonth.objects.values_list("client_id", "month", "orders", "cents", "first_at",
                                                   "last_at", "channel", "prev_month", "prev_last_at",
                                                   "next_month", "first_month")),
            sorted(ActiveMonth.objects.values_list("client_id", "month", "ordered", "visited", "prev_month")))


def next_night(snapshot):
    """The incremental snapshot, then a full rebuild: both stored states, and what was recomputed."""
    incremental = build_snapshot(snapshot.run)
    tables = stored()
    full = build_snapshot(snapshot.run, full=True)
    return incremental, tables, full


def client(name):
    return Client.objects.get(external_id=name)


def order(name, day, amount, number):
    return Purchase.objects.create(external_id=number, client=client(name), purchased_at=at(day),
                                   amount=Decimal(amount))


def move_to_email(name):
    moved = client(name)
    moved.acquisition_channel = "email"
    moved.save()  # as the admin and the import do: updated_at moves


CHANGES = {
    "a new order in the current month": lambda: order("B", "2026-03-25", 70, "N1"),
    "a refund of an old order": lambda: Purchase.objects.filter(external_id="O4").update(
        status=Purchase.Status.REFUNDED),
    "an order imported late with an old date": lambda: order("A", "2025-11-03", 30, "L1"),
    "an edited amount": lambda: Purchase.objects.filter(external_id="O1").update(amount=Decimal("55.50")),
    "a deleted order": lambda: Purchase.objects.filter(external_id="O3").delete(),
    "a deleted client": lambda: client("C").delete(),
    "an erased client": lambda: erase_client(client("A")),
    "a visit in a new month": lambda: Activity.objects.create(client=client("D"), kind="session",
                                                              occurred_at=at("2026-03-11")),
    "a changed acquisition channel": lambda: move_to_email("A"),
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_night_after_a_change_stores_what_a_full_rebuild_stores(small_shop, change):
    CHANGES[change]()
    incremental, tables, full = next_night(small_shop)
    assert figures(incremental) == figures(full)
    assert tables == stored()


def test_every_change_at_once_gives_the_full_rebuild(small_shop):
    for change in CHANGES.values():
        change()
    Activity.objects.create(client=client("B"), kind="login", occurred_at=at("2025-12-02"))
    incremental, tables, full = next_night(small_shop)
    assert figures(incremental) == figures(full)
    assert tables == stored()
    assert incremental.data["channels"]["email"]["revenue"] != [0, 0, 0, 0]


def test_a_changed_channel_moves_the_clients_revenue(small_shop):
    move_to_email("A")
    incremental, tables, full = next_night(small_shop)
    assert incremental.data["recomputed"] == ["2026-01", "2026-03"]  # A's months
    assert incremental.data["channels"]["email"]["revenue"] == [0, 150, 0, 150]
    assert figures(incremental) == figures(full)


def test_a_night_without_changes_recomputes_no_month(small_shop):
    assert small_shop.data["recomputed"] == ["2025-12", "2026-01", "2026-02", "2026-03"]  # the first: all
    again = build_snapshot(small_shop.run)
    assert again.data["recomputed"] == []
    assert figures(again) == figures(small_shop)


def test_a_new_order_recomputes_its_month_and_the_clients_previous_order_month_only(small_shop):
    order("B", "2026-03-25", 70, "N1")  # B's previous order: February, whose next month changes
    assert build_snapshot(small_shop.run).data["recomputed"] == ["2026-02", "2026-03"]
    order("A", "2026-03-26", 10, "N2")  # A ordered in March already: only March's row changes
    assert build_snapshot(small_shop.run).data["recomputed"] == ["2026-03"]


def test_a_late_order_with_an_old_date_moves_the_clients_cohort(small_shop):
    order("B", "2025-12-20", 30, "L1")  # B's first order now in December: every month of B's changes
    snapshot = build_snapshot(small_shop.run)
    assert snapshot.data["recomputed"] == ["2025-12", "2026-02"]
    assert snapshot.data["cohorts"][0][:3] == [2, 0, 1]  # C and B in December's cohort; B again in February


def test_a_visit_in_a_month_the_client_was_already_active_recomputes_nothing(small_shop):
    Activity.objects.create(client=client("D"), kind="login", occurred_at=at("2026-02-20"))
    assert build_snapshot(small_shop.run).data["recomputed"] == []


def test_random_changes_on_a_random_shop_give_the_full_rebuild(small_shop):
    """Many clients and months, then changes of every kind spread over them."""
    rng = random.Random(7)
    shop = [Client.objects.create(external_id=f"R{i}", acquisition_channel=rng.choice(["ads", "organic", ""]))
            for i in range(40)]
    days = [f"{year}-{month:02d}-{day:02d}" for year, month in ((2025, m) for m in range(1, 13))
            for day in (3, 17)] + ["2026-01-05", "2026-02-14", "2026-03-09", "2026-03-30"]
    for i in range(300):
        Purchase.objects.create(external_id=f"RO{i}", client=rng.choice(shop), purchased_at=at(rng.choice(days)),
                                amount=Decimal(rng.randint(1, 500)), status=rng.choice(["completed"] * 9 + ["refunded"]))
    for i in range(100):
        Activity.objects.create(client=rng.choice(shop), kind="session", occurred_at=at(rng.choice(days), i % 24))
    base = build_snapshot(small_shop.run, full=True)
    assert len(base.data["months"]) == 15
    for i in range(6):
        Purchase.objects.create(external_id=f"RN{i}", client=rng.choice(shop), purchased_at=at(rng.choice(days)),
                                amount=Decimal(rng.randint(1, 500)))
    Purchase.objects.filter(external_id__in=[f"RO{rng.randrange(300)}" for _ in range(6)]).update(
        status=Purchase.Status.REFUNDED)
    Purchase.objects.filter(external_id__in=[f"RO{rng.randrange(300)}" for _ in range(4)]).delete()
    Purchase.objects.filter(external_id=f"RO{rng.randrange(300)}").update(purchased_at=at("2024-12-24"))
    Activity.objects.filter(pk__in=list(Activity.objects.values_list("pk", flat=True)[:5])).delete()
    shop[3].delete()
    shop[5].acquisition_channel = "email"
    shop[5].save()
    incremental, tables, full = next_night(base)
    assert incremental.data["recomputed"]
    assert figures(incremental) == figures(full)
    assert tables == stored()
