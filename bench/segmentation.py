"""How long the nightly rebuild takes, against a plain SQL single-pass RFM in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_bench_segments \\
        .venv/bin/python bench/segmentation.py [--clients 1000000] [--purchases 10000000]
        [--activity 2000000] [--sessions 5000000] [--keep]
    CRM_VAR_DIR=var/bench .venv/bin/python bench/segmentation.py --clients 100000 --purchases 1000000

It generates (or, with --keep and matching sizes, reuses) a shop in SQL (generate_series):
clients, completed and refunded purchases over three years with skewed buying (some clients buy
often, most rarely), activity, and sessions with their properties (start, duration, pages, channel,
target action; segments/visits.py measures them). Then, on the same data:

  (a) baseline: one SQL statement that aggregates purchases per client (GROUP BY), scores R, F and
      M with NTILE window functions and writes one score row per client into a table; timed before
      and after the nights, the faster of the two counts;
  (b) `rebuild_segments(as_of)`: aggregates at the as-of day and past cut-offs, RFM, churn and
      value models learned and back-tested, engagement, scores written, segments updated.

It prints both times, the ratio (b) / (a) (target: at most 3), the seconds per stage and the peak
RSS of this process (target: at most 2 GB). It exits 0: a report, not a test. Before each night,
untimed, it vacuums and analyses the segments tables as autovacuum would between two nights.

THIS EMPTIES THE DATABASE. It refuses unless the database name contains "bench"
(override with --force).
"""

import argparse
import datetime as dt
import sys
import time

import django_setup  # first: puts the repository on the path and sets Django up
from django.core.management import call_command

from analytics.precompute import build_snapshot
from core.sql import execute, rows, table
from crm.models import Activity, Client, Purchase, PurchaseItem
from loyalty.models import ExpiryProgress, PointRule, PointsEntry, Tier
from nightly.pipeline import rebuild_segments
from segments.models import ClientScore, ScoringRun, Segment, SegmentMembership, SegmentSize
from segments.signals import run_succeeded

AS_OF = dt.date(2026, 6, 30)
BASELINE = "bench_baseline_scores"
SHOP = [Client, Purchase, PurchaseItem, Activity]
SCORES = [SegmentSize, SegmentMembership, ClientScore, ScoringRun]
LOYALTY = [PointsEntry, ExpiryProgress, PointRule, Tier]


def tables(models):
    return ", ".join(table(model) for model in models)


def generate(clients, purchases, activity, sessions):
    """A shop whose clients buy at very different rates, over three years up to AS_OF."""
    execute(f"TRUNCATE {tables(SHOP + SCORES)} RESTART IDENTITY CASCADE")
    execute("SELECT setseed(0.42)")
    end = f"TIMESTAMPTZ '{AS_OF.isoformat()} 20:00:00+00'"
    execute(f"""INSERT INTO {table(Client)} (external_id, email, phone, first_name, last_name, city, country, zip,
              gender, acquisition_channel, first_seen, email_consent, email_consent_source, ads_consent,
              created_at, updated_at)
            SELECT 'C' || g, 'c' || g || '@example.com', '', '', '', '', 'RU', '', '', 'organic',
                   {end} - (random() * 1095) * INTERVAL '1 day', random() < 0.7, '', random() < 0.6, now(), now()
            FROM generate_series(1, %s) g""", [clients])
    # power(random(), 3) piles orders onto low client ids: a few heavy buyers, a long tail.
    # An order's time is no earlier than its client's first_seen.
    execute(f"""INSERT INTO {table(Purchase)} (external_id, client_id, purchased_at, amount, currency, status)
            SELECT 'O' || g, x.cid, c.first_seen + (random() * 0.999) * ({end} - c.first_seen),
                   round((200 + random() * 5000)::numeric, 2), 'RUB',
                   CASE WHEN random() < 0.04 THEN 'refunded' ELSE 'completed' END
            FROM (SELECT g, 1 + floor(power(random(), 3) * %s)::bigint AS cid FROM generate_series(1, %s) g) x
            JOIN {table(Client)} c ON c.id = x.cid""", [clients, purchases])
    execute(f"""INSERT INTO {table(Activity)} (client_id, kind, occurred_at, properties)
            SELECT DISTINCT ON (x.cid, t) x.cid, 'session', t, '{{}}'::jsonb FROM (
              SELECT 1 + floor(power(random(), 2) * %s)::bigint AS cid,
                     date_trunc('second', {end} - (random() * 400) * INTERVAL '1 day') AS t
              FROM generate_series(1, %s)) x""", [clients, activity])
    # Sessions ending at t: busier clients (low ids) visit more; a third bounce (one page, seconds).
    execute(f"""INSERT INTO {table(Activity)} (client_id, kind, occurred_at, properties)
            SELECT x.cid, 'session', x.t, jsonb_build_object(
                     'started_at', to_char((x.t - x.secs * INTERVAL '1 second') AT TIME ZONE 'UTC',
                                           'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'),
                     'duration_seconds', x.secs, 'pages', x.pages,
                     'channel', CASE WHEN x.r < 0.3 THEN 'app' ELSE 'web' END)
                   || CASE WHEN x.r < 0.08 THEN '{{"target_action": "add_to_cart"}}'::jsonb ELSE '{{}}'::jsonb END
            FROM (SELECT 1 + floor(power(random(), 2) * %s)::bigint AS cid,
                         date_trunc('second', {end} - (random() * 400) * INTERVAL '1 day') AS t,
                         CASE WHEN random() < 0.33 THEN 1 + floor(random() * 9) ELSE 10 + floor(random() * 900) END
                           AS secs,
                         1 + floor(random() * 8) AS pages, random() AS r
                  FROM generate_series(1, %s)) x
            ON CONFLICT DO NOTHING""", [clients, sessions])
    execute(f"ANALYZE {tables([Client, Purchase, Activity])}")


def baseline():
    execute(f"DROP TABLE IF EXISTS {BASELINE}")
    started = time.monotonic()
    execute(f"""CREATE TABLE {BASELINE} AS
            SELECT client_id, recency, frequency, monetary,
                   NTILE(5) OVER (ORDER BY recency DESC) AS r,
                   NTILE(5) OVER (ORDER BY frequency) AS f,
                   NTILE(5) OVER (ORDER BY monetary) AS m
            FROM (SELECT client_id, %s::date - MAX(purchased_at)::date AS recency, COUNT(*) AS frequency,
                         SUM(amount) AS monetary
                  FROM {table(Purchase)} WHERE status = 'completed' AND purchased_at < %s
                  GROUP BY client_id) a""",
        [AS_OF, AS_OF + dt.timedelta(days=1)])
    return time.monotonic() - started


def housekeeping():
    """What autovacuum does between two nights a day apart, done here (untimed) because a bench
    server may run without it: reclaim the rows the last night deleted and refresh the statistics
    (without them the planner takes the millions of memberships of the first night for none)."""
    execute(f"VACUUM ANALYZE {tables(SCORES)}")


def loyalty_programme():
    """Rules for the bench's activity (sessions) and orders, and three tiers: what a shop with a
    programme runs every night."""
    starts, common = AS_OF - dt.timedelta(days=730), {"expires_after_days": 365}
    PointRule.objects.create(name="session", activity_kind="session", points=5, daily_cap=10, weekly_cap=40,
                             starts_on=starts, **common)
    PointRule.objects.create(name="orders", source="purchase", basis="per_amount", points=1, amount_unit=100,
                             starts_on=starts, **common)
    PointRule.objects.create(name="streak", source="streak", streak_days=3, points=30, starts_on=starts, **common)
    for rank, (slug, points, days) in enumerate((("bronze", 1, 0), ("silver", 100, 0), ("gold", 300, 5)), 1):
        Tier.objects.create(name=slug.title(), slug=slug, rank=rank, min_points=points, min_active_days=days)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--clients", type=int, default=1_000_000)
    parser.add_argument("--purchases", type=int, default=10_000_000)
    parser.add_argument("--activity", type=int, default=2_000_000)
    parser.add_argument("--sessions", type=int, default=5_000_000, help="session rows with properties")
    parser.add_argument("--keep", action="store_true", help="reuse the data if the sizes match")
    parser.add_argument("--force", action="store_true", help="run even if the database name lacks 'bench'")
    parser.add_argument("--loyalty", action="store_true",
                        help="with point rules and tiers (the loyalty stage grants, expires and assigns tiers)")
    args = parser.parse_args()
    refusal = django_setup.refusal("bench/segmentation.py", "crm_bench_segments", args.force)
    if refusal:
        sys.exit(refusal)

    call_command("migrate", verbosity=0)
    have = rows(f"SELECT (SELECT COUNT(*) FROM {table(Client)}), (SELECT COUNT(*) FROM {table(Purchase)})")[0]
    if not (args.keep and have == (args.clients, args.purchases)):
        started = time.monotonic()
        generate(args.clients, args.purchases, args.activity, args.sessions)
        print(f"generated {args.clients:,} clients, {args.purchases:,} purchases, "
              f"{args.activity:,} activity rows and up to {args.sessions:,} sessions "
              f"in {time.monotonic() - started:.0f} s")
    # Every measurement starts from a shop that was never scored. TRUNCATE: DELETE would leave the
    # previous measurement's millions of dead rows in the tables and their indexes for this one to
    # wade through (a bench server may run without autovacuum).
    execute(f"TRUNCATE {tables(SCORES + LOYALTY)} CASCADE")
    execute(f"DELETE FROM {table(Segment)} WHERE kind = %s", [Segment.Kind.TIER])
    if args.loyalty:
        loyalty_programme()

    # The baseline runs once before the nights and once after; the faster run counts (the
    # stricter ratio): a shared machine slows one run or the other, never speeds one up.
    base = baseline()
    print(f"baseline (GROUP BY + NTILE + one row per client): {base:8.1f} s")
    nights = []
    # The first night fills every segment from nothing; later nights write only who moved.
    # With Redis the dashboards' snapshot is a task of its own after the run; without it (here) Celery
    # would compute it inside rebuild_segments. It is timed apart, once, and not in the ratio.
    run_succeeded.disconnect(dispatch_uid="analytics.queue_snapshot")
    for label, as_of in (("first night", AS_OF), ("next night", AS_OF + dt.timedelta(days=1))):
        housekeeping()
        started = time.monotonic()
        run = rebuild_segments(as_of)
        nights.append((label, time.monotonic() - started, run.stage_seconds))
    night_peak_mb = django_setup.peak_rss_mb()
    again = baseline()
    base = min(base, again)
    print(f"baseline again, after the nights:                 {again:8.1f} s; the faster, {base:.1f} s, counts")
    for label, ours, stages in nights:
        ratio = ours / base
        print(f"rebuild_segments, {label:11}                   {ours:8.1f} s  "
              f"({', '.join(f'{k} {v:.1f}' for k, v in stages.items())}); "
              f"ratio {ratio:.2f} (target <= 3: {'met' if ratio <= 3 else 'NOT met'})")
    started = time.monotonic()
    build_snapshot(run)
    print(f"analytics snapshot after the run (a task of its own): {time.monotonic() - started:8.1f} s")
    peak_mb = django_setup.peak_rss_mb()
    print(f"peak RSS {peak_mb:,.0f} MB (target <= 2048: {'met' if peak_mb <= 2048 else 'NOT met'}); "
          f"{night_peak_mb:,.0f} MB before the snapshot")
    churn, value = run.metrics["churn"], run.metrics["value"]
    print(f"churn: {churn.get('method')} AUC {churn.get('auc')} (recency {churn.get('baseline_auc')}); "
          f"value: {value.get('method')} MAE {value.get('mae')} (BG/NBD+GG {value.get('baseline_mae')})")


if __name__ == "__main__":
    main()
