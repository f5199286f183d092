"""PostgreSQL's binary COPY format both ways, as numpy records: no Python object per value.

Buys: the night's score rows, first-night memberships and shop reads skip Python objects (bench/segmentation.py).
"""

import datetime as dt
import struct

import numpy as np

HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags 0, no header extension
TRAILER = b"\xff\xff"
BLOCK = 4 << 20  # bytes per COPY message
# Binary dates and timestamps count from 2000-01-01; 'infinity' is the type's largest value.
EPOCH = dt.date(2000, 1, 1)
EPOCH_US = (EPOCH - dt.date(1970, 1, 1)).days * 86_400_000_000  # 2000-01-01 in microseconds since 1970
INFINITY_TIME = np.iinfo(np.int64).max
INFINITY_DATE = np.iinfo(np.int32).max


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


def arrays(data, kinds):
    """The one-dimensional arrays of a binary COPY out holding one row of array fields: per field,
    by kind ("float": float8 elements, else int8 or timestamptz), a numpy array in native byte order,
    copied out of `data` (so `data` can go: each value came with its length, half as big again); a
    NULL field (array_agg of no rows) is an empty array."""
    at = len(HEADER) + 2  # the row's field count
    out = []
    for kind in kinds:
        element = np.dtype([("length", ">i4"), ("value", ">f8" if kind == "float" else ">i8")])
        (length,) = struct.unpack_from(">i", data, at)
        at += 4
        native = element["value"].newbyteorder("=")
        if length < 0:
            out.append(np.empty(0, dtype=native))
            continue
        ndim, _flags, _type, size = struct.unpack_from(">iiii", data, at)
        body = at + 12 + 8 * ndim  # after the header and each dimension's size and lower bound
        out.append(np.frombuffer(data, dtype=element, count=size if ndim else 0, offset=body)["value"].astype(native))
        at += length
    return out
