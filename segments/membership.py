"""Who is in which segment after a run, and who entered and left: set-based SQL.

A membership (SegmentMembership) is one client's time in one segment: opened by the run that put
them in, closed by the run that took them out. Two ways to the same memberships, chosen per run by
`plan`:

- moves (the usual night): the built-in and score-band segments follow from columns of the
  score row, and the open memberships of those segments are exactly the previous run's
  assignments (that run applied them, and the set of such segments has not changed since). So who
  moved is the difference between the previous run's score rows and this run's, joined on the
  client: only the movers are closed and opened. That is a join of two score sets instead of two
  anti-joins over every membership, several per client.
- full: every member of every segment goes into a temporary table; two statements then close the
  memberships of clients who left and open memberships for clients who entered. Rule segments
  always go this way, and so does every segment on a night whose open memberships are not the
  previous run's (a segment switched on or off, memberships or clients deleted since): the moves
  would be wrong then.

Sizes and entry/leave counts are recorded per run. The first fill (every membership opened from
nothing, millions on a big shop) builds the table's indexes once after the insert instead of row
by row (see apply), and on the moves path writes the family memberships by binary
COPY from the score columns the run holds in memory (see _copy_family_memberships) rather than
producing them in SQL.

Buys: a usual night writes only the movers; a first night copies in (bench/segmentation.py, "segments").
"""

import datetime as dt
from collections import Counter
from contextlib import nullcontext

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from core import bulk_load, pgcopy
from core.sql import execute, rows, table

from .models import ClientScore, ScoringRun, Segment, SegmentMembership, SegmentSize
from .rules import to_q

NEXT = "segments_next_members"
MOVED = "segments_moved_clients"
SCORES = table(ClientScore)
SEGMENTS = table(Segment)
MEMBERSHIPS = table(SegmentMembership)
RULE = Segment.Kind.RULE
# The score-band families: (kind, score column, slug prefix); a client is in the segment whose
# slug is prefix + the column's value, '' or a bare prefix naming none (e.g. 'churn-' for a
# prospect, who has no churn band). Tiers: loyalty/tiers.py ('tier-' for a client in none).
BANDS = [
    ("rfm", "rfm_segment", ""),
    ("churn", "churn_band", "churn-"),
    ("engagement", "engagement_band", "engagement-"),
    ("tier", "tier", "tier-"),
]
# The segments a score row `cs` names by itself: (kind, slug expression), one per family. The
# first fill computes the same from the score columns in numpy (_family_segments).
FAMILIES = [
    ("builtin", "'all-clients'"),
    ("builtin", "CASE WHEN cs.frequency = 0 THEN 'prospects' ELSE '' END"),
    *((kind, f"'{prefix}' || cs.{column}" if prefix else f"cs.{column}") for kind, column, prefix in BANDS),
]
# The first fill takes the bulk path from this many scored clients (each enters all-clients at least).
BULK_CLIENTS = 25_000


def plan(previous):
    """"moves" when the memberships of the built-in and score segments can be derived from the
    previous run's scores (see the module docstring), else "full".

    That holds when the open memberships of those segments are the previous run's: the same
    segments are active as then (a run records a size for every segment active when it ran) and as
    many memberships are open as it recorded. Anything else (a segment switched on or off,
    memberships deleted, clients deleted since) takes the full path, which is right whatever the
    memberships hold."""
    not_night = (RULE, Segment.Kind.JOURNEY)  # segments whose members the night does not derive from scores
    still_open = SegmentMembership.objects.filter(left_at__isnull=True).exclude(segment__kind__in=not_night).count()
    if previous is None:  # nothing scored yet
        return "moves" if still_open == 0 else "full"
    active = set(Segment.objects.filter(is_active=True).exclude(kind__in=not_night).values_list("pk", flat=True))
    then = dict(SegmentSize.objects.filter(run=previous).exclude(segment__kind__in=not_night)
                .values_list("segment_id", "size"))
    return "moves" if set(then) == active and sum(then.values()) == still_open else "full"


def _collect(run, families):
    """Fill the temporary table with this run's (segment, client) pairs: rule segments, and with
    `families` the built-in and score segments too."""
    execute(f"DROP TABLE IF EXISTS {NEXT}")
    execute(f"CREATE TEMPORARY TABLE {NEXT} (segment_id bigint NOT NULL, client_id bigint NOT NULL)")
    if families:  # one pass over the run's scores
        values = ", ".join(f"('{kind}', {slug})" for kind, slug in FAMILIES)
        execute(f"INSERT INTO {NEXT} (segment_id, client_id) SELECT s.id, cs.client_id FROM {SCORES} cs "
             f"CROSS JOIN LATERAL (VALUES {values}) AS f(kind, slug) "
             f"JOIN {SEGMENTS} s ON s.slug = f.slug AND s.kind = f.kind AND s.is_active WHERE cs.run_id = %s",
             [run.pk])
    # "N days ago" counts from the day after the as-of date: today on an ordinary night, and the same
    # day again when an old night is recomputed.
    today = run.as_of + dt.timedelta(days=1)
    for segment in Segment.objects.filter(kind=RULE, is_active=True).exclude(rule={}):
        members = ClientScore.objects.filter(run=run).filter(to_q(segment.rule, today)).values_list("client_id",
                                                                                                   flat=True)
        sql, params = members.query.sql_with_params()
        execute(f"INSERT INTO {NEXT} (segment_id, client_id) SELECT %s, x.client_id FROM ({sql}) x",
             [segment.pk, *params])
    execute(f"CREATE INDEX {NEXT}_pair ON {NEXT} (segment_id, client_id)")
    # A temporary table is never analysed by autovacuum: without statistics the planner takes
    # millions of rows for a few and picks index probes over hash anti-joins in apply().
    execute(f"ANALYZE {NEXT}")


def _collect_moved(previous, run):
    """Fill MOVED with the clients whose family segments differ between the previous run's score
    rows and this run's (a client on one side only: every family), with both sides' columns.

    The comparison is on the score columns the families read, so the millions of unchanged
    clients are dropped by the join before anything is expanded per family."""
    columns = [column for _, column, _ in BANDS]
    compared = ("frequency = 0", *columns)  # what FAMILIES read
    differs = " OR ".join(["o.client_id IS NULL", "n.client_id IS NULL",
                           *(f"(n.{c}) IS DISTINCT FROM (o.{c})" for c in compared)])
    kept = ("frequency", *columns)
    both = ", ".join(f"{side}.{c} AS {side}_{c}" for side in "no" for c in kept)
    read = ", ".join(("client_id", *kept))
    execute(f"DROP TABLE IF EXISTS {MOVED}")
    execute(f"CREATE TEMPORARY TABLE {MOVED} AS "
         f"SELECT COALESCE(n.client_id, o.client_id) AS client_id, n.client_id IS NOT NULL AS n_here, "
         f"o.client_id IS NOT NULL AS o_here, {both} "
         f"FROM (SELECT {read} FROM {SCORES} WHERE run_id = %s) n "
         f"FULL JOIN (SELECT {read} FROM {SCORES} WHERE run_id = %s) o ON o.client_id = n.client_id "
         f"WHERE {differs}",
         [run.pk, previous.pk if previous else -1])
    execute(f"ANALYZE {MOVED}")


def _moved_pairs(side):
    """SQL of the (segment_id, client_id) pairs MOVED's clients leave (side "o") or enter ("n"):
    their family segments on that side that differ from the other side's."""
    other = "n" if side == "o" else "o"

    def slug(expression, at):  # NULL when the client has no score row on that side
        named = expression.replace("cs.", f"x.{at}_")
        return f"CASE WHEN x.{at}_here THEN {named} END"

    values = ", ".join(f"('{kind}', {slug(e, side)}, {slug(e, other)})" for kind, e in FAMILIES)
    return (f"SELECT s.id AS segment_id, x.client_id FROM {MOVED} x "
            f"CROSS JOIN LATERAL (VALUES {values}) AS f(kind, slug, other) "
            f"JOIN {SEGMENTS} s ON s.kind = f.kind AND s.slug = f.slug AND s.is_active "
            f"WHERE f.slug IS DISTINCT FROM f.other")


def _first_fill(clients):
    """True when this run opens every membership from nothing (the first night, or after the
    memberships were cleared) and there are many: the one time the entries are millions rather
    than the movers."""
    if clients < BULK_CLIENTS:
        return False
    return not SegmentMembership.objects.filter(left_at__isnull=True).exists()


def apply(run, previous, ids, cols):
    """Close and open memberships for this run, record every active segment's size.

    previous: the run whose scores readers saw until now (None on the first night); ids, cols: the
    clients this run scored and their score columns (scoring.columns), as written.
    Returns {"entered": memberships opened, "left": memberships closed}.
    """
    moves = plan(previous) == "moves"
    first_fill = _first_fill(ids.size)
    # The first fill on the moves path: nobody is in any segment yet, so nobody leaves one and
    # every client enters their family segments, which the score columns in memory name already.
    copied = moves and first_fill
    _collect(run, families=not moves)
    # With moves, the temporary table holds the rule segments only, and only they are managed by
    # it; without, every active segment is.
    # Segments fed by journeys are not the night's: their members come and go with journey steps.
    managed = (f"SELECT id FROM {SEGMENTS} WHERE is_active AND kind <> '{Segment.Kind.JOURNEY}'"
               + (f" AND kind = '{RULE}'" if moves else ""))
    left = _per_segment(
        f"UPDATE {MEMBERSHIPS} SET left_at = %s, left_run_id = %s WHERE left_at IS NULL AND segment_id IN ({managed}) "
        f"AND NOT EXISTS (SELECT 1 FROM {NEXT} n WHERE n.segment_id = {MEMBERSHIPS}.segment_id "
        f"AND n.client_id = {MEMBERSHIPS}.client_id)",
        [run.as_of, run.pk],
    )
    if moves and not copied:
        _collect_moved(previous, run)
        left += _per_segment(f"UPDATE {MEMBERSHIPS} m SET left_at = %s, left_run_id = %s FROM ({_moved_pairs('o')}) v "
                             f"WHERE m.segment_id = v.segment_id AND m.client_id = v.client_id AND m.left_at IS NULL",
                             [run.as_of, run.pk], returning="m.segment_id")
    # On the first fill there is no open membership to look for, and with the indexes gone the
    # look-up would scan the table being filled: every member simply enters. (A duplicate pair could only
    # come from a bug here; the unique index built afterwards would refuse it.)
    not_open = ("" if first_fill else
                f"WHERE NOT EXISTS (SELECT 1 FROM {MEMBERSHIPS} m WHERE m.segment_id = n.segment_id "
                f"AND m.client_id = n.client_id AND m.left_at IS NULL)")
    # On the first fill the table's secondary indexes are built once after the insert rather than
    # maintained row by row (an entry in each of five indexes for each of millions of memberships, most
    # of the night). Its foreign keys stay: adding one back would lock clients and segments against
    # writes until the night commits. Readers of the memberships (none open yet) wait for the commit.
    with bulk_load.set_aside(MEMBERSHIPS, keys=False) if first_fill else nullcontext():
        entered = _per_segment(f"INSERT INTO {MEMBERSHIPS} (segment_id, client_id, entered_at, entered_run_id) "
                               f"SELECT n.segment_id, n.client_id, %s, %s FROM {NEXT} n {not_open}",
                               [run.as_of, run.pk])
        if copied:
            entered += _copy_family_memberships(run, ids, cols)
        elif moves:
            entered += _per_segment(f"INSERT INTO {MEMBERSHIPS} (segment_id, client_id, entered_at, entered_run_id) "
                                    f"SELECT v.segment_id, v.client_id, %s, %s FROM ({_moved_pairs('n')}) v",
                                    [run.as_of, run.pk])
    _record_sizes(run, previous, moves, entered, left)
    execute(f"DROP TABLE IF EXISTS {NEXT}")
    execute(f"DROP TABLE IF EXISTS {MOVED}")
    return {"entered": entered.total(), "left": left.total()}


def _family_segments(ids, cols):
    """(segment ids, client ids): each client's family segments (FAMILIES) from the score columns,
    in numpy; each family's few distinct values are mapped to segments once."""
    active = {(kind, slug): pk for pk, kind, slug in
              Segment.objects.filter(is_active=True).exclude(kind=RULE).values_list("pk", "kind", "slug")}
    n = ids.size
    families = [  # (kind, a value per client, the slug it names), as FAMILIES
        ("builtin", np.zeros(n, dtype=np.int8), lambda _: "all-clients"),
        ("builtin", cols["frequency"] == 0, lambda prospect: "prospects" if prospect else ""),
        *((kind, cols[column], prefix.__add__) for kind, column, prefix in BANDS),
    ]
    segment_ids, client_ids = [], []
    for kind, values, slug in families:
        values = values.tolist()
        to_segment = {value: active.get((kind, slug(value)), -1) for value in set(values)}
        segment = np.fromiter(map(to_segment.__getitem__, values), dtype=np.int64, count=n)
        member = segment >= 0
        segment_ids.append(segment[member])
        client_ids.append(ids[member])
    return np.concatenate(segment_ids), np.concatenate(client_ids)


def _copy_family_memberships(run, ids, cols):
    """Open every client's family memberships by binary COPY (the first fill). Returns how many
    per segment."""
    segment_ids, client_ids = _family_segments(ids, cols)
    # In (segment, client) order (clients are in order within each family): the indexes built
    # after the fill then sort input that is sorted already (PostgreSQL's sort checks for that).
    order = np.argsort(segment_ids, kind="stable")
    segment_ids, client_ids = segment_ids[order], client_ids[order]
    fields = [("segment_id", ">i8"), ("client_id", ">i8"), ("entered_at", ">i4"), ("entered_run_id", ">i8")]
    records = pgcopy.records(fields, segment_ids.size)
    records["segment_id"], records["client_id"], records["entered_run_id"] = segment_ids, client_ids, run.pk
    records["entered_at"] = (run.as_of - pgcopy.EPOCH).days
    distinct, counts = np.unique(segment_ids, return_counts=True)
    # The first night's peak of memory: the ids let go, the records sent as they lie (not copied to bytes).
    del segment_ids, client_ids, order
    with connection.cursor() as cursor:
        pgcopy.copy_in(cursor, f"COPY {MEMBERSHIPS} ({', '.join(f for f, _ in fields)}) FROM STDIN (FORMAT binary)",
                       records.view(np.uint8))
    return Counter(dict(zip(distinct.tolist(), counts.tolist())))


def _per_segment(sql, params, returning="segment_id"):
    """Run an INSERT or UPDATE of memberships; returns how many rows it wrote per segment, counted
    by the database as it writes them (a count afterwards would scan the millions a first night
    opens)."""
    return Counter(dict(rows(f"WITH written AS ({sql} RETURNING {returning} AS segment_id) "
                             f"SELECT segment_id, COUNT(*) FROM written GROUP BY segment_id", params)))


def _record_sizes(run, previous, moves, entered, left):
    """A SegmentSize row per active segment (size, entered, left) and Segment.size.

    entered, left: memberships opened and closed per segment. A segment in the temporary table has
    its size counted there; a family segment on the moves path has the previous run's size plus who
    entered minus who left."""
    kinds = dict(Segment.objects.filter(is_active=True).exclude(kind=Segment.Kind.JOURNEY).values_list("pk", "kind"))
    stats = {segment_id: [0, 0, 0] for segment_id in kinds}
    for at, counts in ((1, entered), (2, left)):
        for segment_id, count in counts.items():
            stats.setdefault(segment_id, [0, 0, 0])[at] = count
    counted = dict(rows(f"SELECT segment_id, COUNT(*) FROM {NEXT} GROUP BY segment_id"))
    before = dict(SegmentSize.objects.filter(run=previous).values_list("segment_id", "size")) if previous else {}
    for segment_id, row in stats.items():
        if moves and kinds.get(segment_id) != RULE:
            row[0] = before.get(segment_id, 0) + row[1] - row[2]
        else:
            row[0] = counted.get(segment_id, 0)
    SegmentSize.objects.filter(run=run).delete()
    SegmentSize.objects.bulk_create(
        SegmentSize(segment_id=sid, run=run, as_of=run.as_of, size=s, entered=e, left=lv)
        for sid, (s, e, lv) in stats.items()
    )
    Segment.objects.bulk_update([Segment(pk=sid, size=size) for sid, (size, _, _) in stats.items()], ["size"])


def rfm_migration(previous_run, run):
    """{from: {to: clients}} between two runs' RFM segments ('' = no RFM segment, e.g. prospects)."""
    matrix = {}
    counts = rows(f"SELECT COALESCE(o.rfm_segment, ''), n.rfm_segment, COUNT(*) FROM {SCORES} n "
                  f"LEFT JOIN {SCORES} o ON o.client_id = n.client_id AND o.run_id = %s "
                  f"WHERE n.run_id = %s GROUP BY 1, 2", [previous_run.pk if previous_run else -1, run.pk])
    for old, new, count in counts:
        matrix.setdefault(old, {})[new] = count
    return matrix


def evaluate_rule_segment(segment, today=None):
    """Bring one rule segment's memberships up to date now, as the night would: against the last
    night's scores (ClientScore of the current run) and the clients' current fields. Returns the
    number of members, or None when the segment is not an active rule segment (nothing changed).

    Members who no longer match leave today, new ones enter today; those still matching keep their
    membership. The rows carry no run (entered_run, left_run): no night moved them, so a triggered
    campaign (which emails a run's entrants) does not take a save for a night's entries, and the
    next night finds them open and leaves them as they are. The night's size history
    (SegmentSize, one row per run) is not rewritten; Segment.size is the count now.
    """
    today = today or timezone.localdate()
    run = ScoringRun.objects.current()
    with transaction.atomic():
        # Two saves of the same segment at once would both insert the same entrants: one waits.
        segment = Segment.objects.select_for_update().get(pk=segment.pk)
        if segment.kind != RULE or not segment.is_active or not segment.rule:
            return None
        matching = (ClientScore.objects.filter(run=run).filter(to_q(segment.rule)) if run
                    else ClientScore.objects.none())
        open_rows = SegmentMembership.objects.filter(segment=segment, left_at__isnull=True)
        open_rows.exclude(client_id__in=matching.values("client_id")).update(left_at=today)
        if run is not None:
            sql, params = matching.values_list("client_id", flat=True).query.sql_with_params()
            execute(f"INSERT INTO {MEMBERSHIPS} (segment_id, client_id, entered_at) "
                    f"SELECT %s, x.client_id, %s FROM ({sql}) x WHERE NOT EXISTS (SELECT 1 FROM {MEMBERSHIPS} m "
                    f"WHERE m.segment_id = %s AND m.client_id = x.client_id AND m.left_at IS NULL)",
                    [segment.pk, today, *params, segment.pk])
        size = open_rows.count()
        Segment.objects.filter(pk=segment.pk).update(size=size)
    return size


def count_rule(rule):
    """How many clients `rule` selects now (last night's scores, clients' current fields), as a save
    would make members. Raises RuleError naming the part of the rule that is wrong."""
    q = to_q(rule)
    return ClientScore.objects.current().filter(q).count()
