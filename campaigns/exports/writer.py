"""Write a platform's audience file(s) from a stream of clients, in one pass and bounded memory."""

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TextIO

from .base import ClientRow, Platform


@dataclass
class ExportCounts:
    total: int = 0  # clients seen
    rows: dict[str, int] = field(default_factory=dict)  # rows written, per file key
    skipped: int = 0  # clients with no usable identifier for the platform
    # Some file holds fewer rows than the platform's minimum audience, so the platform will not
    # serve that list (for VK each file is a list of its own). The files are written all the same.
    below_minimum: bool = False

    @property
    def exported(self) -> int:
        """Clients that made it into at least one file."""
        return self.total - self.skipped


def write_audience(
    platform: Platform, clients: Iterable[ClientRow], open_file: Callable[[str], TextIO]
) -> ExportCounts:
    """Write `platform`'s files for `clients` and count what went where.

    `open_file(file_key)` is called once per key of `platform.files`, before the first client, and
    returns the text stream to write that file into. The caller owns the streams: it closes them,
    or reads and uploads them first. Open them with `encoding="utf-8"` and `newline=""` so that
    the `\\n` line ends reach the file as they are. Every file gets its header, even with no rows.

    `clients` is consumed once, client by client: a server-side cursor streams straight through.
    """
    # Per file: the stream's write, and csv's writerow for the rare row that needs quoting. Most
    # cells are hex digests or digits, which never need quotes, while the csv module examines every
    # character of every cell: ~7 us for a Meta row, more than all the rest of an export's work
    # per client. So rows are joined directly unless a cell holds a comma, a quote or a line break
    # (`in` on the glued cells is a memchr scan; a regex class or str.count is ~10x slower), and
    # the output is the csv module's either way.
    writers = {}
    for key, header in platform.files.items():
        stream = open_file(key)
        csv_row = csv.writer(stream, lineterminator="\n").writerow
        csv_row(header)
        writers[key] = (stream.write, csv_row)
    written = dict.fromkeys(platform.files, 0)
    rows_of = platform.rows  # looked up once: the loop runs once per client
    total = skipped = 0
    for client in clients:
        total += 1
        rows = rows_of(client)
        if not rows:
            skipped += 1
            continue
        for key, row in rows.items():
            write, csv_row = writers[key]
            cells = "".join(row)
            if "," in cells or '"' in cells or "\n" in cells or "\r" in cells:
                csv_row(row)
            else:
                write(",".join(row) + "\n")
            written[key] += 1
    return ExportCounts(total=total, rows=written, skipped=skipped,
                        below_minimum=min(written.values()) < platform.min_audience)
