"""Who is in which segment after a run, and who entered and left: set-based SQL.

The run's members go into a temporary table; two statements then close the stays of clients who
left and open stays for clients who entered. Sizes and entry/leave counts are recorded per run.
"""

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
    # Built-in and score-band segments: one statement per family, joined on the slug.
    families = [
        ("builtin", "'all-clients'", "1 = 1"),
        ("builtin", "'prospects'", "cs.frequency = 0"),
        ("rfm", "cs.rfm_segment", "cs.rfm_segment <> ''"),
        ("churn", "'churn-' || cs.churn_band", "cs.churn_band <> ''"),
        ("engagement", "'engagement-' || cs.engagement_band", "cs.engagement_band <> ''"),
    ]
    for kind, slug, where in families:
        _run(
            f"INSERT INTO {NEXT} (segment_id, client_id) SELECT s.id, cs.client_id FROM {scores} cs "
            f"JOIN {segments} s ON s.slug = {slug} AND s.kind = %s AND s.is_active "
            f"WHERE cs.run_id = %s AND {where}",
            [kind, run.pk],
        )
    for segment in Segment.objects.filter(kind=Segment.Kind.RULE, is_active=True).exclude(rule={}):
        members = ClientScore.objects.filter(run=run).filter(to_q(segment.rule)).values_list("client_id", flat=True)
        sql, params = members.query.sql_with_params()
        _run(f"INSERT INTO {NEXT} (segment_id, client_id) SELECT %s, x.client_id FROM ({sql}) x",
             [segment.pk, *params])
    _run(f"CREATE INDEX {NEXT}_pair ON {NEXT} (segment_id, client_id)")


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
    entered = _run(
        f"INSERT INTO {table} (segment_id, client_id, entered_at, entered_run_id) "
        f"SELECT n.segment_id, n.client_id, %s, %s FROM {NEXT} n WHERE NOT EXISTS "
        f"(SELECT 1 FROM {table} m WHERE m.segment_id = n.segment_id AND m.client_id = n.client_id "
        f"AND m.left_at IS NULL)",
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
