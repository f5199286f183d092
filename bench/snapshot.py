"""How long the dashboards' snapshot takes in full, and on the next night when it recomputes only the
months that changed, against segmentation.py's plain SQL pass in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_bench_segments \\
        .venv/bin/python bench/snapshot.py [--day-share 0.001]

Run it on a database that bench/segmentation.py filled and scored (with --keep): it needs the
succeeded run as of segmentation.AS_OF. Then:

  (a) baseline: segmentation.py's plain SQL pass (GROUP BY + NTILE + one row per client), before
      and after; the faster counts;
  (b) the full snapshot of that run (`build_analytics --full`);
  (c) a day's worth of changes (untimed): new orders on the next day (--day-share of the orders,
      0.1% by default) and as many activity events, a refund of one order in ten thousand (of the
      last 60 days) and --late orders (5) imported late with dates up to 1,000 days back, each
      touching an old month; the run is cloned as the next night's (its scores
      copied: the night itself is segmentation.py's to time);
  (d) the next night's snapshot (incremental: the months that changed), then a full rebuild of the
      same night, and whether both stored the same figures.

It prints each time, the ratio to the baseline and the seconds per part. It exits 0: a report.
It changes the database (its changes are undone on the next run): it refuses unless the name
contains "bench" (override with --force).
"""

import argparse
import datetime as dt
import sys
import time

import django_setup  # first: puts the repository on the path and sets Django up
import segmentation
from django.core.management import call_command
from django.utils import timezone

from analytics.precompute import build_snapshot
from core.sql import execute, rows, table
from crm.models import Activity, Client, Purchase
from segments.models import ClientScore, ScoringRun

MARK = "BENCHSNAP"  # external ids of the orders this bench adds
KIND = "bench-snapshot"  # activity kind of the events it adds
REFUNDED = "bench_snapshot_refunded"  # the orders it refunded, with their status before
REFUND_DAYS = 60  # refunds are of orders of the last two months


def undo():
    """Take back what an earlier run of this bench changed."""
    execute(f"DELETE FROM {table(Purchase)} WHERE external_id LIKE %s", [MARK + "%"])
    execute(f"DELETE FROM {table(Activity)} WHERE kind = %s", [KIND])
    if rows("SELECT to_regclass(%s)", [REFUNDED])[0][0]:
        execute(f"UPDATE {table(Purchase)} p SET status = r.status FROM {REFUNDED} r WHERE p.id = r.id")
        execute(f"DROP TABLE {REFUNDED}")
    ScoringRun.objects.filter(as_of__gt=segmentation.AS_OF).delete()


def a_day_of_changes(share, late):
    """New orders and visits on the next day, refunds of recent orders, orders imported late with old dates."""
    orders = rows(f"SELECT COUNT(*) FROM {table(Purchase)}")[0][0]
    clients = rows(f"SELECT MAX(id) FROM {table(Client)}")[0][0]
    day = f"TIMESTAMPTZ '{(segmentation.AS_OF + dt.timedelta(days=1)).isoformat()} 00:00:00+00'"
    new = max(1, round(orders * share))
    execute("SELECT setseed(0.7)")
    execute(f"""INSERT INTO {table(Purchase)} (external_id, client_id, purchased_at, amount, currency, status)
            SELECT '{MARK}N' || g, 1 + floor(power(random(), 3) * %s)::bigint, {day} + random() * INTERVAL '20 hours',
                   round((200 + random() * 5000)::numeric, 2), 'RUB', 'completed'
            FROM generate_series(1, %s) g""", [clients, new])
    execute(f"""INSERT INTO {table(Activity)} (client_id, kind, occurred_at, properties)
            SELECT 1 + floor(power(random(), 2) * %s)::bigint, '{KIND}', {day} + g * INTERVAL '1 millisecond', '{{}}'
            FROM generate_series(1, %s) g""", [clients, new])
    rare = max(1, orders // 10_000)
    execute(f"CREATE TABLE {REFUNDED} AS SELECT id, status FROM {table(Purchase)} "
            f"WHERE status = 'completed' AND purchased_at >= {day} - %s * INTERVAL '1 day' AND id %% 97 = 0 LIMIT %s",
            [REFUND_DAYS, rare])
    execute(f"UPDATE {table(Purchase)} SET status = 'refunded' WHERE id IN (SELECT id FROM {REFUNDED})")
    execute(f"""INSERT INTO {table(Purchase)} (external_id, client_id, purchased_at, amount, currency, status)
            SELECT '{MARK}L' || g, 1 + floor(random() * %s)::bigint, {day} - (1 + random() * 1000) * INTERVAL '1 day',
                   round((200 + random() * 5000)::numeric, 2), 'RUB', 'completed'
            FROM generate_series(1, %s) g""", [clients, late])
    execute(f"ANALYZE {table(Purchase)}, {table(Activity)}")  # what autovacuum does in a day
    return new, rare, late


def next_run(run):
    """The run cloned as the next night's, its scores copied."""
    clone = ScoringRun.objects.create(as_of=run.as_of + dt.timedelta(days=1), status=ScoringRun.Status.SUCCEEDED,
                                      finished_at=timezone.now())
    columns = [f.column for f in ClientScore._meta.concrete_fields if not f.primary_key and f.column != "run_id"]
    listed = ", ".join(columns)
    execute(f"INSERT INTO {table(ClientScore)} (run_id, {listed}) SELECT %s, {listed} FROM {table(ClientScore)} "
            f"WHERE run_id = %s", [clone.pk, run.pk])
    return clone


def timed_snapshot(run, full):
    started = time.monotonic()
    snapshot = build_snapshot(run, full=full)
    return time.monotonic() - started, snapshot


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--day-share", type=float, default=0.001, help="new orders in a day, as a share of all")
    parser.add_argument("--late", type=int, default=5, help="orders imported late, dated up to 1,000 days back")
    parser.add_argument("--force", action="store_true", help="run even if the database name lacks 'bench'")
    args = parser.parse_args()
    refusal = django_setup.refusal("bench/snapshot.py", "crm_bench_segments", args.force)
    if refusal:
        sys.exit(refusal)
    call_command("migrate", verbosity=0)
    undo()
    run = ScoringRun.objects.current()
    if run is None or run.as_of != segmentation.AS_OF:
        sys.exit(f"No succeeded run as of {segmentation.AS_OF}: fill and score the shop with "
                 f"bench/segmentation.py --keep first.")
    counts = rows(f"SELECT (SELECT COUNT(*) FROM {table(Client)}), (SELECT COUNT(*) FROM {table(Purchase)}), "
                  f"(SELECT COUNT(*) FROM {table(Activity)})")[0]
    print(f"shop: {counts[0]:,} clients, {counts[1]:,} purchases, {counts[2]:,} activity rows; run as of "
          f"{run.as_of}; PostgreSQL {django_setup.server_version()}")

    base = segmentation.baseline()
    print(f"baseline (GROUP BY + NTILE + one row per client): {base:8.1f} s")
    results = []
    seconds, snapshot = timed_snapshot(run, full=True)
    results.append(("full snapshot, first night", seconds, snapshot))
    new, rare, late = a_day_of_changes(args.day_share, args.late)
    print(f"a day of changes: {new:,} new orders and activity events, {rare:,} refunds of orders of the last "
          f"{REFUND_DAYS} days, {late:,} orders imported late with old dates")
    following = next_run(run)
    seconds, incremental = timed_snapshot(following, full=False)
    results.append(("next night, incremental", seconds, incremental))
    seconds, full = timed_snapshot(following, full=True)
    results.append(("next night, full rebuild", seconds, full))
    again = segmentation.baseline()
    base = min(base, again)
    print(f"baseline again, after the snapshots:              {again:8.1f} s; the faster, {base:.1f} s, counts")
    for label, seconds, snapshot in results:
        parts = ", ".join(f"{k} {v:.1f}" for k, v in snapshot.data["seconds"].items())
        print(f"{label:27} {seconds:8.1f} s  ratio {seconds / base:5.2f}  "
              f"({len(snapshot.data['recomputed'])} months recomputed; {parts})")
    ignored = ("seconds", "recomputed")
    same = ({k: v for k, v in incremental.data.items() if k not in ignored}
            == {k: v for k, v in full.data.items() if k not in ignored})
    print(f"incremental and full rebuild stored the same figures: {'yes' if same else 'NO'}")
    print(f"peak RSS {django_setup.peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
