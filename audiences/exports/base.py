"""What every ad platform's audience export has in common: the client it is given, and the split
between identifiers (normalised and hashed per the platform's rules) and file layout."""

import csv
import datetime
import io
from abc import ABC, abstractmethod
from collections.abc import Sequence
from itertools import compress
from operator import and_
from typing import ClassVar, NamedTuple

from .normalize import rest_by_rule

try:  # the common case of csv_lines in C (native/audience_speedups); optional, same results
    from audience_speedups import csv_lines as _native_csv_lines
except ImportError:  # pragma: no cover - the package's build is optional
    _native_csv_lines = None


class ClientRow(NamedTuple):
    """One client as the export reads it from the database: strings are "" when unknown.

    Phones are normally E.164 already (the importer stores them so); legacy or hand-edited ones
    may be in any form and are read in the client's `country`.
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

    A subclass, one module per platform, declares `name`, `label`, `min_audience`, `columns`,
    `reads` (and `match_keys` if email or phone is not what it needs), and states its rules once,
    in `identifier_columns`: for a batch of clients, given as a column per field it reads, each
    identifier the platform takes (normalised and hashed as it wants, "" where missing) as a
    column, under platform-neutral keys (`email`, `phone`, `first_name`, `last_name`, `city`,
    `zip`, `country`, `birth_year`, `gender`, `external_id`). It works a column at a time: exports
    format millions of clients, so each rule runs through map() over a column, or once per distinct
    value (`normalize.HashCache`), rather than in a Python loop per client.

    Everything else derives from it and from the `columns` declaration:

    - `format_batch(records)`: the CSV lines of a batch of database rows, for the export;
    - `identifiers(client)`: one client's values (the same rules, over a batch of one), or {}
      when it has nothing the platform can match on. A later API push (Google Customer Match /
      Data Manager, Meta /{audience_id}/users, Yandex modify_data, VK users lists, TikTok
      custom_audience/update) sends these same values in its own request shape;
    - `rows(client)`: one client's row per file.
    """

    name: ClassVar[str]  # slug: google, meta, yandex, vk, tiktok
    label: ClassVar[str]
    min_audience: ClassVar[int]  # smaller audiences are still exported, and flagged
    # File key -> ((header, identifier key), ...), in file and column order.
    columns: ClassVar[dict[str, tuple[tuple[str, str], ...]]]
    # At least one of these identifiers must be present for a client to be exported at all.
    match_keys: ClassVar[tuple[str, ...]] = ("email", "phone")
    # The ClientRow fields identifier_columns reads, in the order format_batch's records hold them:
    # the columns an export selects (fewer columns, faster reads: TikTok needs 3 of the 10).
    reads: ClassVar[tuple[str, ...]] = ClientRow._fields
    # Derived from `columns`: file key -> header row.
    files: ClassVar[dict[str, tuple[str, ...]]]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.files = {key: tuple(header for header, _ in layout) for key, layout in cls.columns.items()}

    @abstractmethod
    def identifier_columns(self, fields: dict[str, Sequence]) -> dict[str, Sequence[str]]:
        """Each identifier the platform takes, as a column: `fields` maps each name of `reads` to
        that field's values for a batch of clients (in the same order)."""

    def format_batch(self, records: Sequence[Sequence]) -> Lines:
        """The lines of a batch of clients: each record is a key (the client's id), then the values
        of `reads` in order."""
        if not records:
            return Lines({key: [] for key in self.files}, {key: [] for key in self.files}, 0)
        client_ids, *fields = zip(*records)
        matched, files = self._cells(dict(zip(self.reads, fields, strict=True)))
        lines, ids = {}, {}
        for key, (keep, cells) in files.items():
            if all(keep):
                lines[key], ids[key] = csv_lines(*cells), list(client_ids)
            elif keep is matched:  # a few clients without an identifier: their lines are dropped
                lines[key] = list(compress(csv_lines(*cells), keep))
                ids[key] = list(compress(client_ids, keep))
            else:  # a file of one identifier (VK's) leaves out more: before they are formatted
                lines[key] = csv_lines(*(list(compress(column, keep)) for column in cells))
                ids[key] = list(compress(client_ids, keep))
        return Lines(lines, ids, matched.count(False))

    def identifiers(self, client: ClientRow) -> dict[str, str]:
        """The client's identifiers, normalised and hashed, "" where missing; {} when none of
        `match_keys` is present."""
        values = {key: column[0] for key, column in self.identifier_columns(self._fields_of(client)).items()}
        return values if any(values[key] for key in self.match_keys) else {}

    def rows(self, client: ClientRow) -> dict[str, tuple[str, ...]]:
        """The client's row for each file it belongs in; {} when it has no usable identifier."""
        _, files = self._cells(self._fields_of(client))
        return {key: tuple(column[0] for column in cells) for key, (keep, cells) in files.items() if keep[0]}

    def _fields_of(self, client: ClientRow) -> dict[str, tuple]:
        return {name: (getattr(client, name),) for name in self.reads}

    def _cells(self, fields):
        """(matched, {file key: (keep, cell columns)}) for a batch: whether each client has one of
        `match_keys`, and for each file whether the client gets a line in it and its cells.

        A matched client gets a line in each file where one of its cells is not empty: in every
        file that holds all of `match_keys`; in VK's phones file only with a phone.
        """
        values = self.identifier_columns(fields)
        matched = list(map(any, zip(*(values[key] for key in self.match_keys))))
        files = {}
        for key, layout in self.columns.items():
            cells = [values[ident] for _, ident in layout]
            idents = {ident for _, ident in layout}
            if idents.issuperset(self.match_keys):
                files[key] = (matched, cells)
            else:
                files[key] = (list(map(and_, matched, map(any, zip(*cells)))), cells)
        return matched, files

    def __repr__(self):
        return f"<{type(self).__name__} {self.name}>"


def csv_line(row: Sequence[str]) -> str:
    """The row as the csv module writes it (minimal quoting, "\n" line end): the rule of the files."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(row)
    return out.getvalue()


def csv_lines(*columns: Sequence[str]) -> list[str]:
    """`csv_line` of each row of `columns` (sequences of cells, one per file column, of equal
    length). The native module joins the rows that need no quoting (the usual case: digests,
    digits, plain ids) and answers None for the others, which go through `csv_line`."""
    if _native_csv_lines is None:
        return list(map(csv_line, zip(*columns, strict=True)))
    return rest_by_rule(_native_csv_lines(columns), lambda *row: csv_line(row), *columns)
