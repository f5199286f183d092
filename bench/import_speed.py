"""How fast the purchases CSV import is, against a plain PostgreSQL COPY of the same file.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_bench_import \\
        .venv/bin/python bench/import_speed.py [--rows 1000000] [--clients 200000] [--force]

It writes a deterministic purchases file (order_id,client_id,purchased_at,amount,currency,status)
to a temporary folder, then measures in the same run:

  (a) baseline: `COPY scratch FROM STDIN WITH (FORMAT csv, HEADER)` of that file into a scratch
      table (an ordinary table, dropped afterwards) with typed columns (text, text, timestamptz,
      numeric, text, text) and no index;
  (b) `run_import("purchases", path)` into empty tables (bare clients are created for every
      client id in the file);
  (c) the same import again: the idempotent re-run, where every row is unchanged.

It prints rows/second, importer time / COPY time for (b) and (c) (target: at most 3) and the peak
RSS of this process, and exits 0 whether or not the target is met: it is a report, not a test. With
the database on this machine it also prints the CPU seconds of this process and its PostgreSQL
backend for each, and their ratios: on a shared, loaded machine they hold better than wall times.

THIS EMPTIES THE DATABASE'S CRM TABLES (clients, purchases, purchase items, activity, import runs,
and, through TRUNCATE ... CASCADE, every table that refers to them, such as client scores and
segment memberships). Point it at a throw-away benchmark database only: it refuses to run
unless the database name contains "bench" (override with --force), and on anything but PostgreSQL.
"""

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import django_setup  # first: puts the repository on the path and sets Django up
from django.db import connection

from crm.importing import run_import

TARGET_RATIO = 3.0
SCRATCH = "bench_import_scratch"
# Tables the importer writes (ImportRun included); CASCADE empties whatever refers to them.
CRM_TABLES = ("crm_client", "crm_purchase", "crm_purchaseitem", "crm_activity", "crm_importrun")
HEADER = "order_id,client_id,purchased_at,amount,currency,status\n"
# A fixed "now" keeps the file the same on every run (and every timestamp in the past).
END = datetime(2025, 6, 30, 21, 0, tzinfo=UTC)
SPAN_SECONDS = 2 * 365 * 24 * 3600
_MSK = timezone(timedelta(hours=3))  # shops export local time with its offset; Moscow has no DST


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="purchases in the file (default 1000000)")
    parser.add_argument("--clients", type=int, default=200_000,
                        help="distinct client ids to draw from (default 200000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the generated file (default 1)")
    parser.add_argument("--force", action="store_true", help="run even if the database name lacks 'bench'")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.clients < 1:
        parser.error("--rows and --clients must be at least 1")

    refusal = django_setup.refusal("bench/import_speed.py", "crm_bench_import", args.force)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="crm-bench-import-") as folder:
        path = Path(folder) / "purchases.csv"
        started = time.perf_counter()
        _write_purchases(path, args.rows, args.clients, args.seed)
        size_mb = path.stat().st_size / 1e6
        print(f"database {connection.settings_dict['NAME']} on PostgreSQL {django_setup.server_version()}")
        print(f"file: {args.rows} purchases of up to {args.clients} clients, {size_mb:.1f} MB "
              f"(written in {time.perf_counter() - started:.1f} s)")
        rss_before = django_setup.peak_rss_mb()
        print(f"peak RSS before importing: {rss_before:.0f} MB (Django and the apps loaded, file written)")

        _empty_crm_tables()
        copy_time, copy_cpu = _time_copy(path)
        _line("(a) COPY baseline", args.rows, copy_time, cpu=copy_cpu)

        first, first_time, first_cpu = _time_import(path)
        _line("(b) import, empty tables", args.rows, first_time, copy_time, first_cpu, copy_cpu)
        print(f"    {first.summary()}")
        second, second_time, second_cpu = _time_import(path)
        _line("(c) import again, unchanged", args.rows, second_time, copy_time, second_cpu, copy_cpu)
        print(f"    {second.summary()}")

    problems = _check_reports(first, second, args.rows)
    for problem in problems:
        print(f"WARNING: {problem}")
    peak = django_setup.peak_rss_mb()
    print(f"peak RSS: {peak:.0f} MB ({peak - rss_before:+.0f} MB over the three measurements)")
    worst = max(first_time, second_time) / copy_time
    verdict = "MET" if worst <= TARGET_RATIO else "NOT MET"
    print(f"target importer/COPY <= {TARGET_RATIO:g}: {verdict} "
          f"(first {first_time / copy_time:.2f}, re-run {second_time / copy_time:.2f})")
    return 0




def _write_purchases(path, rows, clients, seed):
    """Orders in time order as a shop exports them: repeat buyers, mostly RUB, a few refunds."""
    rng = random.Random(seed)
    random_, lognormvariate = rng.random, rng.lognormvariate
    step = SPAN_SECONDS / rows
    start = END - timedelta(seconds=SPAN_SECONDS)
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        chunk = []
        for n in range(rows):
            # Squaring skews buying towards some clients, as loyal customers buy more often.
            client = int(clients * random_() ** 2) + 1
            at = start + timedelta(seconds=int(n * step + random_() * step))
            local = at.astimezone(_MSK)
            amount = round(lognormvariate(7.6, 0.9), 2)
            roll = random_()
            currency = "RUB" if roll < 0.93 else "" if roll < 0.97 else "USD" if roll < 0.99 else "EUR"
            status = "refunded" if random_() < 0.04 else "completed"
            chunk.append(f"ORD-{n + 1:08d},CL-{client:07d},{local.isoformat()},{amount:.2f},{currency},{status}\n")
            if len(chunk) >= 10_000:
                out.writelines(chunk)
                chunk.clear()
        out.writelines(chunk)




def _empty_crm_tables():
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(CRM_TABLES)} RESTART IDENTITY CASCADE")


def _time_copy(path):
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
        cursor.execute(
            f"CREATE TABLE {SCRATCH} (order_id text, client_id text, purchased_at timestamptz, "
            "amount numeric, currency text, status text)"
        )
    try:
        cpu = django_setup.cpu_seconds()
        started = time.perf_counter()
        with connection.cursor() as cursor, open(path, "rb") as data:
            with cursor.cursor.copy(f"COPY {SCRATCH} FROM STDIN WITH (FORMAT csv, HEADER)") as copy:
                while block := data.read(1 << 20):
                    copy.write(block)
        return time.perf_counter() - started, _cpu_since(cpu)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {SCRATCH}")


def _time_import(path):
    cpu = django_setup.cpu_seconds()
    started = time.perf_counter()
    report = run_import("purchases", path)
    return report, time.perf_counter() - started, _cpu_since(cpu)


def _cpu_since(cpu):
    return None if cpu is None else django_setup.cpu_seconds() - cpu


def _check_reports(first, second, rows):
    """The benchmark is only worth quoting if the importer did the whole job."""
    problems = []
    if not first.imported or first.created != rows or first.rejected:
        problems.append(f"first import did not create every row: {first.summary()}")
    if not second.imported or second.unchanged != rows or second.created or second.updated:
        problems.append(f"re-run was not a no-op: {second.summary()}")
    if second.clients_created:
        problems.append(f"re-run created {second.clients_created} bare clients")
    return problems


def _line(label, rows, seconds, copy_time=None, cpu=None, copy_cpu=None):
    text = f"{label:<30} {seconds:8.2f} s  {rows / seconds:>10,.0f} rows/s"
    if copy_time:
        text += f"  ratio {seconds / copy_time:5.2f}"
    if cpu is not None:
        text += f"  (CPU {cpu:.2f} s" + (f", ratio {cpu / copy_cpu:5.2f})" if copy_cpu else ")")
    print(text, flush=True)




if __name__ == "__main__":
    sys.exit(main())
