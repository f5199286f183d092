"""The aggregates of the nightly run agree with the plain reference in tests/segments/oracles.py."""

import datetime as dt

import numpy as np
import pytest

from core import scan
from crm.models import Activity, Client, Purchase
from nightly import pipeline
from segments import aggregates

from . import oracles

pytestmark = pytest.mark.django_db


# A few pages per range: the shop is read in many ranges of pages, as a big one is.
@pytest.mark.parametrize("pages", [scan.PAGES, 2])
def test_aggregates_match_the_reference_at_every_cut_off(demo_shop, monkeypatch, pages):
    monkeypatch.setattr(scan, "PAGES", pages)
    cut = pipeline.cut_of(demo_shop)
    points = [cut, cut - 90, cut - 365]
    ids, first_seen = aggregates.client_ids(cut)
    at, windows = aggregates.load(ids, first_seen, cut).at(
        points, [(cut - 90, cut, "orders"), (cut - 365, cut, "revenue")])

    orders = list(Purchase.objects.filter(status="completed").values_list("client_id", "purchased_at", "amount"))
    events = list(Activity.objects.values_list("client_id", "occurred_at"))
    index = {pk: i for i, pk in enumerate(ids.tolist())}
    o_client = np.array([index[c] for c, _, _ in orders])
    o_time = np.array([aggregates.epoch_days(t) for _, t, _ in orders])
    o_amount = np.array([float(a) for _, _, a in orders])
    a_client = np.array([index[c] for c, _ in events])
    a_time = np.array([aggregates.epoch_days(t) for _, t in events])
    # The reference counts "at or before as_of"; the run counts "before the cut". No demo event
    # falls exactly on a cut, so a hair's shift makes the two the same.
    eps = 1e-9
    for point, sql in zip(points, at):
        ref = oracles.aggregates_at(o_client, o_time, o_amount, a_client, a_time, ids.size, point - eps, first_seen)
        for key in oracles.AGGREGATE_KEYS:
            assert np.allclose(sql[key], ref[key], equal_nan=True, atol=1e-6), key
    assert np.array_equal(windows[0], oracles.window_orders(o_client, o_time, ids.size, cut - 90 - eps, 90))
    assert np.allclose(windows[1], oracles.window_revenue(o_client, o_time, o_amount, ids.size, cut - 365 - eps, 365))
    assert windows[0].sum() > 0 and at[0]["activity_30"].sum() > 0


def test_as_of_leaves_out_rows_from_the_next_day(buy, act):
    buy("c1", "2026-01-10", 100)
    buy("c1", "2026-02-02", 700)  # after as-of 2026-02-01
    act("c1", "2026-02-01")
    act("c1", "2026-02-02")
    cut = pipeline.cut_of(dt.date(2026, 2, 1))
    ids, first_seen = aggregates.client_ids(cut)
    (current,), _ = aggregates.load(ids, first_seen, cut).at([cut])
    assert current["frequency"].tolist() == [1] and current["monetary"].tolist() == [100.0]
    assert current["activity_30"].tolist() == [1]


def test_a_row_at_the_cut_itself_belongs_to_the_next_day(buy):
    day = dt.date(2026, 2, 1)
    cut = aggregates.cut_time(day)
    buy("c1", "2026-01-10", 100)
    for at, amount in ((cut - dt.timedelta(microseconds=1), 5), (cut, 700)):
        Purchase.objects.create(external_id=f"at-{amount}", client=Client.objects.get(external_id="c1"),
                                purchased_at=at, amount=amount)
    ids, first_seen = aggregates.client_ids(pipeline.cut_of(day))
    events = aggregates.load(ids, first_seen, pipeline.cut_of(day))
    (current,), _ = events.at([pipeline.cut_of(day)])
    assert current["frequency"].tolist() == [2] and current["monetary"].tolist() == [105.0]
    assert current["last_time"][0] == pytest.approx(aggregates.epoch_days(cut) - 1e-6 / 86400, abs=1e-9)
    with pytest.raises(ValueError, match="after the rows that were read"):
        events.at([pipeline.cut_of(day) + 1])


def test_orders_of_a_client_first_seen_after_as_of_do_not_land_on_another_client(buy):
    # A guest order placed before the client signed up (first seen after the as-of day).
    buy("a", "2026-01-05", 10)
    guest = buy("b", "2026-01-10", 999).client
    buy("c", "2026-01-12", 20)
    Client = type(guest)
    Client.objects.filter(pk=guest.pk).update(first_seen=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    cut = pipeline.cut_of(dt.date(2026, 2, 1))
    ids, first_seen = aggregates.client_ids(cut)
    (current,), _ = aggregates.load(ids, first_seen, cut).at([cut])
    monetary = dict(zip(ids.tolist(), current["monetary"].tolist()))
    assert guest.pk not in monetary
    assert sorted(monetary.values()) == [10.0, 20.0]


@pytest.mark.parametrize("ids", [[3, 4, 7, 9], [3, 4, 7, 9_000_000_000]], ids=["dense", "sparse"])
def test_a_position_is_the_clients_index_and_an_unknown_client_has_none(ids):
    # Dense ids are looked up in a table indexed by id, sparse ones by binary search: the same answers.
    position = aggregates._positions(np.array(ids))
    asked = np.array([9, 3, 5, 0, 7, 4, 10, -2, 9_000_000_001, ids[-1]])
    expected = [ids.index(c) if c in ids else -1 for c in asked.tolist()]
    assert position(asked).tolist() == expected
    assert aggregates._positions(np.array([], dtype=np.int64))(asked).tolist() == [-1] * asked.size
