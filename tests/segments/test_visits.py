"""The visit measures: derived and given sessions, as of a cut-off, against the plain reference."""

import datetime as dt

import numpy as np
import pytest

from crm.models import Activity, Client
from nightly import pipeline
from segments import aggregates, visits

from . import oracles

MINUTE, DAY = 60_000_000, visits.DAY


def _trail(rows):
    columns = [np.array(c) for c in zip(*rows, strict=True)] if rows else [np.zeros(0)] * 6
    client, occurred, start, seconds, pages, code = columns
    return visits.Trail.sorted([client.astype(np.int64), occurred.astype(np.int64), start.astype(np.int64),
                                seconds.astype(float), pages.astype(float), code])


def _measures(rows, orders, n, cut, gap=30, bounce=10):
    o_client = np.array([c for c, _ in orders], dtype=np.int64)
    o_time = np.array([t for _, t in orders], dtype=np.int64)
    return visits.measures(_trail(rows), o_client, o_time, cut, n, gap, bounce)


def test_page_views_become_visits_split_by_the_inactivity_gap():
    cut = 1000 * DAY
    t = cut - 2 * DAY
    hits = [(0, t, t, np.nan, np.nan, 0), (0, t + 10 * MINUTE, t + 10 * MINUTE, np.nan, np.nan, 0),
            (0, t + 39 * MINUTE, t + 39 * MINUTE, np.nan, np.nan, 0),  # 29 minutes later: same visit
            (0, t + 80 * MINUTE, t + 80 * MINUTE, np.nan, np.nan, 0)]  # 41 minutes later: a new one, a bounce
    m = _measures(hits, [(0, t + 100 * MINUTE)], 1, cut)
    assert m["visits_30"].tolist() == [2]
    assert m["visit_seconds"][0] == pytest.approx((39 * 60 + 0) / 2)
    assert m["bounce_rate"][0] == 0.5
    assert m["visit_gap_days"][0] == pytest.approx(80 / 1440)
    assert m["visit_conversion"][0] == 0.5  # the order came 20 minutes after the second visit
    # With a 60-minute gap the four page views are one visit.
    assert _measures(hits, [], 1, cut, gap=60)["visits_30"].tolist() == [1]


def test_a_client_with_sessions_is_measured_by_them_alone_and_the_cut_off_hides_the_future():
    cut = 1000 * DAY
    t = cut - 40 * DAY
    rows = [(0, t, t - 5 * MINUTE, 300.0, 5.0, 1), (0, t + 1, t + 1, np.nan, np.nan, 0),  # a hit: ignored
            (0, t + 30 * DAY, t + 30 * DAY, 4.0, 3.0, 2),  # short: a bounce, converted by its target action
            (0, cut, cut, 1000.0, 9.0, 1)]  # at the cut: tomorrow's
    m = _measures(rows, [], 1, cut)
    assert (m["visits_30"][0], m["visits_90"][0]) == (1, 2)
    assert m["visit_seconds"][0] == 152.0 and m["bounce_rate"][0] == 0.5 and m["visit_conversion"][0] == 0.5
    none = _measures([], [], 2, cut)
    assert none["visits_90"].tolist() == [0, 0] and np.isnan(none["visit_seconds"]).all()


def test_the_measures_match_the_plain_reference_on_random_trails():
    rng = np.random.default_rng(3)
    n, cut = 40, 2000 * DAY
    rows = []
    for client in range(n):
        sessions = rng.random() < 0.4
        for _ in range(rng.integers(0, 30)):
            occurred = int(cut - rng.uniform(-5, 400) * DAY)
            if sessions:
                seconds = rng.choice([np.nan, rng.uniform(0, 900)])
                pages = rng.choice([np.nan, float(rng.integers(0, 8))])
                start = occurred - int(rng.uniform(0, 20) * MINUTE) if rng.random() < 0.5 else occurred
                rows.append((client, occurred, start, seconds, pages, int(rng.integers(1, 3))))
            else:
                rows.append((client, occurred, occurred, np.nan, np.nan, 0))
                rows.append((client, occurred + int(rng.uniform(0, 50) * MINUTE), 0, np.nan, np.nan, 0))
                rows[-1] = (client, rows[-1][1], rows[-1][1], np.nan, np.nan, 0)
    orders = [(int(c), int(cut - rng.uniform(-5, 120) * DAY)) for c in rng.integers(0, n, 200)]
    got = _measures(rows, orders, n, cut)
    ref = oracles.visit_measures(rows, orders, n, cut, 30, 10)
    for name in visits.MEASURES:
        assert np.allclose(got[name], ref[name], equal_nan=True), name
    assert np.nansum(ref["visit_conversion"]) > 0 and np.isfinite(ref["visit_gap_days"]).sum() > 5


@pytest.mark.django_db
def test_the_night_reads_sessions_from_the_database():
    as_of = dt.date(2025, 6, 30)
    client = Client.objects.create(external_id="c1")
    at = dt.datetime(2025, 6, 20, 12, 0, tzinfo=dt.UTC)
    Activity.objects.create(client=client, kind="session", occurred_at=at, properties={
        "started_at": (at - dt.timedelta(minutes=10)).isoformat(), "duration_seconds": 600, "pages": 7,
        "target_action": "signup"})
    Activity.objects.create(client=client, kind="session", occurred_at=at + dt.timedelta(days=1),
                            properties={"pages": 1, "target_action": False})
    Activity.objects.create(client=client, kind="login", occurred_at=at + dt.timedelta(days=2))
    cut = pipeline.cut_of(as_of)
    ids, first_seen = aggregates.client_ids(cut)
    (current,), _ = aggregates.load(ids, first_seen, cut).at([cut])
    assert current["visits_30"].tolist() == [2] and current["activity_30"].tolist() == [3]
    assert current["visit_seconds"].tolist() == [600.0] and current["bounce_rate"].tolist() == [0.5]
    assert current["visit_conversion"].tolist() == [0.5]
    assert current["visit_gap_days"][0] == pytest.approx(1 + 10 / 1440)


@pytest.mark.django_db
def test_the_visit_columns_follow_the_properties_however_they_are_written():
    client = Client.objects.create(external_id="c1")
    at = dt.datetime(2025, 6, 20, 12, 0, tzinfo=dt.UTC)
    row = Activity.objects.create(client=client, kind="session", occurred_at=at, properties={"pages": 3})
    # Edited by other means than the checked paths: an SQL update, a start in a form nobody normalised.
    Activity.objects.filter(pk=row.pk).update(properties={"started_at": "20/06/2025 11:50", "duration_seconds": 40,
                                                          "target_action": True})
    row = Activity.objects.values("visit_start", "visit_seconds", "visit_pages", "visit_code").get(pk=row.pk)
    assert row == {"visit_start": None, "visit_seconds": 40.0, "visit_pages": None, "visit_code": 2}
    cut = pipeline.cut_of(dt.date(2025, 6, 30))
    ids, first_seen = aggregates.client_ids(cut)
    trail = aggregates.load(ids, first_seen, cut).trail
    assert trail.start.tolist() == trail.occurred.tolist() == [aggregates.micros(aggregates.epoch_days(at))]
