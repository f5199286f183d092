"""The import workflow: read and parse the file, stage it, check it, merge it, report.

Buys: batches parsed column by column, the cyclic collector paused while reading (bench/import_speed.py).
"""

import gc
import logging
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.bulk_load import indexes_built_after
from core.sql import analyze
from crm import csvsafe
from crm.models import ImportRun
from crm.signals import data_arrived

from . import staging
from .errors import ImportFileError
from .kinds import KINDS
from .source import CsvSource, opened

log = logging.getLogger(__name__)

MAX_SHOWN_ERRORS = 50
PROGRESS_EVERY = 100_000


@dataclass
class ImportReport:
    kind: str
    file: str
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    clients_created: int = 0  # bare clients made for purchases or activity of unknown clients
    errors: list = field(default_factory=list)  # the first MAX_SHOWN_ERRORS "FILE:LINE: column: reason"
    problems: list = field(default_factory=list)  # the same problems as (line, column, reason), for the API
    rejected_file: str = ""
    imported: bool = False
    rejected_messages: int = 0  # all problems found, of which `errors` holds the first ones

    def summary(self):
        parts = [_("read %(n)d") % {"n": self.read}, _("created %(n)d") % {"n": self.created},
                 _("updated %(n)d") % {"n": self.updated}, _("unchanged %(n)d") % {"n": self.unchanged},
                 _("rejected %(n)d") % {"n": self.rejected}]
        if self.clients_created:
            parts.append(_("new bare clients %(n)d") % {"n": self.clients_created})
        return f"{self.file}: " + ", ".join(parts)

    def error_lines(self):
        lines = list(self.errors)
        hidden = self.rejected_messages - len(self.errors)
        if hidden > 0:
            lines.append(_("... and %(n)d more errors") % {"n": hidden})
        return lines


class _Rollback(Exception):
    pass


def rejected_path(name, path):
    base = Path("stdin.csv") if name == "<stdin>" else Path(path)
    return base.with_name(f"{base.stem}.rejected.csv")


def run_import(kind, path, skip_invalid=False, progress=None, record=True, display_name=None):
    """Import one CSV file of `kind` (clients, purchases, purchase_items, activity, survey_answers).

    By default a file with any invalid row imports nothing. With skip_invalid the valid rows go in
    and rejected ones are written to <name>.rejected.csv with an `error` column.
    Raises ImportFileError when the file as a whole cannot be read. `display_name` names the file in
    messages and in the import's record where `path` is only where an upload was stored.
    """
    with opened(path, display_name) as (name, real_path), CsvSource(name, real_path) as source:
        reject_writer = _RejectWriter(source, real_path) if skip_invalid else None
        try:
            report = import_rows(kind, name, source.header, source.batches(settings.CRM_IMPORT_BATCH_SIZE),
                                 skip_invalid, progress, reject_writer)
        finally:
            if reject_writer:
                reject_writer.close()
    if record:
        ImportRun.objects.create(
            kind=kind, file_name=name[:255], finished_at=timezone.now(), ok=report.imported,
            report={k: v for k, v in report.__dict__.items() if k not in ("errors", "problems")}
            | {"errors": report.errors},
        )
    return report


def import_rows(kind, name, header, batches, skip_invalid=False, progress=None, reject_writer=None):
    """Parse, check and merge rows given as batches of ([line, ...], [cells, ...]) under `header`.

    The one way in for every source, so every source gets the same rules and the same idempotent
    upsert: a CSV file (run_import) and the REST API (api/ingest.py, which numbers its items instead
    of lines). All or nothing unless skip_invalid. Raises ImportFileError for a bad header.
    """
    spec = KINDS[kind]
    report = ImportReport(kind=kind, file=name)
    present = _check_header(spec, header, name)
    columns = [(col, spec.column(col).model_field) for col in present]
    try:
        with transaction.atomic():
            stage = _stage_and_merge(spec, name, batches, present, columns, report, skip_invalid, progress,
                                     reject_writer)
            if kind in ANNOUNCED:
                _announce_on_commit(kind, stage)
    except _Rollback:
        pass
    return report


ANNOUNCED = ("purchases", "activity")  # the kinds crm.signals.data_arrived tells the rooms above about
# Rows older than this are history being loaded (a first load, a backfill), not events to act on at
# once: announcing them would enter last year's buyers into today's welcome journey. The night takes
# them in like any data.
ANNOUNCED_WITHIN = timedelta(days=2)


def _announce_on_commit(kind, stage):
    """data_arrived once the import (and any transaction around it, as the API's) has committed: a
    rollback announces nothing. The stage is read now, as the commit empties it."""
    client_ids, orders = staging.arrived(stage, kind, since=timezone.now() - ANNOUNCED_WITHIN)
    if not client_ids:
        return

    def announce():
        for receiver, result in data_arrived.send_robust(ImportRun, kind=kind, client_ids=client_ids, orders=orders):
            if isinstance(result, Exception):  # the data is in; the journeys' night catches up
                log.error("after the %s import: %s failed", kind, receiver, exc_info=result)

    transaction.on_commit(announce)


def _check_header(spec, header, name):
    known = [c.name for c in spec.columns]
    problems = []
    seen = set()
    repeated = sorted({h for h in header if h in seen or seen.add(h)})
    if repeated:
        problems.append(_("repeated column(s): %(columns)s") % {"columns": ", ".join(repeated)})
    unknown = [h for h in header if h not in known]
    if unknown:
        problems.append(_("unknown column(s): %(columns)s; known: %(known)s")
                        % {"columns": ", ".join(unknown) or _("(empty name)"), "known": ", ".join(known)})
    missing = [c for c in spec.required() if c not in header]
    if missing:
        problems.append(_("missing required column(s): %(columns)s") % {"columns": ", ".join(missing)})
    if problems:
        raise ImportFileError(f"{name}:1: " + "; ".join(problems))
    return header


def _stage_and_merge(spec, name, batches, present, columns, report, skip_invalid, progress, reject_writer):
    stage = staging.open_stage(columns)
    parser = _BatchParser(spec, present, staging.adapters(columns))

    def parse(lines, rows):
        """Parsed rows to stage; rejected ones are counted, reported and written out."""
        values, rejected = parser.parse(lines, rows)
        for line, cells, problems in rejected:
            report.rejected += 1
            _note_errors(report, line, problems)
            if reject_writer:
                reject_writer.write(cells, problems)
        return values

    with _cyclic_gc_paused(), staging.loader(stage, columns) as load:
        for lines, rows in batches:
            first = (report.read // PROGRESS_EVERY + 1) * PROGRESS_EVERY
            report.read += len(rows)
            if progress:
                for read in range(first, report.read + 1, PROGRESS_EVERY):
                    progress(f"{name}: {read} rows read")
            load(parse(lines, rows))
    analyze(stage, report.read - report.rejected)

    # Checks that need the whole file or the database, done in SQL.
    late = staging.reject_duplicates(stage, spec.file_key, "/".join(spec.file_key))
    late += sum(staging.reject_where(stage, condition, message) for condition, message in spec.checks())
    if late:
        report.rejected += late
        for line, error in staging.rejected(stage, limit=MAX_SHOWN_ERRORS):
            report.problems.append((line, *error.partition(": ")[::2]))  # the SQL checks say "column: reason"
        report.rejected_messages += late
    report.problems = sorted(report.problems, key=lambda e: e[0])[:MAX_SHOWN_ERRORS]
    report.errors = [f"{name}:{line}: {column}: {reason}" for line, column, reason in report.problems]

    if report.rejected and not skip_invalid:
        raise _Rollback
    if late and reject_writer:
        reject_writer.copy_lines(staging.rejected(stage))

    params = {"now": timezone.now(), "source": f"import:{Path(name).name}"[:100]}
    staged = report.read - report.rejected
    for target in spec.targets(present):
        # A first load of history (many rows, a table holding fewer) builds the indexes once, after.
        with indexes_built_after(target.model, staged):
            created, updated = staging.upsert(stage, target, params)
        if target.bare_clients:
            report.clients_created += created
        else:
            report.created += created
            report.updated += updated
    report.unchanged = report.read - report.rejected - report.created - report.updated
    report.imported = True
    if reject_writer and report.rejected:
        report.rejected_file = str(reject_writer.path)
    return stage


_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False


@contextmanager
def _cyclic_gc_paused():
    """Reading makes millions of short-lived lists and tuples but no reference cycles: reference
    counting frees them all, while the cyclic collector, triggered by the allocations alone, would
    walk every live object of the process over and over (a large share of the parse time). The
    collector is paused while any import reads, and restored by the last one to finish."""
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


class _BatchParser:
    """Parses a batch of rows into the tuples to stage.

    Most files are clean, so a batch is first parsed column by column: one call per column (its
    `many` fast path, else its parser over every cell), with no per-row bookkeeping. If any row has
    the wrong number of cells or any cell is invalid, the batch is parsed again row by row, which
    finds every problem of every row in order; the parsers are pure, so both ways give the same values.
    """

    def __init__(self, spec, present, adapters):
        self.present = present
        self.width = len(present)
        self.columns = [spec.column(name) for name in present]
        self.parsers = [column.parse for column in self.columns]
        self.adapters = adapters
        self.uses_row = any(column.uses_row for column in self.columns)

    def parse(self, lines, rows):
        """Returns (values to stage, [(line, cells, problems)] for rejected rows)."""
        if not rows:
            return [], []
        values = self._by_column(lines, rows)
        if values is not None:
            return values, []
        values, rejected = [], []
        for line, cells in zip(lines, rows):
            problems, parsed = self._by_row(line, cells)
            if problems:
                rejected.append((line, cells, problems))
            else:
                values.append(parsed)
        return values, rejected

    def _by_column(self, lines, rows):
        if set(map(len, rows)) != {self.width}:
            return None
        row_dicts = [dict(zip(self.present, cells)) for cells in rows] if self.uses_row else None
        parsed = []
        try:
            for cells, column, adapt in zip(zip(*rows), self.columns, self.adapters):
                values = column.many(cells) if column.many else None
                if values is None:
                    parse = column.parse
                    if row_dicts is None:
                        values = [parse(cell, None) for cell in cells]
                    else:
                        values = [parse(cell, row) for cell, row in zip(cells, row_dicts)]
                parsed.append(list(map(adapt, values)) if adapt else values)
        except ValueError:
            return None
        return list(zip(lines, *parsed))

    def _by_row(self, line, cells):
        """(problems, values to stage) for one row; every problem of the row is listed."""
        if len(cells) != self.width:
            return [("row", _("expected %(width)d cells as in the header, found %(found)d")
                     % {"width": self.width, "found": len(cells)})], None
        row = dict(zip(self.present, cells))
        values = [line]
        problems = []
        for name, cell, parse, adapt in zip(self.present, cells, self.parsers, self.adapters):
            try:
                value = parse(cell, row)
            except ValueError as exc:
                problems.append((name, str(exc)))
                continue
            values.append(adapt(value) if adapt else value)
        return problems, values


def _note_errors(report, line, problems):
    for column, reason in problems:
        report.rejected_messages += 1
        if len(report.problems) < MAX_SHOWN_ERRORS:
            report.problems.append((line, column, reason))


class _RejectWriter:
    """Writes rejected rows next to the input, with the reason, so nothing the shop sent is lost."""

    def __init__(self, source, real_path):
        self.source = source
        self.real_path = real_path
        self.path = rejected_path(source.name, real_path)
        self._file = None

    def _writer(self):
        if self._file is None:
            self._file = open(self.path, "w", newline="", encoding="utf-8")  # noqa: SIM115
            # People open this file in a spreadsheet to fix the rows: formula cells are escaped.
            self._csv = csvsafe.writer(self._file, lineterminator="\n")
            self._csv.writerow([*self.source.header, "error"])
        return self._csv

    def write(self, cells, problems):
        self._writer().writerow([*cells, "; ".join(f"{col}: {reason}" for col, reason in problems)])

    def copy_lines(self, line_errors):
        """Copy rows rejected by the SQL checks, reading the input once more."""
        pending = iter(line_errors)
        wanted = next(pending, None)
        with CsvSource(self.source.name, self.real_path) as again:
            for line, cells in again:
                while wanted is not None and wanted[0] < line:
                    wanted = next(pending, None)
                if wanted is None:
                    break
                if wanted[0] == line:
                    self._writer().writerow([*cells, wanted[1]])

    def close(self):
        if self._file is not None:
            self._file.close()


def print_report(report, stdout=sys.stdout, stderr=sys.stderr):
    for line in report.error_lines():
        stderr.write(line + "\n")
    stdout.write(report.summary() + "\n")
    if report.rejected_file:
        stdout.write(f"rejected rows written to {report.rejected_file}\n")
