"""Write a platform's audience file(s) from a stream of clients, in one pass and bounded memory."""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from operator import attrgetter
from typing import TextIO

from .base import ClientRow, Platform, csv_line

BATCH_SIZE = 10_000  # clients formatted at a time by write_audience: the bound on its memory


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
    platform: Platform, clients: Iterable[ClientRow], open_file: Callable[[str], TextIO],
    batch_size: int = BATCH_SIZE,
) -> ExportCounts:
    """Write `platform`'s files for `clients` and count what went where.

    `open_file(file_key)` is called once per key of `platform.files`, before the first client, and
    returns the text stream to write that file into. The caller owns the streams: it closes them,
    or reads and uploads them first. Open them with `encoding="utf-8"` and `newline=""` so that
    the `\\n` line ends reach the file as they are. Every file gets its header, even with no rows.

    `clients` is consumed once, `batch_size` clients at a time: a stream of any length goes through.
    """
    pick = attrgetter(*platform.reads)  # a ClientRow's values in the order format_batch reads them
    if len(platform.reads) == 1:
        pick = (lambda get: lambda client: (get(client),))(pick)
    clients = iter(clients)

    def batches():
        while batch := list(islice(clients, batch_size)):
            yield [(number, *pick(client)) for number, client in enumerate(batch)]

    writes = {key: open_file(key).write for key in platform.files}
    return write_batches(platform, batches(), writes)


def write_batches(
    platform: Platform, batches: Iterable[Sequence[Sequence]], writes: dict[str, Callable[[str], object]] | None,
    keep: Callable[[str, list, list[str], str], object] | None = None,
) -> ExportCounts:
    """Format batches of records (see `Platform.format_batch`) and write each file's lines.

    `writes` maps each file key to the `write` of its stream; the header goes first. With None no
    file is written (a delta keeps its lines in the database only). `keep(file_key, record_keys,
    lines, text)`, if given, gets every file's lines of each batch with the key of each line's
    record and the lines joined: the export stores them as what the platform holds.
    """
    if writes is not None:
        for key, header in platform.files.items():
            writes[key](csv_line(header))
    written = dict.fromkeys(platform.files, 0)
    total = skipped = 0
    format_batch = platform.format_batch
    for batch in batches:
        lines = format_batch(batch)
        total += len(batch)
        skipped += lines.skipped
        for key, file_lines in lines.lines.items():
            if not file_lines:
                continue
            text = "".join(file_lines)
            if writes is not None:
                writes[key](text)
            if keep is not None:
                keep(key, lines.ids[key], file_lines, text)
            written[key] += len(file_lines)
    return ExportCounts(total=total, rows=written, skipped=skipped,
                        below_minimum=min(written.values()) < platform.min_audience)
