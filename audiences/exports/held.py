"""How the lines a platform holds are kept: a batch of lines per database row, not a row per line.

A full export of a million clients to Meta sends hundreds of megabytes of lines (nine SHA-256
columns each); a row per line made the database parse, store and index a million rows, which cost
as much as reading and formatting the clients. A batch is three strings instead: the client ids, comma-
separated, and the lines without their line end, joined by a separator that none of them holds
(a line break, unless a quoted cell holds one: then a private-use character absent from the
batch). The database splits them again when a delta needs them (`string_to_array`); `unpack`
does the same in Python. A line removed from the platform keeps its place in its batch with an
empty client id (the delta blanks it rather than write the batch again): it is no longer held.
"""

from itertools import count

LINE_END = "\n"


def pack(client_ids: list, lines: list[str], text: str = "") -> tuple[str, str, str]:
    """(client ids, lines, separator) for a batch of CSV lines (as the csv module quotes), each
    ending with "\\n"; `text` is the lines joined, if the caller has it already. The lines come
    back from `unpack` as they were."""
    text = text or "".join(lines)
    # The lines are CSV: a cell holding a line break is quoted. Without a quote anywhere (one memchr,
    # cheaper than counting the line breaks of the batch) the text is the batch as it is.
    if '"' not in text or text.count(LINE_END) == len(lines):
        separator, body = LINE_END, text[:-1]
    else:
        separator = next(char for char in map(chr, count(0xE000)) if char not in text)
        body = separator.join([line[:-1] for line in lines])
    return ",".join(map(str, client_ids)), body, separator


def unpack(client_ids: str, body: str, separator: str) -> list[tuple[int, str]]:
    """(client id, line without its line end) for each line of a packed batch still held."""
    return [(int(client_id), line) for client_id, line in zip(client_ids.split(","), body.split(separator), strict=True)
            if client_id]
