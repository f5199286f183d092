"""Rows into PostgreSQL by binary COPY, built as numpy records: no Python object per value."""

import numpy as np

HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags 0, no header extension
TRAILER = b"\xff\xff"
BLOCK = 4 << 20  # bytes per COPY message


def records(fields, n):
    """n binary COPY rows of fixed-width fields [(name, big-endian numpy type)], each field's count
    and lengths filled in: the caller fills the values (record[name])."""
    row = np.dtype([("fields", ">i2"), *[(f, t) for name, kind in fields
                                         for f, t in ((f"len_{name}", ">i4"), (name, kind))]])
    out = np.empty(n, dtype=row)
    out["fields"] = len(fields)
    for name, kind in fields:
        out[f"len_{name}"] = np.dtype(kind).itemsize
    return out


def copy_in(cursor, statement, data):
    """COPY ... FROM STDIN (FORMAT binary) of `data` (rows without header or trailer)."""
    with cursor.cursor.copy(statement) as copy:
        copy.write(HEADER)
        view = memoryview(data)
        for start in range(0, len(view), BLOCK):
            copy.write(view[start:start + BLOCK])
        copy.write(TRAILER)
