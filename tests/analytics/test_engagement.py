"""The engagement dashboard: the visit measures by month, channel and segment, LTV by quartile, and
rank correlations with next-period revenue, worked out by hand on a small shop."""

import csv
import datetime as dt
import io
from decimal import Decimal

import numpy as np
import pytest
from django.urls import reverse
from django.utils import translation

from analytics import engagement
from analytics.models import Snapshot
from analytics.precompute import build_snapshot
from crm.models import Activity, Client, Purchase
from nightly.pipeline import rebuild_segments

AS_OF = dt.date(2026, 3, 31)


def at(text):
    return dt.datetime.fromisoformat(text + "+00:00")


@pytest.fixture
def visits_shop(db, settings):
    """E (ads) sends sessions in February: 100 s and 3 pages with an order 5 minutes in, then 8 s and
    1 page (a bounce) four days later. F (organic) sends page views in March: 10:00, 10:05 (one visit of
    300 s), then 10:50 (a visit of one page: a bounce)."""
    settings.TIME_ZONE = "UTC"
    e = Client.objects.create(external_id="E", acquisition_channel="ads")
    f = Client.objects.create(external_id="F", acquisition_channel="organic")
    for when, seconds, pages in (("2026-02-03T10:00", 100, 3), ("2026-02-07T10:00", 8, 1)):
        Activity.objects.create(client=e, kind="session", occurred_at=at(when),
                                properties={"duration_seconds": seconds, "pages": pages})
    Purchase.objects.create(external_id="O1", client=e, purchased_at=at("2026-02-03T10:05"), amount=Decimal(500))
    for when in ("2026-03-10T10:00", "2026-03-10T10:05", "2026-03-10T10:50"):
        Activity.objects.create(client=f, kind="page_view", occurred_at=at(when))
    return build_snapshot(rebuild_segments(AS_OF))


def test_the_measures_by_month_are_worked_out_from_the_visits(visits_shop):
    data = visits_shop.data
    months = data["engagement"]["months"]
    feb, mar = data["months"].index("2026-02"), data["months"].index("2026-03")
    assert (months["visits"][feb], months["visitors"][feb], months["visits"][mar]) == (2, 1, 2)
    assert (months["seconds"][feb], months["seconds"][mar]) == (54.0, 150.0)
    assert months["bounce_rate"][feb] == 0.5 and months["bounce_rate"][mar] == 0.5
    assert months["conversion"][feb] == 0.5 and months["conversion"][mar] == 0.0
    assert months["gap_days"][feb] == 4.0 and months["gap_days"][mar] == pytest.approx(50 / 1440)


def test_the_measures_by_channel_average_the_clients_scores(visits_shop):
    channel = {row[0]: row for row in visits_shop.data["engagement"]["channel"]}
    # visits_30 (March only for F), visits_90, seconds, bounce, gap, conversion
    assert channel["organic"][1:] == [1, 2.0, 2.0, 150.0, 0.5, pytest.approx(50 / 1440, abs=0.005), 0.0]
    assert channel["ads"][1:] == [1, 0.0, 2.0, 54.0, 0.5, 4.0, 0.5]


def test_quartile_bands_keep_equal_values_together():
    assert engagement.quartile_bands(np.arange(8.0)).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert engagement.quartile_bands(np.array([0, 0, 0, 0, 0, 0, 5, 9, np.nan])).tolist() == [0] * 6 + [3, 3, -1]


def test_the_rank_correlation_and_its_interval():
    rng = np.random.default_rng(1)
    x = rng.normal(size=4000)
    rho, low, high, n = engagement.spearman(x, x + rng.normal(size=4000))
    assert n == 4000 and low < rho < high and 0.65 < rho < 0.72 and high - low < 0.04
    # Independent columns: the 95% interval covers 0 about 95 times in 100.
    covered = [low < 0 < high for _, low, high, _ in (engagement.spearman(rng.normal(size=200), rng.normal(size=200))
                                                      for _ in range(400))]
    assert 0.92 <= np.mean(covered) <= 0.98
    assert engagement.spearman(np.ones(50), x[:50])[0] is None


def test_the_page_and_its_csv_in_both_languages(client, visits_shop, analyst):
    client.force_login(analyst)
    page = client.get(reverse("admin:analytics_engagement"), {"from": "2026-01", "to": "2026-03"}).content.decode()
    for title in ("Visits by month", "LTV by quartile of each visit measure",
                  "How each visit measure goes with next-period revenue", "Visit measures by segment"):
        assert title in page
    response = client.get(reverse("admin:analytics_csv", args=["engagement-ltv"]), {"from": "2026-01", "to": "2026-03"})
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["measure: quartile (range)", "clients", "paying clients", "revenue per client, RUB",
                       "predicted value per client, RUB"]
    seconds = [row for row in rows[1:] if row[0].startswith("average seconds per visit")]
    assert [(row[0], row[1], row[3]) for row in seconds] == [
        ("average seconds per visit: Q1 (54.0 – 54.0)", "1", "500.0"),
        ("average seconds per visit: Q3 (150.0 – 150.0)", "1", "0.0")]
    with translation.override("ru"):
        page = client.get(reverse("admin:analytics_engagement"), HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "Визиты по месяцам" in page


def test_a_snapshot_from_before_the_measures_shows_empty_charts(client, visits_shop, analyst):
    Snapshot.objects.update(data={**visits_shop.data, "engagement": None})
    client.force_login(analyst)
    page = client.get(reverse("admin:analytics_engagement")).content.decode()
    assert page.count("No data for this period.") == 6
