"""Reading a CSV file as a stream of (line number, cells), with errors that name the file and line."""

import codecs
import csv
import itertools
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from django.utils.translation import gettext as _

from .errors import ImportFileError

# Huge cells are refused per row by the column parsers; this only keeps one cell from eating memory.
csv.field_size_limit(1_000_000)
LINES_BLOCK_BYTES = 1 << 16


@contextmanager
def opened(path, display_name=None):
    """Yield (display name, real path). Standard input ('-') is spooled to a temporary file so the
    file can be read twice: once to import, once more to copy rejected rows out. `display_name` is
    the name the user knows the file by (an upload's own name), used in every message instead of
    the path it was stored under on the server."""
    if str(path) != "-":
        if not Path(path).is_file():
            raise ImportFileError(f"{display_name or path}: " + _("no such file"))
        yield display_name or str(path), Path(path)
        return
    with tempfile.NamedTemporaryFile(prefix="crm-stdin-", suffix=".csv") as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool)
        spool.flush()
        yield "<stdin>", Path(spool.name)


def _decoded_lines(binary, name):
    """The file's lines as text. Lines are decoded a block at a time: a whole line is valid UTF-8
    on its own, or not at all, so only a block with a bad line is read again line by line to name it."""
    return itertools.chain.from_iterable(_decoded_blocks(binary, name))


def _decoded_blocks(binary, name):
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    number = 0  # lines before this block
    while block := binary.readlines(LINES_BLOCK_BYTES):
        _refuse_nul(block, number, name)
        try:
            lines = list(map(bytes.decode, block))  # UTF-8, strict
        except UnicodeDecodeError:
            # Lazily, so the lines before the bad one are read first, as they would be one by one.
            yield _decoded_one_by_one(block, number, decoder, name)
        else:
            if number == 0:
                lines[0] = _without_bom(lines[0])
            yield lines
        number += len(block)


def _refuse_nul(block, before, name):
    # A NUL byte means a binary file (or a broken export); PostgreSQL text cannot hold it either.
    if b"\x00" not in b"".join(block):
        return
    for number, raw in enumerate(block, start=before + 1):
        if b"\x00" in raw:
            raise ImportFileError(f"{name}:{number}: " + _("contains a NUL byte (position %(position)d): not a "
                                                            "text CSV file") % {"position": raw.index(0) + 1})


def _without_bom(first_line):
    return first_line.removeprefix("\ufeff")  # spreadsheets often write a byte-order mark


def _decoded_one_by_one(block, before, decoder, name):
    for number, raw in enumerate(block, start=before + 1):
        try:
            line = decoder.decode(raw)
        except UnicodeDecodeError as exc:
            hint = ""
            try:
                raw.decode("cp1251")
                hint = " " + _("It looks like Windows-1251: save the file as UTF-8.")
            except UnicodeDecodeError:
                pass
            raise ImportFileError(
                f"{name}:{number}: " + _("not UTF-8 text (byte 0x%(byte)02x at position %(position)d).")
                % {"byte": raw[exc.start], "position": exc.start + 1} + hint
            ) from None
        yield _without_bom(line) if number == 1 else line


def delimiter_of(first_line):
    """The cell separator of a CSV file, from its header line (the spend import uses it too).
    Spreadsheets set to Russian write ';' between cells; accept it when the header shows it."""
    if ";" in first_line and "," not in first_line:
        return ";"
    return ","


class CsvSource:
    """Iterates rows of a CSV file as (line, cells). The header is read on open."""

    def __init__(self, name, path):
        self.name = name
        self.path = path
        self._file = open(path, "rb")  # noqa: SIM115 - closed in close()
        lines = _decoded_lines(self._file, name)
        try:
            first = next(lines)
        except StopIteration:
            self.close()
            raise ImportFileError(f"{name}: " + _("the file is empty; a header row is required")) from None
        self.delimiter = delimiter_of(first)

        self._reader = csv.reader(itertools.chain([first], lines), delimiter=self.delimiter, strict=True)
        try:
            self.header = [cell.strip().lower() for cell in next(self._reader)]
        except csv.Error as exc:
            self.close()
            raise ImportFileError(f"{name}:1: " + _("the header row is not valid CSV (%(reason)s)")
                                  % {"reason": exc}) from None
        if not any(self.header):
            self.close()
            raise ImportFileError(f"{name}:1: " + _("the header row is empty"))

    def __iter__(self):
        reader = self._reader
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ImportFileError(f"{self.name}:{reader.line_num}: " + _("not valid CSV (%(reason)s)")
                                      % {"reason": exc}) from None
            if not cells or cells == [""]:
                continue  # blank line
            yield reader.line_num, cells

    def batches(self, size):
        """The rows as ([line, ...], [cells, ...]) lists of up to `size` rows: the same rows as
        iterating, with less work per row. Rows before an unreadable line come out before its error."""
        reader = self._reader
        lines, rows = [], []
        failure = None
        try:
            for cells in reader:
                if not cells or cells == [""]:
                    continue  # blank line
                lines.append(reader.line_num)
                rows.append(cells)
                if len(rows) >= size:
                    yield lines, rows
                    lines, rows = [], []
        except csv.Error as exc:
            failure = ImportFileError(f"{self.name}:{reader.line_num}: " + _("not valid CSV (%(reason)s)")
                                      % {"reason": exc})
        except ImportFileError as exc:
            failure = exc
        if rows:
            yield lines, rows
        if failure:
            raise failure from None

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
