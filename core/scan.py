"""A table's rows as numpy arrays, read a range of pages at a time (TID range scans).

Buys: the night reads the shop's rows in big binary blocks, two connections at once (bench/segmentation.py, "read").

Each range of pages comes back as one row of arrays (array_agg per column) by binary COPY, which
numpy reads as it is: a COPY of the rows themselves costs a message, and Python's handling of it,
per row. All ranges are read in one snapshot; where work may go apart and there are several
ranges, two connections read alternate ones, the second in the snapshot the first exports (as
pg_dump's parallel jobs share theirs).
"""

import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from django.db import connection, transaction

from . import pgcopy, sql

PAGES = 8192  # pages per range: 64 MB of table with PostgreSQL's 8 kB pages


def read(table, columns, where, params, kinds):
    """The rows of `table` that match `where`, as one native-order numpy array per column.

    columns: SQL expressions, none NULL (COALESCE them); kinds: "id", "time" or "float" for each.
    Times come back as microseconds since 1970 (binary timestamps count from 2000: shifted in
    numpy), 'infinity' as int64 max."""
    query = (table, columns, where, params, kinds)
    go_apart, outermost = sql.may_go_apart(), not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if outermost:  # every range in one snapshot (inside a caller's transaction, the caller's rules)
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        ranges = _page_ranges(cursor, table)
        if not go_apart or len(ranges) < 2:
            return _joined(kinds, _read_ranges(cursor, ranges, *query))
        cursor.execute("SELECT pg_export_snapshot()")
        (snapshot,) = cursor.fetchone()
        with ThreadPoolExecutor(1) as pool:
            theirs = pool.submit(sql.on_own_connection(_read_in_snapshot), snapshot, ranges[1::2], *query)
            read = [None] * len(ranges)
            read[0::2] = _read_ranges(cursor, ranges[0::2], *query)
            read[1::2] = theirs.result()
            # In page order, as one connection reads them: sums then add up in the same order,
            # so a night comes out the same to the last bit either way.
            return _joined(kinds, read)


def _read_in_snapshot(snapshot, ranges, *query):
    if not re.fullmatch(r"[0-9A-F-]+", snapshot):
        raise ValueError(f"unexpected snapshot id {snapshot!r}")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        return _read_ranges(cursor, ranges, *query)


def _page_ranges(cursor, table):
    """(first, stop) page numbers of PAGES each; the last is open (stop None): pages added since
    the size was taken are read too."""
    cursor.execute("SELECT pg_relation_size(%s) / current_setting('block_size')::int", [table])
    (pages,) = cursor.fetchone()
    starts = range(0, pages + 1, PAGES)
    return [(first, first + PAGES if first + PAGES <= pages else None) for first in starts]


def _read_ranges(cursor, ranges, table, columns, where, params, kinds):
    """Per range of pages, the matching rows' columns as arrays: [[array per column] per range]."""
    aggregated = ", ".join(f"array_agg({c})" for c in columns)
    out = []
    for first, stop in ranges:
        upper = f"AND ctid < '({stop},0)'" if stop is not None else ""
        query = f"SELECT {aggregated} FROM {table} WHERE ctid >= '({first},0)' {upper} AND ({where})"
        with cursor.cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT binary)", params or None) as copy:
            data = b"".join(bytes(chunk) for chunk in copy)
        # The range's raw COPY data is freed before the next range is read, not held until all are joined.
        out.append(pgcopy.arrays(data, kinds))
        del data
    return out


def _joined(kinds, ranges):
    """One array per column from the ranges' arrays; times shifted to 1970. Each range's part of a
    column is let go once the column is joined."""
    out = []
    for i, kind in enumerate(kinds):
        values = np.concatenate([r[i] for r in ranges])
        for r in ranges:
            r[i] = None
        if kind == "time":
            values[values != pgcopy.INFINITY_TIME] += pgcopy.EPOCH_US
        out.append(values)
    return out
