"""How long the analytics snapshot takes after a nightly run, and how fast each dashboard page and
chart CSV answers, on a big shop.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_bench_segments \\
        .venv/bin/python bench/analytics_pages.py [--answers 200000] [--repeat 5]

Run it on a database that bench/segmentation.py filled and scored (with --keep): it needs a
succeeded scoring run. It then gives the clients acquisition channels (by id, as the bench shop
has none), adds survey answers and a year of marketing spend per channel (once), computes the
snapshot (timed: the time the nightly run spends on it), and requests every page and every chart's
CSV through the Django test client as a staff user, several times each, printing the median and
the slowest. Target: every page under one second.

It changes the database: it refuses unless the name contains "bench" (override with --force).
"""

import argparse
import statistics
import sys
import time

import django_setup  # first: puts the repository on the path and sets Django up
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db import connection
from django.test import Client as TestClient
from django.test.utils import setup_test_environment
from django.urls import reverse

CHANNELS = ["organic", "yandex_direct", "google_ads", "vk_ads", "referral", "email", "meta_ads"]
PAGES = ["analytics_dashboard_changelist", "analytics_retention", "analytics_ltv", "analytics_surveys",
         "analytics_campaigns"]


def sql(statement, params=None):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else cursor.rowcount


def prepare(answers):
    channels = "ARRAY[" + ", ".join(f"'{c}'" for c in CHANNELS) + "]"
    if sql("SELECT COUNT(*) FROM crm_client WHERE acquisition_channel <> 'organic'")[0][0] == 0:
        sql(f"UPDATE crm_client SET acquisition_channel = ({channels})[1 + (id * 7919) % {len(CHANNELS)}]")
    if sql("SELECT COUNT(*) FROM crm_surveyanswer")[0][0] == 0:
        sql("SELECT setseed(0.17)")
        sql("""INSERT INTO crm_surveyanswer (client_id, kind, score, answered_at)
               SELECT DISTINCT ON (cid, kind, t) cid, kind, score, t FROM (
                 SELECT 1 + floor(random() * (SELECT MAX(id) FROM crm_client))::bigint AS cid,
                        CASE WHEN g %% 3 = 0 THEN 'csat' ELSE 'nps' END AS kind,
                        CASE WHEN g %% 3 = 0 THEN 1 + floor(random() * 5)::int ELSE floor(random() * 11)::int END
                          AS score,
                        date_trunc('second', TIMESTAMPTZ '2026-06-30 20:00:00+00' - random() * INTERVAL '365 days')
                          AS t
                 FROM generate_series(1, %s) g) x""", [answers])
    if sql("SELECT COUNT(*) FROM analytics_marketingspend")[0][0] == 0:
        sql("""INSERT INTO analytics_marketingspend (channel, month, amount, note, updated_at)
               SELECT c, m::date, round((100000 + random() * 400000)::numeric, 2), '', now()
               FROM unnest(%s::text[]) c, generate_series(DATE '2025-07-01', DATE '2026-06-01', INTERVAL '1 month') m
               WHERE c <> 'organic'""", [CHANNELS])
    sql("ANALYZE crm_client; ANALYZE crm_surveyanswer")
    user, _ = User.objects.get_or_create(username="bench-analyst", defaults={"is_staff": True})
    user.user_permissions.set([Permission.objects.get(content_type__app_label="analytics", codename="view_dashboard")])
    return user


def timed(client, url, repeat):
    seconds = []
    for _ in range(repeat):
        started = time.monotonic()
        response = client.get(url)
        seconds.append(time.monotonic() - started)
        if response.status_code != 200:
            sys.exit(f"{url}: HTTP {response.status_code}")
    return statistics.median(seconds), max(seconds), len(response.content)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--answers", type=int, default=200_000, help="survey answers to add (once)")
    parser.add_argument("--repeat", type=int, default=5, help="requests per page")
    parser.add_argument("--force", action="store_true", help="run even if the database name lacks 'bench'")
    args = parser.parse_args()
    refusal = django_setup.refusal("bench/analytics_pages.py", "crm_bench_segments", args.force)
    if refusal:
        sys.exit(refusal)
    call_command("migrate", verbosity=0)
    from analytics.precompute import build_snapshot
    from segments.models import ScoringRun

    run = ScoringRun.objects.current()
    if run is None:
        sys.exit("No succeeded scoring run: fill and score the shop with bench/segmentation.py --keep first.")
    user = prepare(args.answers)
    counts = sql("SELECT (SELECT COUNT(*) FROM crm_client), (SELECT COUNT(*) FROM crm_purchase), "
                 "(SELECT COUNT(*) FROM crm_activity), (SELECT COUNT(*) FROM crm_surveyanswer)")[0]
    print(f"shop: {counts[0]:,} clients, {counts[1]:,} purchases, {counts[2]:,} activity rows, "
          f"{counts[3]:,} survey answers; run as of {run.as_of}; PostgreSQL {django_setup.server_version()}")

    started = time.monotonic()
    snapshot = build_snapshot(run)
    print(f"snapshot (added to the nightly run): {time.monotonic() - started:.1f} s; "
          f"{len(str(snapshot.data)) / 1e6:.2f} MB of JSON; "
          f"{', '.join(f'{k} {v:.1f}' for k, v in snapshot.data['seconds'].items())}")

    setup_test_environment()
    settings.SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP
    client = TestClient()
    client.force_login(user)
    slowest = 0.0
    for name in PAGES:
        for query in ("", "?from=2024-01&to=2026-06"):
            url = reverse(f"admin:{name}") + query
            median, worst, size = timed(client, url, args.repeat)
            slowest = max(slowest, worst)
            print(f"  {url:60} median {median * 1000:6.0f} ms, slowest {worst * 1000:6.0f} ms, {size / 1e3:6.0f} kB")
    from analytics.reports import CSV_CHARTS

    for key in CSV_CHARTS:
        url = reverse("admin:analytics_csv", args=[key]) + "?from=2024-01&to=2026-06"
        median, worst, size = timed(client, url, args.repeat)
        slowest = max(slowest, worst)
        print(f"  {url:60} median {median * 1000:6.0f} ms, slowest {worst * 1000:6.0f} ms, {size / 1e3:6.0f} kB")
    print(f"slowest answer {slowest * 1000:.0f} ms (target < 1000: {'met' if slowest < 1 else 'NOT met'})")


if __name__ == "__main__":
    main()
