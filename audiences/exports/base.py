"""What every ad platform's audience export has in common: the client it is given, and the split
between identifiers (normalised and hashed per the platform's rules) and file layout."""

import csv
import datetime
import io
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from itertools import compress
from operator import itemgetter
from typing import ClassVar, NamedTuple

from .normalize import rest_by_rule

try:  # the common case of csv_lines in C (native/audience_speedups); optional, same results
    from audience_speedups import csv_lines as _native_csv_lines
except ImportError:  # pragma: no cover - the package's build is optional
    _native_csv_lines = None


class ClientRow(NamedTuple):
    """One client as the export reads it from the database: strings are "" when unknown.

    A plain tuple so a server-side cursor's rows become clients with `ClientRow._make(row)`, with no
    model instance per client. Phones are normally E.164 already (the importer stores them so);
    legacy or hand-edited ones may be in any form and are read in the client's `country`.
    """

    external_id: str
    email: str = ""
    phone: str = ""
    first_name: str = ""
    last_name: str = ""
    city: str = ""
    country: str = ""
    zip: str = ""
    birth_date: datetime.date | None = None
    gender: str = ""  # "m", "f" or ""


class Lines(NamedTuple):
    """A batch of clients formatted for a platform's files."""

    lines: dict[str, list[str]]  # file key -> CSV lines, each with its "\n", in the batch's order
    ids: dict[str, list]  # file key -> the record key (client id) of each of those lines
    skipped: int  # clients of the batch with no usable identifier


class Platform(ABC):
    """An ad platform's audience: what it matches on and the file(s) it takes.

    Two steps, kept apart on purpose:

    - `identifiers(client)` normalises and hashes the client's values by the platform's rules and
      returns them under platform-neutral keys (`email`, `phone`, `first_name`, `last_name`,
      `city`, `zip`, `country`, `birth_year`, `gender`, `external_id`; "" where missing), or {}
      when the client has nothing the platform can match on. A later API push (Google Customer
      Match / Data Manager, Meta /{audience_id}/users, Yandex modify_data, VK users lists, TikTok
      custom_audience/update) sends these same values in its own request shape, without
      touching the file formatters.
    - `rows(client)` lays those values out as CSV rows, driven by the `columns` declaration alone.

    A subclass, one module per platform, declares `name`, `label`, `min_audience` and `columns`
    (and `match_keys` if email or phone is not what it needs), and implements `identifier_values`.

    Exports format clients by the batch: `format_batch(records)` gives the CSV lines of a batch of
    database rows holding just the client fields named in `reads`. The version here goes through
    `rows` and is the reference; a platform overrides it with a version that works a column of
    the batch at a time (the batch functions of `normalize`, `csv_lines`, `kept_lines`, cached
    hashes of repeated values through map()), keeping no dict or object per client: the
    per-client steps above cost 4 to 8 us per client, more than reading the client does. VK, with
    two plain files, keeps a loop. Such an override must give exactly the reference's lines:
    tests/audiences/test_platforms.py compares the two on awkward data for every platform.
    """

    name: ClassVar[str]  # slug: google, meta, yandex, vk, tiktok
    label: ClassVar[str]
    min_audience: ClassVar[int]  # smaller audiences are still exported, and flagged
    # File key -> ((header, identifier key), ...), in file and column order.
    columns: ClassVar[dict[str, tuple[tuple[str, str], ...]]]
    # At least one of these identifiers must be present for a client to be exported at all.
    match_keys: ClassVar[tuple[str, ...]] = ("email", "phone")
    # The ClientRow fields identifier_values reads, in the order format_batch's records hold them:
    # the columns an export selects (fewer columns, faster reads: TikTok needs 3 of the 10).
    reads: ClassVar[tuple[str, ...]] = ClientRow._fields
    # Derived from `columns`: file key -> header row, and (file key, the function that picks that
    # file's cells out of the identifiers) pairs: an itemgetter, C speed, once per client and file.
    files: ClassVar[dict[str, tuple[str, ...]]]
    _cells: ClassVar[tuple[tuple[str, Callable[[dict[str, str]], tuple[str, ...]]], ...]]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.files = {key: tuple(header for header, _ in layout) for key, layout in cls.columns.items()}
        cls._cells = tuple((key, _cells_getter([ident for _, ident in layout])) for key, layout in cls.columns.items())

    @abstractmethod
    def identifier_values(self, client: ClientRow) -> dict[str, str]:
        """Every identifier the platform takes, normalised and hashed as it wants, "" if missing."""

    def identifiers(self, client: ClientRow) -> dict[str, str]:
        """`identifier_values`, or {} when none of `match_keys` is present."""
        values = self.identifier_values(client)
        for key in self.match_keys:
            if values[key]:
                return values
        return {}

    def rows(self, client: ClientRow) -> dict[str, tuple[str, ...]]:
        """The client's row for each file it belongs in; {} when it has no usable identifier.

        A file gets no row when every one of its cells would be empty: VK's phones file for a
        client known only by email.
        """
        values = self.identifiers(client)
        if not values:
            return {}
        rows = {}
        for key, cells in self._cells:
            row = cells(values)
            if any(row):
                rows[key] = row
        return rows

    def format_batch(self, records: Sequence[Sequence]) -> Lines:
        """The lines of a batch of clients: each record is a key (the client's id), then the values
        of `reads` in order. The reference version, through `rows`; see the class docstring."""
        lines = {key: [] for key in self.files}
        ids = {key: [] for key in self.files}
        skipped = 0
        reads, blank = self.reads, ClientRow(external_id="")
        for client_id, *values in records:
            rows = self.rows(blank._replace(**dict(zip(reads, values, strict=True))))
            if not rows:
                skipped += 1
            for key, row in rows.items():
                lines[key].append(csv_line(row))
                ids[key].append(client_id)
        return Lines(lines, ids, skipped)

    def __repr__(self):
        return f"<{type(self).__name__} {self.name}>"


def _cells_getter(idents: list[str]) -> Callable[[dict[str, str]], tuple[str, ...]]:
    """itemgetter that always gives a tuple: itemgetter("a") alone would give the bare value."""
    if len(idents) == 1:
        ident = idents[0]
        return lambda values: (values[ident],)
    return itemgetter(*idents)


def csv_line(row: Sequence[str]) -> str:
    """The row as the csv module writes it (minimal quoting, "\n" line end)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(row)
    return out.getvalue()


def csv_lines(*columns: Sequence[str]) -> list[str]:
    """`csv_line` of each row of `columns` (sequences of cells, one per file column, of equal
    length): what the batch formatters build a file's lines with, a column at a time.

    The native module joins the rows that need no quoting (the usual case: digests, digits, plain
    ids) and answers None for the others, which go through `csv_line`.
    """
    if _native_csv_lines is None:
        rows = zip(*columns, strict=True)
        # One scan per column says whether any cell may need quoting (digests never do), not one per row.
        if len(columns) > 1 and not any(needs_quotes("".join(column)) for column in columns):
            return [f"{line}\n" for line in map(",".join, rows)]
        return [csv_line(row) if needs_quotes("".join(row)) or row == ("",) else f"{','.join(row)}\n" for row in rows]
    return rest_by_rule(_native_csv_lines(columns), lambda *row: csv_line(row), *columns)


def kept_lines(key: str, lines: list[str], client_ids: Sequence, keep: Iterable) -> Lines:
    """The batch's `Lines` for a one-file platform: the lines (and client ids) whose `keep` is true;
    the others are the clients skipped for having nothing to match on."""
    keep = list(keep)
    if all(keep):
        return Lines({key: lines}, {key: list(client_ids)}, 0)
    client_ids = list(compress(client_ids, keep))
    return Lines({key: list(compress(lines, keep))}, {key: client_ids}, len(lines) - len(client_ids))


def needs_quotes(cell: str) -> bool:
    """Whether the csv module may quote this cell: a comma, a quote or a line break is in it.

    Hex digests and digits never hold one; a plain cell (an id, an address, a zip) is checked with
    this before a line is glued together with "," and, when it is true, the line goes through
    `csv_line`, which quotes exactly as the csv module does. Four `in` tests are memchr scans,
    ~10x faster than a regex class.
    """
    return "," in cell or '"' in cell or "\n" in cell or "\r" in cell
