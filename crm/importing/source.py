"""Reading a CSV file as a stream of (line number, cells), with errors that name the file and line."""

import codecs
import csv
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import ImportFileError

# Huge cells are refused per row by the column parsers; this only keeps one cell from eating memory.
csv.field_size_limit(1_000_000)


@contextmanager
def opened(path):
    """Yield (display name, real path). Standard input ('-') is spooled to a temporary file so the
    file can be read twice: once to import, once more to copy rejected rows out."""
    if str(path) != "-":
        if not Path(path).is_file():
            raise ImportFileError(f"{path}: no such file")
        yield str(path), Path(path)
        return
    with tempfile.NamedTemporaryFile(prefix="crm-stdin-", suffix=".csv") as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool)
        spool.flush()
        yield "<stdin>", Path(spool.name)


def _decoded_lines(binary, name):
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    for number, raw in enumerate(binary, start=1):
        try:
            line = decoder.decode(raw)
        except UnicodeDecodeError as exc:
            hint = ""
            try:
                raw.decode("cp1251")
                hint = " It looks like Windows-1251: save the file as UTF-8."
            except UnicodeDecodeError:
                pass
            raise ImportFileError(
                f"{name}:{number}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at position {exc.start + 1}).{hint}"
            ) from None
        if number == 1:
            line = line.removeprefix("\ufeff")  # spreadsheets often write a byte-order mark
        yield line


def _delimiter(first_line):
    # Spreadsheets set to Russian write ';' between cells; accept it when the header shows it.
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
            raise ImportFileError(f"{name}: the file is empty; a header row is required") from None
        self.delimiter = _delimiter(first)

        def all_lines():
            yield first
            yield from lines

        self._reader = csv.reader(all_lines(), delimiter=self.delimiter, strict=True)
        try:
            self.header = [cell.strip().lower() for cell in next(self._reader)]
        except csv.Error as exc:
            self.close()
            raise ImportFileError(f"{name}:1: the header row is not valid CSV ({exc})") from None
        if not any(self.header):
            self.close()
            raise ImportFileError(f"{name}:1: the header row is empty")

    def __iter__(self):
        reader = self._reader
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ImportFileError(f"{self.name}:{reader.line_num}: not valid CSV ({exc})") from None
            if not cells or cells == [""]:
                continue  # blank line
            yield reader.line_num, cells

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
