"""Who is in which segment after a run, and who entered and left: set-based SQL.

The run's members go into a temporary table; two statements then close the stays of clients who
left and open stays for clients who entered. Sizes and entry/leave counts are recorded per run.
The first fill (every stay opened from nothing, millions on a big shop) builds the table's keys and
indexes once after the insert instead of row by row; see _checked_at_the_end.
"""

from contextlib import contextmanager

from django.conf import settings
from django.db import connection

from .models import ClientScore, Segment, SegmentMembership, SegmentSize
from .rules import to_q

NEXT = "segments_next_members"


def _run(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def collect(run):
    """Fill the temporary table with (segment, client) pairs for this run's scores."""
    _run(f"DROP TABLE IF EXISTS {NEXT}")
    _run(f"CREATE TEMPORARY TABLE {NEXT} (segment_id bigint NOT NULL, client_id bigint NOT NULL)")
    scores = ClientScore._meta.db_table
    segments = Segment._meta.db_table
    # Built-in and score-band segments: each score row names its segment in every family ('' or
    # a bare prefix for none, which matches no slug), joined on (kind, slug).
    families = [
        ("builtin", "'all-clients'"),
        ("builtin", "CASE WHEN cs.frequency = 0 THEN 'prospects' ELSE '' END"),
        ("rfm", "cs.rfm_segment"),
        ("churn", "'churn-' || cs.churn_band"),
        ("engagement", "'engagement-' || cs.engagement_band"),
    ]
    if connection.vendor == "postgresql":  # one pass over the run's scores
        values = ", ".join(f"('{kind}', {slug})" for kind, slug in families)
        _run(f"INSERT INTO {NEXT} (segment_id, client_id) SELECT s.id, cs.client_id FROM {scores} cs "
             f"CROSS JOIN LATERAL (VALUES {values}) AS f(kind, slug) "
             f"JOIN {segments} s ON s.slug = f.slug AND s.kind = f.kind AND s.is_active WHERE cs.run_id = %s",
             [run.pk])
    else:  # SQLite has no LATERAL: a statement per family
        for kind, slug in families:
            _run(f"INSERT INTO {NEXT} (segment_id, client_id) SELECT s.id, cs.client_id FROM {scores} cs "
                 f"JOIN {segments} s ON s.slug = {slug} AND s.kind = %s AND s.is_active WHERE cs.run_id = %s",
                 [kind, run.pk])
    for segment in Segment.objects.filter(kind=Segment.Kind.RULE, is_active=True).exclude(rule={}):
        members = ClientScore.objects.filter(run=run).filter(to_q(segment.rule)).values_list("client_id", flat=True)
        sql, params = members.query.sql_with_params()
        _run(f"INSERT INTO {NEXT} (segment_id, client_id) SELECT %s, x.client_id FROM ({sql}) x",
             [segment.pk, *params])
    _run(f"CREATE INDEX {NEXT}_pair ON {NEXT} (segment_id, client_id)")
    # A temporary table is never analysed by autovacuum: without statistics the planner takes
    # millions of rows for a few and picks index probes over hash anti-joins in apply().
    if connection.vendor == "postgresql":
        _run(f"ANALYZE {NEXT}")


BULK_ENTRIES = 100_000


def _first_fill(table):
    """True when this run opens every stay from nothing (the first night, or after the stays were
    cleared) and there are many: the one time the entries are millions rather than the movers."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE left_at IS NULL), "
                       f"(SELECT COUNT(*) FROM {NEXT})")
        any_open, entries = cursor.fetchone()
    return not any_open and entries >= BULK_ENTRIES


@contextmanager
def _checked_at_the_end(table, bulk):
    """Foreign keys and indexes of the stays table built once for the whole insert rather than
    maintained row by row.

    PostgreSQL checks a foreign key with a look-up and a row lock per inserted row, and adds each
    row to every index: on the first night that is three checks and five index entries for each of
    millions of stays, most of the night. For that one insert the table's foreign keys and
    secondary indexes are dropped and created again afterwards, which checks the keys in one join
    per key and builds each index with one sort. It all happens inside the night's transaction:
    nobody else ever sees the table without them, and a failure rolls everything back, constraints
    and indexes included. The price, on that one night only: readers of the stays (there are none
    open yet) and writers of clients wait for the commit instead of going ahead.
    """
    if not bulk:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                       "WHERE conrelid = CAST(%s AS regclass) AND contype = 'f'", [table])
        keys = cursor.fetchall()
        cursor.execute("SELECT CAST(CAST(i.indexrelid AS regclass) AS text), pg_get_indexdef(i.indexrelid) "
                       "FROM pg_index i WHERE i.indrelid = CAST(%s AS regclass) AND NOT i.indisprimary "
                       "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)", [table])
        indexes = cursor.fetchall()
        for name, _ in keys:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {name}")
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = %s", [settings.CRM_NIGHTLY_WORK_MEM])
        for _, definition in indexes:
            cursor.execute(definition)
        for name, definition in keys:
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def apply(run):
    """Close and open stays. Returns {segment_id: (size, entered, left)}."""
    table = SegmentMembership._meta.db_table
    managed = "SELECT id FROM segments_segment WHERE is_active"
    left = _run(
        f"UPDATE {table} SET left_at = %s, left_run_id = %s WHERE left_at IS NULL AND segment_id IN ({managed}) "
        f"AND NOT EXISTS (SELECT 1 FROM {NEXT} n WHERE n.segment_id = {table}.segment_id "
        f"AND n.client_id = {table}.client_id)",
        [run.as_of, run.pk],
    )
    first_fill = _first_fill(table)
    # On the first fill there is no open stay to look for, and with the indexes gone the look-up
    # would scan the table being filled: every member simply enters. (A duplicate pair could only
    # come from a bug in collect(); the unique index built afterwards would refuse it.)
    not_open = ("" if first_fill else
                f"WHERE NOT EXISTS (SELECT 1 FROM {table} m WHERE m.segment_id = n.segment_id "
                f"AND m.client_id = n.client_id AND m.left_at IS NULL)")
    with _checked_at_the_end(table, bulk=first_fill):
        entered = _run(
            f"INSERT INTO {table} (segment_id, client_id, entered_at, entered_run_id) "
            f"SELECT n.segment_id, n.client_id, %s, %s FROM {NEXT} n {not_open}",
            [run.as_of, run.pk],
        )
    stats = {}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT segment_id, COUNT(*) FROM {NEXT} GROUP BY segment_id")
        for segment_id, size in cursor.fetchall():
            stats[segment_id] = [size, 0, 0]
        cursor.execute(f"SELECT segment_id, COUNT(*) FROM {table} WHERE entered_run_id = %s GROUP BY segment_id",
                       [run.pk])
        for segment_id, count in cursor.fetchall():
            stats.setdefault(segment_id, [0, 0, 0])[1] = count
        cursor.execute(f"SELECT segment_id, COUNT(*) FROM {table} WHERE left_run_id = %s GROUP BY segment_id",
                       [run.pk])
        for segment_id, count in cursor.fetchall():
            stats.setdefault(segment_id, [0, 0, 0])[2] = count
    for segment in Segment.objects.filter(is_active=True):
        stats.setdefault(segment.pk, [0, 0, 0])
    SegmentSize.objects.filter(run=run).delete()
    SegmentSize.objects.bulk_create(
        SegmentSize(segment_id=sid, run=run, as_of=run.as_of, size=s, entered=e, left=lv)
        for sid, (s, e, lv) in stats.items()
    )
    for sid, (size, _, _) in stats.items():
        Segment.objects.filter(pk=sid).update(size=size)
    _run(f"DROP TABLE IF EXISTS {NEXT}")
    return {"entered": entered, "left": left}


def rfm_migration(previous_run, run):
    """{from: {to: clients}} between two runs' RFM segments ('' = no RFM segment, e.g. prospects)."""
    table = ClientScore._meta.db_table
    sql = (f"SELECT COALESCE(o.rfm_segment, ''), n.rfm_segment, COUNT(*) FROM {table} n "
           f"LEFT JOIN {table} o ON o.client_id = n.client_id AND o.run_id = %s "
           f"WHERE n.run_id = %s GROUP BY 1, 2")
    matrix = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [previous_run.pk if previous_run else -1, run.pk])
        for old, new, count in cursor.fetchall():
            matrix.setdefault(old, {})[new] = count
    return matrix
