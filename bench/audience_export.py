"""How fast a segment becomes an ad platform's audience file, against a bare read of the same rows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_aud_bench \\
        .venv/bin/python bench/audience_export.py [--clients 1000000] [--platforms google,meta,...]
                                                  [--repeat 3] [--regenerate] [--force] [--one-connection] [--no-native]

It makes (once; again with --regenerate or another --clients) a segment `bench-audience` of
--clients members in SQL with generate_series: realistic contact data (gmail and other addresses,
some in upper case or with spaces; E.164 phones, a few national `8 ...` ones, some missing;
Cyrillic names and cities; 40,000 distinct zips, about as many as Russia has; birth dates,
genders), 4% without ads consent, 1% erased.
Then, in the same run and `--repeat` times each (best time kept, as the machine may be busy):

  baseline  the rows an export reads (same query, same columns: id + the ClientRow columns of the
            eligible members, ordered by client id) through a server-side cursor, fetchmany of
            audiences.export.FETCH_SIZE, and the SHA-256 hex digest of each row's email;
  export    `export_audience(segment, platform)`, a full export as the syncs run it: the same rows
            (only the columns the platform reads, `Platform.reads`), fetched ahead by a thread on
            a connection of its own, the members counted meanwhile on another, the platform's
            batch formatter, the files into Django's storage (a temporary MEDIA_ROOT here) and the
            held state (every line sent, for later deltas, a row per batch of lines) written with
            one COPY. The state of the pair is emptied before each run, outside the timing, and
            what the runs churn is vacuumed there too, so every run is a first export;
  files     (information) read (one connection, no read-ahead), format and write the files, without
            the counts, the held state and the storage;
  delta     (information) right after the export, a delta with nothing changed: what a nightly
            sync of an unchanged segment costs (set-based SQL over the held lines).

It prints rows per second, export time / baseline time per platform (target: at most 2) and the
peak RSS, and exits 0 whether or not the target is met: it is a report, not a test.

THIS EMPTIES THE DATABASE'S CRM TABLES when it generates the data (TRUNCATE crm_client CASCADE:
clients and everything that refers to them). It refuses to run unless the database is PostgreSQL
and its name contains "bench" (override with --force).
"""

import argparse
import contextlib
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

import django_setup  # first: puts the repository on the path and sets Django up
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import override_settings

from audiences import export as audience
from audiences.exports import PLATFORMS, normalize, write_batches
from audiences.exports import base as exports_base
from audiences.models import AudienceExport, AudienceLines, AudienceState
from segments.models import Segment

TARGET_RATIO = 2.0
SLUG = "bench-audience"
# Bump when the generated data changes, so an old data set is not taken for the new one.
DATA_VERSION = "3"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--clients", type=int, default=1_000_000, help="members of the segment (default 1000000)")
    parser.add_argument("--platforms", default=",".join(PLATFORMS), help="comma-separated (default: all five)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the best counts (default 3)")
    parser.add_argument("--regenerate", action="store_true", help="make the data again even if it is there")
    parser.add_argument("--force", action="store_true", help="run even if the database name lacks 'bench'")
    parser.add_argument("--one-connection", action="store_true",
                        help="export inside a transaction of the caller, as in tests: one connection takes turns "
                             "reading and writing the held lines (for comparison)")
    parser.add_argument("--no-native", action="store_true",
                        help="format in Python, without the C module native/audience_speedups (for comparison)")
    args = parser.parse_args(argv)
    if args.no_native:
        exports_base._native_csv_lines = normalize._native_batch = None
    platforms = [slug.strip() for slug in args.platforms.split(",") if slug.strip()]
    unknown = [slug for slug in platforms if slug not in PLATFORMS]
    if unknown or args.clients < 1 or args.repeat < 1:
        parser.error(f"unknown platform(s) {unknown}; known: {', '.join(PLATFORMS)}" if unknown
                     else "--clients and --repeat must be at least 1")
    refusal = django_setup.refusal("bench/audience_export.py", "crm_aud_bench", args.force)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2

    call_command("migrate", verbosity=0)
    segment = _data(args.clients, args.regenerate)
    eligible = _eligible(segment)
    print(f"database {connection.settings_dict['NAME']} on PostgreSQL {django_setup.server_version()}; "
          f"segment {SLUG}: {args.clients:,} members, {eligible:,} eligible (ads consent, not erased); "
          f"fetch size {audience.FETCH_SIZE:,}; best of {args.repeat}"
          f"{'; exports on one connection' if args.one_connection else ''}; formatting "
          f"{'in C (native/audience_speedups)' if normalize._native_batch else 'in Python'}; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")

    with tempfile.TemporaryDirectory(prefix="crm-bench-audience-") as media, override_settings(MEDIA_ROOT=media):
        best = {}
        for round_ in range(args.repeat):
            _keep_best(best, "baseline", _baseline(segment))
            for slug in platforms:
                _keep_best(best, ("files", slug), _files_only(segment, slug, media))
                export, seconds = _export(segment, slug, media, args.one_connection)
                _keep_best(best, ("export", slug), seconds)
                _keep_best(best, ("delta", slug), _delta(segment, slug, media))
                if round_ == 0:
                    print(f"  {slug}: {export.exported:,} exported, {export.skipped:,} without a usable identifier, "
                          f"rows {export.rows}", flush=True)

    base = best["baseline"]
    print(f"\nbaseline (server-side cursor, same rows and columns, SHA-256 of the email): "
          f"{base:.2f} s, {eligible / base:,.0f} rows/s")
    print(f"{'platform':<8} {'export s':>9} {'rows/s':>10} {'ratio':>6} {'target':>8}   {'files only s':>12} "
          f"{'ratio':>6}   {'delta s':>7}")
    verdicts = []
    for slug in platforms:
        seconds, files, delta = best[("export", slug)], best[("files", slug)], best[("delta", slug)]
        verdicts.append(seconds / base <= TARGET_RATIO)
        print(f"{slug:<8} {seconds:>9.2f} {eligible / seconds:>10,.0f} {seconds / base:>6.2f} "
              f"{'MET' if verdicts[-1] else 'NOT MET':>8}   {files:>12.2f} {files / base:>6.2f}   {delta:>7.2f}")
    print(f"peak RSS: {django_setup.peak_rss_mb():.0f} MB")
    print(f"target export/baseline <= {TARGET_RATIO:g}: met for {sum(verdicts)} of {len(verdicts)} platforms "
          f"({'MET' if all(verdicts) else 'NOT MET'} overall)")
    return 0




def _data(clients, regenerate):
    """The bench segment, made in SQL unless it is there already with this size and data version."""
    marker = f"bench data v{DATA_VERSION}, {clients} members"
    segment = Segment.objects.filter(slug=SLUG).first()
    if segment and segment.description == marker and not regenerate:
        return segment
    started = time.perf_counter()
    print(f"generating {clients:,} clients...", flush=True)
    extra = clients // 10  # clients outside the segment, so the read is not the whole table
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE crm_client CASCADE")
    Segment.objects.filter(slug=SLUG).delete()  # with its held audience lines and syncs
    with connection.cursor() as cursor:
        cursor.execute(_CLIENTS_SQL, [clients + extra])
    segment_id = django_setup.member_segment(SLUG, "Audience benchmark", marker, clients, skip_every=21)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"generated in {time.perf_counter() - started:.0f} s", flush=True)
    return Segment.objects.get(pk=segment_id)


_CLIENTS_SQL = """
INSERT INTO crm_client (external_id, email, phone, first_name, last_name, city, country, zip, birth_date, gender,
    acquisition_channel, email_consent, email_consent_source, ads_consent, erased_at, created_at, updated_at)
SELECT 'C' || n,
    CASE WHEN mod(n, 17) = 0 THEN ''
         WHEN mod(n, 5) = 0 THEN 'Ivan.Petrov' || n || '+shop@gmail.com'
         WHEN mod(n, 23) = 0 THEN '  Anna' || n || '@Yandex.RU '
         WHEN mod(n, 3) = 0 THEN 'user' || n || '@mail.ru'
         ELSE 'client.' || n || '@example.com' END,
    CASE WHEN mod(n, 11) = 0 THEN ''
         WHEN mod(n, 97) = 0 THEN '8 912 ' || lpad((mod(n, 10000000))::text, 7, '0')
         ELSE '+7912' || lpad((mod(n, 10000000))::text, 7, '0') END,
    (ARRAY['Иван', 'Мария', 'Анна', 'Пётр', 'Ольга', 'Алексей', 'Елена', 'Дмитрий', 'John', ''])[1 + mod(n, 10)],
    (ARRAY['Иванов', 'Петрова', 'Смирнов', 'Кузнецова', 'Попов', 'Соколова', 'Smith', ''])[1 + mod(n, 8)],
    (ARRAY['Москва', 'Санкт-Петербург', 'Казань', 'Новосибирск', 'Нижний Новгород', ''])[1 + mod(n, 6)],
    CASE WHEN mod(n, 13) = 0 THEN '' ELSE 'RU' END,
    lpad((100000 + mod(n, 40000))::text, 6, '0'),
    CASE WHEN mod(n, 9) = 0 THEN NULL ELSE DATE '1950-01-01' + (mod(n, 20000)) END,
    (ARRAY['m', 'f', ''])[1 + mod(n, 3)],
    '', true, '', mod(n, 25) <> 0,
    CASE WHEN mod(n, 100) = 0 THEN now() END,
    now(), now()
FROM generate_series(1, %s) n
"""


def _eligible(segment):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) {audience._ELIGIBLE}", [segment.pk])
        return cursor.fetchone()[0]


def _read_sql():
    return f"SELECT {audience._SELECT} {audience._ELIGIBLE} ORDER BY m.client_id"


def _baseline(segment):
    sha256 = hashlib.sha256
    started = time.perf_counter()
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(_read_sql(), [segment.pk])
        while batch := cursor.fetchmany(audience.FETCH_SIZE):
            for row in batch:
                sha256(row[2].encode()).hexdigest()
    return time.perf_counter() - started


def _export(segment, slug, media, one_connection=False):
    _forget_state(segment, slug)
    started = time.perf_counter()
    with transaction.atomic() if one_connection else contextlib.nullcontext():
        export = audience.export_audience(segment, slug)
    seconds = time.perf_counter() - started
    _empty(media)
    return export, seconds


def _delta(segment, slug, media):
    started = time.perf_counter()
    export = audience.export_audience(segment, slug, delta=True)
    seconds = time.perf_counter() - started
    assert export.exported == export.removed == export.updated == 0, "nothing changed, yet the delta is not empty"
    _empty(media)
    return seconds


def _files_only(segment, slug, media):
    """The export's read (on one connection, no reading thread), formatter and file writes, without
    the held state and the storage."""
    platform = PLATFORMS[slug]
    sql = f"SELECT {audience._select(platform)} {audience._ELIGIBLE} ORDER BY m.client_id"
    started = time.perf_counter()
    with transaction.atomic():
        files = {key: open(Path(media) / f"files-{key}.csv", "w", encoding="utf-8", newline="")  # noqa: SIM115
                 for key in platform.files}
        write_batches(platform, audience._batches(sql, [segment.pk]), {key: file.write for key, file in files.items()})
        for handle in files.values():
            handle.close()
    seconds = time.perf_counter() - started
    _empty(media)
    return seconds


# What the runs leave dead rows in: held lines and states deleted, exports updated, and the
# catalog rows of a delta's temporary tables. Autovacuum may be off (the shared bench server runs
# without it): then, without a VACUUM, each run grows the database by the size of every state deleted.
_CHURNED = (AudienceLines._meta.db_table, AudienceState._meta.db_table, AudienceExport._meta.db_table,
            "pg_catalog.pg_class", "pg_catalog.pg_attribute", "pg_catalog.pg_type", "pg_catalog.pg_depend")


def _forget_state(segment, slug):
    state = AudienceState.objects.filter(segment=segment, platform=slug).first()
    if state:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {AudienceLines._meta.db_table} WHERE state_id = %s", [state.pk])
        state.delete()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM {', '.join(_CHURNED)}")
        cursor.execute("CHECKPOINT")  # the deletion's dirty pages are written now, not during the next run


def _empty(media):
    for path in Path(media).rglob("*"):
        if path.is_file():
            path.unlink()


def _keep_best(best, key, seconds):
    best[key] = min(best.get(key, seconds), seconds)






if __name__ == "__main__":
    sys.exit(main())
