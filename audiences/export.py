"""Turn a segment into an ad platform's audience files: in full, or as a delta against what the
platform already holds.

    export_audience(segment, platform_slug, delta=False, user=None, run=None, out_dir=None)
                            -> AudienceExport; called by the command, the admin and the syncs alike
    purge_old_exports()     delete files older than CRM_AUDIENCE_RETENTION_DAYS; records stay

Who is exported: current members of the segment with ads consent who are not erased. That filter
is SQL, so nobody else's data leaves the database; members without consent or erased are counted.
Rows stream from a server-side cursor, FETCH_SIZE at a time, through the platform's formatter
(`audiences.exports.write_batches`) into temporary files, which then go to Django's storage (or
to a folder): memory stays bounded whatever the size of the segment.

What the platform holds is kept per (segment, platform) as the very lines sent (AudienceState and
its AudienceLines rows, a batch of lines each: audiences.exports.held), so a client is removed
with exactly what the platform was given, even after their data was changed or erased, their
consent withdrawn or the client deleted.

- A full export writes every eligible client and replaces that state.
- A delta compares, set-based in SQL with temporary tables: clients eligible now and not held are
  added; clients held and no longer eligible are removed; clients held and still eligible whose
  data changed since the previous export (Client.updated_at) are formatted again, and when their
  lines differ the old lines are removed and the new ones added. Two sets of files: `add/<file>`
  and `remove/<file>`. Without a previous export every eligible client is added. Who differs is
  found from ids alone (the eligible clients against the held batches' client ids); the lines
  read, formatted and written are only the differences'. A removed line is blanked in its batch
  rather than the batch written again (see _Export.delta); the added lines go into new batches.

An export is one transaction: if anything fails (the storage, the database) the export is recorded
as failed with its error, the files it already stored are deleted and the state is unchanged.
Exports of one (segment, platform) pair wait for each other (a row lock on its state).
"""

import contextlib
import csv
import datetime as dt
import gc
import itertools
import logging
import operator
import os
import queue
import shutil
import tempfile
import threading
import time
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone
from psycopg.copy import QueuedLibpqWriter

from core import sql
from crm.models import Client
from segments.models import Segment, SegmentMembership

from .exports import ClientRow, Platform, get_platform, write_batches
from .exports.held import LINE_END, pack
from .models import AudienceExport, AudienceLines, AudiencePush, AudienceState, AudienceSync, ExportMode

logger = logging.getLogger(__name__)

# Rows per fetch from the server-side cursor, and held lines per AudienceLines row: the bound on memory.
FETCH_SIZE = 10_000
STORAGE_DIR = "audiences"

_CLIENT = Client._meta.db_table
_MEMBERSHIP = SegmentMembership._meta.db_table
_HELD = AudienceLines._meta.db_table
# The client's id, then the ClientRow columns in their order (the Client model's column names).
_SELECT = "c.id, " + ", ".join(f"c.{name}" for name in ClientRow._fields)
# Batches fetched ahead of the formatting by the reading thread: the bound on its memory.
READ_AHEAD = 2
_MEMBERS = f"FROM {_MEMBERSHIP} m JOIN {_CLIENT} c ON c.id = m.client_id WHERE m.segment_id = %s AND m.left_at IS NULL"
_ELIGIBLE = f"{_MEMBERS} AND c.ads_consent AND c.erased_at IS NULL"
# Each held line's client and place (batch, position from 1), the removed ones left out (alias b,
# to add a WHERE clause to): ids only, the lines stay packed.
_HELD_PLACES = (f"SELECT x.client_id, b.file_key, b.id AS batch_id, x.pos FROM {_HELD} b CROSS JOIN LATERAL "
                "unnest(string_to_array(b.client_ids, ',', '')::bigint[]) WITH ORDINALITY AS x(client_id, pos)")
# Temporary tables of a delta; dropped at the end, and first in case a pooled connection kept them.
_TEMP = ("audience_diff", "audience_fresh", "audience_new", "audience_old", "audience_gone", "audience_add",
         "audience_touched")


class UnknownSegment(ValueError):
    pass


def get_segment(slug):
    """The segment called `slug`; UnknownSegment naming the known slugs for anything else."""
    try:
        return Segment.objects.get(slug=slug)
    except Segment.DoesNotExist:
        known = ", ".join(Segment.objects.order_by("slug").values_list("slug", flat=True)) or "none yet"
        raise UnknownSegment(f"unknown segment {slug!r}; known: {known}") from None


def export_audience(segment, platform_slug, delta=False, user=None, run=None, out_dir=None, sync=None,
                    push_account=None, new_audience=False):
    """Export the segment's eligible clients for the platform; returns the finished AudienceExport.

    `segment` is a Segment or its slug. `user` (who started it), `run` (the scoring run it follows)
    and `sync` (the AudienceSync it runs) are recorded. `push_account`: the export is to be sent through
    that ConnectedAccount's API (`new_audience`: into a new audience), recorded as an AudiencePush in
    the export's own transaction (audiences.push sends it). `out_dir`: write the files into that folder
    instead of Django's storage (the export is recorded all the same). Raises ValueError
    (UnknownSegment) for an unknown segment or platform; any other failure is recorded on the
    export and raised again.
    """
    platform = get_platform(platform_slug)
    if not isinstance(segment, Segment):
        segment = get_segment(segment)
    export = AudienceExport.objects.create(
        segment=segment, segment_slug=segment.slug, platform=platform.name,
        mode=ExportMode.DELTA if delta else ExportMode.FULL,
        started_by=user if getattr(user, "is_authenticated", False) else None,
        sync=sync, run=run, out_dir=str(Path(out_dir).resolve()) if out_dir else "")
    started = time.monotonic()
    published = []
    # Inside a caller's transaction the read must see that transaction's rows: same connection.
    own_reader = not connection.in_atomic_block
    try:
        with (tempfile.TemporaryDirectory(prefix="crm-audience-") as scratch, transaction.atomic(),
              _cycle_collector_paused()):
            job = _Export(export, platform, segment, _locked_state(segment, platform), Path(scratch), own_reader)
            if delta:
                job.delta()
            else:
                job.full()
            job.publish(published)
            job.finish(time.monotonic() - started)
            if push_account is not None:
                AudiencePush.objects.create(export=export, sync=sync, account=push_account, new_audience=new_audience)
                if new_audience:
                    AudienceSync.objects.filter(pk=sync.pk).update(replace_requested=False)
    except BaseException as exc:
        _discard(published, bool(out_dir))
        try:
            AudienceExport.objects.filter(pk=export.pk).update(
                status=AudienceExport.Status.FAILED, finished_at=timezone.now(),
                seconds=round(time.monotonic() - started, 3), error=f"{type(exc).__name__}: {exc}"[:5000])
        except DatabaseError:
            logger.exception("could not record audience export %s as failed", export.pk)
        raise
    return export


def purge_old_exports(now=None):
    """Delete the files of exports older than CRM_AUDIENCE_RETENTION_DAYS and mark them purged.

    Files the command wrote to a folder of the user's choosing (`--out`) are the user's; only the
    storage is purged. Files left in the storage by a process that was killed (no record names
    them) go by the same age. Returns how many exports were purged.
    """
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.CRM_AUDIENCE_RETENTION_DAYS)
    # A worker killed mid-export leaves its record "running" for ever: past the task time limit it is dead.
    AudienceExport.objects.filter(
        status=AudienceExport.Status.RUNNING,
        created_at__lt=now - dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT),
    ).update(status=AudienceExport.Status.FAILED, finished_at=now, error="abandoned: ran past the time limit")
    purged = 0
    # An export whose push has not gone through is still to be sent from its files (audiences.push).
    old = AudienceExport.objects.filter(created_at__lt=cutoff, purged_at__isnull=True, out_dir="").exclude(
        status=AudienceExport.Status.RUNNING).exclude(push__status__in=[
            AudiencePush.Status.PENDING, AudiencePush.Status.RUNNING, AudiencePush.Status.FAILED])
    for export in old.only("pk", "files").iterator(chunk_size=500):
        try:
            for name in export.files.values():
                default_storage.delete(name)
        except Exception:  # the storage may be away for a moment: tried again next time
            logger.exception("could not delete the files of audience export %s", export.pk)
            continue
        AudienceExport.objects.filter(pk=export.pk).update(purged_at=now)
        purged += 1
    _sweep_orphans(cutoff)
    return purged


def _sweep_orphans(cutoff):
    try:
        platforms = default_storage.listdir(STORAGE_DIR)[0]
    except (FileNotFoundError, NotImplementedError):
        return
    except Exception:
        logger.exception("could not list %s in the storage", STORAGE_DIR)
        return
    for platform in platforms:
        for segment in default_storage.listdir(f"{STORAGE_DIR}/{platform}")[0]:
            folder = f"{STORAGE_DIR}/{platform}/{segment}"
            for name in default_storage.listdir(folder)[1]:
                path = f"{folder}/{name}"
                with contextlib.suppress(FileNotFoundError):
                    if default_storage.get_modified_time(path) < cutoff:
                        default_storage.delete(path)


# --- the export itself ---------------------------------------------------------------------------


def _locked_state(segment, platform):
    state, _ = AudienceState.objects.select_for_update().get_or_create(segment=segment, platform=platform.name)
    return state


class _Export:
    def __init__(self, export, platform: Platform, segment, state, scratch: Path, own_reader=False):
        self.export, self.platform, self.segment, self.state, self.scratch = export, platform, segment, state, scratch
        self.own_reader = own_reader
        self.outputs = {}  # file key ("audience", "add/audience", ...) -> local file

    _COUNT_SQL = (f"SELECT COUNT(*), SUM(CASE WHEN c.erased_at IS NOT NULL THEN 1 ELSE 0 END), "
                  f"SUM(CASE WHEN c.erased_at IS NULL AND NOT c.ads_consent THEN 1 ELSE 0 END) {_MEMBERS}")

    def _count_members(self):
        """Count the members (export.members, erased, no_consent); returns what to call once the export
        is done: aside on a connection of its own when the export may read that way, else now."""
        if self.own_reader:
            return self._count_members_aside()
        self._note_counts(sql.rows(self._COUNT_SQL, [self.segment.pk])[0])
        return lambda: None

    def _count_members_aside(self):
        """_count_members on a connection of its own, in a thread, while the export goes on (a
        second scan of the segment that need not hold up the first); call the result to wait."""
        result = {}

        def count():
            try:
                with _reading_connection() as raw:
                    # Parallel workers would finish the count sooner only to take CPU from the export.
                    raw.execute("SET max_parallel_workers_per_gather = 0")
                    result["row"] = raw.execute(self._COUNT_SQL, [self.segment.pk]).fetchone()
            except BaseException as exc:  # raised in the export's thread
                result["error"] = exc

        thread = threading.Thread(target=count, name="audience-count", daemon=True)
        thread.start()

        def wait():
            thread.join()
            if "error" in result:
                raise result["error"]
            self._note_counts(result["row"])

        return wait

    def _note_counts(self, row):
        self.export.members, self.export.erased, self.export.no_consent = (int(value or 0) for value in row)

    def full(self):
        """Every eligible client into the files; the held state becomes exactly what was written.

        Unless the caller has a transaction of its own, the rows are read on a second connection,
        by a thread that fetches the next batch while this one formats the current one, and the
        held batches go to the server in one binary COPY that stays open for the whole export:
        the server reads and stores while this process formats (a bare read waits for the server
        at every batch); a third counts the members meanwhile. Inside a caller's transaction the
        read must see that transaction's rows, so one connection takes turns: the count, then a
        batch read, then an INSERT of its lines.
        """
        counted = self._count_members()
        sql.execute(f"DELETE FROM {_HELD} WHERE state_id = %s", [self.state.pk])
        query, params = f"SELECT {_select(self.platform)} {_ELIGIBLE} ORDER BY m.client_id", [self.segment.pk]
        with contextlib.ExitStack() as stack:
            writes = {}
            for key in self.platform.files:
                path = self.outputs[key] = self.scratch / f"full-{key}.csv"
                writes[key] = stack.enter_context(open(path, "w", encoding="utf-8", newline="")).write
            if self.own_reader:
                reader = stack.enter_context(_reading_connection())
                cursor = stack.enter_context(connection.cursor())
                # The COPY's data goes out from a thread of psycopg's (queued, at most ~128 MB), so
                # this one does not wait at each batch for the server to take it in.
                copy = stack.enter_context(cursor.cursor.copy(_HeldBatches.COPY.format(table=_HELD),
                                                              writer=QueuedLibpqWriter(cursor.cursor)))
                held = _HeldBatches(_HELD, self.state.pk, copy=copy)
                batches = stack.enter_context(contextlib.closing(read_ahead(_batches_on(reader, query, params))))
            else:
                held = _HeldBatches(_HELD, self.state.pk)
                batches = stack.enter_context(contextlib.closing(_batches(query, params)))
            counts = write_batches(self.platform, batches, writes, held.write)
        counted()
        export = self.export
        export.skipped, export.exported, export.rows = counts.skipped, counts.exported, dict(counts.rows)
        self.state.clients, self.state.rows = counts.exported, dict(counts.rows)

    def delta(self):
        """Added and removed since the previous export of the pair, from the held state, in SQL.

        Who differs is one pass over ids alone: the eligible clients (with whether they changed
        since the previous export) against the held lines' client ids and places (batch, position),
        keeping only the differences. Everything after reads only those: the candidates' lines
        formatted now, and the held lines at the places of the clients removed or changed, split
        out of their batches in SQL. The held batches are not written again: a removed line's
        client id is blanked in its batch (its line stays, unread), and a batch left with at most
        half of its lines live has them written anew; the added lines go into new batches.
        """
        counted = self._count_members()
        state = self.state.pk
        for table in _TEMP:
            sql.execute(f"DROP TABLE IF EXISTS {table}")
        changed, params = "false", [self.segment.pk, state]
        if self.state.synced_at is not None:
            changed = "c.updated_at >= %s"
            params.insert(0, self.state.synced_at)
        # The differences: held lines of clients no longer eligible, eligible clients not held, and
        # eligible held clients changed since (all their held lines), each held line by its place.
        sql.execute(
            "CREATE TEMPORARY TABLE audience_diff AS SELECT e.client_id AS eligible_id, h.client_id AS held_id, "
            f"h.file_key, h.batch_id, h.pos FROM (SELECT m.client_id, {changed} AS changed {_ELIGIBLE}) e "
            f"FULL JOIN ({_HELD_PLACES} WHERE b.state_id = %s AND x.client_id IS NOT NULL) h "
            "ON h.client_id = e.client_id "
            "WHERE e.client_id IS NULL OR h.client_id IS NULL OR e.changed", params)
        sql.execute("CREATE INDEX audience_diff_held ON audience_diff (held_id)")
        sql.execute("CREATE INDEX audience_diff_place ON audience_diff (batch_id, pos)")
        sql.execute("ANALYZE audience_diff")
        # Their lines as they would be sent now, packed as the held ones, then unpacked.
        _create_like_held("audience_fresh")
        candidates = (f"SELECT {_select(self.platform)} FROM (SELECT DISTINCT eligible_id FROM audience_diff "
                      f"WHERE eligible_id IS NOT NULL) a JOIN {_CLIENT} c ON c.id = a.eligible_id ORDER BY c.id")
        with contextlib.closing(_batches(candidates, [])) as batches:
            counts = write_batches(self.platform, batches, None, _HeldBatches("audience_fresh", state).write)
        self.export.skipped = counts.skipped
        sql.execute(f"CREATE TEMPORARY TABLE audience_new AS {_unpacked('audience_fresh')}")
        sql.execute("CREATE INDEX audience_new_client ON audience_new (client_id, file_key)")
        # The held lines at the differences' places, from their batches only. The batches are named one
        # by one: with a subquery PostgreSQL would split every batch before the join.
        batch_ids = [batch_id for (batch_id,) in sql.rows(
            "SELECT DISTINCT batch_id FROM audience_diff WHERE batch_id IS NOT NULL")]
        sql.execute(
            "CREATE TEMPORARY TABLE audience_old AS SELECT d.held_id AS client_id, d.file_key, d.batch_id, d.pos, "
            "d.eligible_id IS NOT NULL AS eligible, x.line "
            f"FROM {_HELD} b CROSS JOIN LATERAL unnest(string_to_array(b.lines, b.separator)) "
            "WITH ORDINALITY AS x(line, pos) JOIN audience_diff d ON d.batch_id = b.id AND d.pos = x.pos "
            f"WHERE b.state_id = %s AND b.id IN ({', '.join(['%s'] * len(batch_ids)) or 'NULL'})",
            [state, *batch_ids])
        sql.execute("CREATE INDEX audience_old_client ON audience_old (client_id, file_key)")
        # Gone: held lines of clients no longer eligible, and of changed clients whose line is not the same now.
        sql.execute(
            "CREATE TEMPORARY TABLE audience_gone AS SELECT o.client_id, o.file_key, o.line, o.batch_id, o.pos "
            "FROM audience_old o WHERE NOT o.eligible OR NOT EXISTS (SELECT 1 FROM audience_new n "
            "WHERE n.client_id = o.client_id AND n.file_key = o.file_key AND n.line = o.line)")
        sql.execute("CREATE INDEX audience_gone_place ON audience_gone (batch_id, pos)")
        # A changed client's held lines are all in audience_old (every held line of theirs differs).
        sql.execute(
            "CREATE TEMPORARY TABLE audience_add AS SELECT n.client_id, n.file_key, n.line "
            "FROM audience_new n WHERE NOT EXISTS (SELECT 1 FROM audience_old o "
            "WHERE o.client_id = n.client_id AND o.file_key = n.file_key AND o.line = n.line)")
        sql.execute("CREATE INDEX audience_add_client ON audience_add (client_id, file_key)")
        sql.execute(
            "CREATE TEMPORARY TABLE audience_touched AS SELECT client_id FROM audience_gone "
            "UNION SELECT client_id FROM audience_add")
        # Autovacuum never analyses temporary tables: without statistics the planner took the changes
        # for a handful of rows and counted them with nested loops (minutes for 40,000 re-added clients).
        sql.execute("ANALYZE audience_gone, audience_add, audience_touched")

        rows = {}
        for kind, table in (("add", "audience_add"), ("remove", "audience_gone")):
            for key, header in self.platform.files.items():
                path = self.outputs[f"{kind}/{key}"] = self.scratch / f"{kind}-{key}.csv"
                rows[f"{kind}/{key}"] = _write_lines(
                    path, header, f"SELECT line FROM {table} WHERE file_key = %s ORDER BY client_id", [key])

        added, removed, updated = (int(value or 0) for value in sql.rows(
            "SELECT SUM(CASE WHEN NOT was_held AND held_now THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN was_held AND NOT held_now THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN was_held AND held_now THEN 1 ELSE 0 END) "
            "FROM (SELECT EXISTS (SELECT 1 FROM audience_diff d WHERE d.held_id = t.client_id) AS was_held, "
            "EXISTS (SELECT 1 FROM audience_add a WHERE a.client_id = t.client_id) OR EXISTS (SELECT 1 "
            "FROM audience_diff d WHERE d.held_id = t.client_id AND NOT EXISTS (SELECT 1 FROM audience_gone g "
            "WHERE g.batch_id = d.batch_id AND g.pos = d.pos)) AS held_now FROM audience_touched t) x")[0])
        if any(rows.values()):
            self._update_held()
        for table in _TEMP:
            sql.execute(f"DROP TABLE IF EXISTS {table}")
        counted()

        export = self.export
        export.exported, export.removed, export.updated, export.rows = added, removed, updated, rows
        self.state.clients += added - removed
        self.state.rows = {key: self.state.rows.get(key, 0) + rows[f"add/{key}"] - rows[f"remove/{key}"]
                           for key in self.platform.files}

    def _update_held(self):
        """The removed lines blanked in their batches; a batch left with at most half of its lines live
        has them written anew with the added lines, in new batches; the batches emptied go."""
        state = self.state.pk
        sql.execute(
            f"UPDATE {_HELD} b SET client_ids = (SELECT string_agg(CASE WHEN g.pos IS NULL THEN x.id ELSE '' END, "
            "',' ORDER BY x.pos) FROM unnest(string_to_array(b.client_ids, ',')) WITH ORDINALITY AS x(id, pos) "
            "LEFT JOIN audience_gone g ON g.batch_id = b.id AND g.pos = x.pos) "
            "WHERE b.state_id = %s AND b.id IN (SELECT batch_id FROM audience_gone)", [state])
        compacted = [batch_id for (batch_id,) in sql.rows(
            f"SELECT b.id FROM {_HELD} b WHERE b.state_id = %s AND b.id IN (SELECT batch_id FROM audience_gone) "
            "AND 2 * cardinality(array_remove(string_to_array(b.client_ids, ',', ''), NULL)) "
            "<= cardinality(string_to_array(b.client_ids, ','))", [state])]
        named = ", ".join(["%s"] * len(compacted)) or "NULL"
        kept = (f"SELECT file_key, client_id, line FROM ({_unpacked(_HELD)} WHERE b.id IN ({named})) m "
                "WHERE client_id IS NOT NULL")
        held = _HeldBatches(_HELD, state)
        with contextlib.closing(_batches(f"SELECT file_key, client_id, line FROM ({kept} UNION ALL SELECT "
                                         f"file_key, client_id, line FROM audience_add) x "
                                         f"ORDER BY file_key, client_id", compacted)) as rows:
            for batch in rows:
                for key, group in itertools.groupby(batch, key=operator.itemgetter(0)):
                    group = list(group)
                    held.write(key, [client_id for _, client_id, _ in group],
                               [f"{line}{LINE_END}" for _, _, line in group])
        sql.execute(f"DELETE FROM {_HELD} WHERE state_id = %s AND id IN ({named})", [state, *compacted])

    def publish(self, published):
        """Move the finished files to the storage (or the folder); `published` lists them as they go."""
        export = self.export
        stamp = timezone.localtime(export.created_at).strftime("%Y%m%d-%H%M%S")
        for key, path in self.outputs.items():
            kind, _, file_key = key.rpartition("/")
            base = f"{stamp}-{kind or 'full'}-{file_key}.csv"
            if export.out_dir:
                target = _free_path(Path(export.out_dir) / f"{export.platform}-{export.segment_slug}-{base}")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(path, target)
                name = str(target)
            else:
                with open(path, "rb") as handle:
                    name = default_storage.save(f"{STORAGE_DIR}/{export.platform}/{export.segment_slug}/{base}",
                                                _ScratchFile(handle, path))
            published.append(name)
            export.files[key] = name

    def finish(self, seconds):
        export, state = self.export, self.state
        export.audience = state.clients
        export.below_minimum = any(state.rows.get(key, 0) < self.platform.min_audience for key in self.platform.files)
        export.status = AudienceExport.Status.SUCCEEDED
        export.finished_at = timezone.now()
        export.seconds = round(seconds, 3)
        export.save()
        state.export, state.synced_at = export, export.created_at
        state.save()


class _ScratchFile(File):
    """A finished local file: FileSystemStorage moves it into place instead of copying it."""

    def __init__(self, handle, path):
        super().__init__(handle)
        self._path = str(path)

    def temporary_file_path(self):
        return self._path


class _HeldBatches:
    """Writes batches of lines as AudienceLines rows (packed: audiences.exports.held) into `table`.

    With `copy`, into that open binary COPY (no escaping to do, whatever the lines hold); else an
    INSERT per batch.
    """

    COLUMNS = "state_id, file_key, client_ids, lines, separator"
    COPY = f"COPY {{table}} ({COLUMNS}) FROM STDIN (FORMAT BINARY)"

    def __init__(self, table, state_id, copy=None):
        self.table, self.state_id, self.copy = table, state_id, copy
        if copy is not None:
            copy.set_types(["int8", "text", "text", "text", "text"])

    def write(self, key, client_ids, lines, text=""):
        row = (self.state_id, key, *pack(client_ids, lines, text))
        if self.copy is not None:
            self.copy.write_row(row)
        else:
            sql.execute(f"INSERT INTO {self.table} ({self.COLUMNS}) VALUES (%s, %s, %s, %s, %s)", row)


def _unpacked(table):
    """SELECT client_id, file_key, batch_id, line for each line of the batches in `table` (alias b, to
    add a WHERE clause to), split in SQL; a removed line's client_id is NULL."""
    return (f"SELECT m.client_id, b.file_key, b.id AS batch_id, m.line FROM {table} b CROSS JOIN LATERAL "
            f"unnest(string_to_array(b.client_ids, ',', '')::bigint[], string_to_array(b.lines, b.separator)) "
            f"AS m(client_id, line)")


def _create_like_held(table):
    """A temporary table of AudienceLines' columns and storage settings."""
    sql.execute(f"CREATE TEMPORARY TABLE {table} (LIKE {_HELD} INCLUDING ALL)")


def _select(platform):
    """The client's id, then the columns the platform reads (`Platform.reads`), in that order."""
    return "c.id, " + ", ".join(f"c.{name}" for name in platform.reads)


def _batches(sql, params):
    """Rows of `sql`, FETCH_SIZE at a time, from a server-side cursor on the default connection."""
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(FETCH_SIZE):
            yield batch


@contextlib.contextmanager
def _reading_connection():
    """A connection of the export's own for its read; it sees committed rows only."""
    wrapper = connections.create_connection(connection.alias)
    try:
        wrapper.ensure_connection()
        yield wrapper.connection
    finally:
        wrapper.close()


def _batches_on(raw, sql, params):
    """Like _batches, on a raw psycopg connection: a named (server-side) cursor in a read-only transaction."""
    with raw.transaction():
        raw.execute("SET TRANSACTION READ ONLY")
        with raw.cursor(name="audiences_audience_read") as cursor:
            cursor.execute(sql, params)
            while batch := cursor.fetchmany(FETCH_SIZE):
                yield batch


def read_ahead(batches, depth=READ_AHEAD):
    """`batches`, produced by a thread of their own up to `depth` ahead of the consumer.

    For a generator that does not use Django's connection (it belongs to its thread): one that reads
    from a connection of its own (while this thread formats a batch, the reader thread waits for
    the server's next one; psycopg lets the other threads run while it waits), or the push's
    batches read from the files (audiences.push: read and encoded while a request is out). Close
    the result to stop the reader early; it closes `batches`, in its own thread, before it ends.
    """
    handoff = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item):
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read():
        try:
            for batch in batches:
                if not put(batch):
                    break
            else:
                put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc)
        finally:
            batches.close()

    reader = threading.Thread(target=read, name="audience-reader", daemon=True)
    reader.start()
    try:
        while (item := handoff.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


def _write_lines(path, header, sql, params):
    """A file from lines kept in SQL: the header, then each line; returns the number of lines."""
    count = 0
    with open(path, "w", encoding="utf-8", newline="") as out, connection.chunked_cursor() as cursor:
        csv.writer(out, lineterminator="\n").writerow(header)
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(FETCH_SIZE):
            out.write("\n".join(line for (line,) in batch))
            out.write("\n")
            count += len(batch)
    return count


def _free_path(path):
    """`path`, or `path` with -2, -3... before the suffix when a file of that name exists."""
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
    return candidate


@contextlib.contextmanager
def _cycle_collector_paused():
    """Python's cycle collector off while an export runs, back on after (if it was on): a speed
    trick that Meta's export needs for its target in bench/audience_export.py.

    An export makes millions of short-lived objects (rows, cells, lines), so the collector runs
    thousands of times per export and finds nothing: rows, strings and lists of strings form no
    cycles. Reference counting still frees everything as it goes; a cycle made meanwhile
    elsewhere in the process waits for the next collection. The switch is the process's: in a
    threaded server other requests run without the collector while an export does, and of two
    exports at once the first to end turns it back on (only speed changes). Celery's prefork
    workers and gunicorn's sync workers run one job per process.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _discard(names, in_folder):
    for name in names:
        try:
            if in_folder:
                os.unlink(name)
            else:
                default_storage.delete(name)
        except Exception:
            logger.exception("could not delete %s after a failed export", name)


__all__ = ["FETCH_SIZE", "UnknownSegment", "export_audience", "get_segment", "purge_old_exports", "read_ahead"]
