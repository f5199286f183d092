"""Loading many rows into a nearly empty table: its secondary indexes (and, for an import, its unique
and foreign keys) are set aside for the load and built once after it, each with one sort, instead of
being updated row by row (and, for the deferred foreign keys, one check queued per row and run at the
commit).

Buys: the first night's memberships (bench/segmentation.py) and the first load of a shop's history
(bench/import_speed.py) within their targets.
"""

from contextlib import contextmanager

from django.conf import settings
from django.db import connection

from core.sql import execute, rows, set_local, table

# Below this many incoming rows an import takes the ordinary path: as fast, and no table lock.
BULK_FROM_ROWS = 50_000

# The table's indexes other than its primary key, with the constraint each backs (if any); with
# keys, its foreign keys too. An index another table's foreign key depends on stays where it is.
_INDEXES_SQL = """
SELECT ix.relname, pg_get_indexdef(i.indexrelid), c.conname, pg_get_constraintdef(c.oid)
FROM pg_index i
JOIN pg_class ix ON ix.oid = i.indexrelid
LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('u', 'x')
WHERE i.indrelid = CAST(%(table)s AS regclass) AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = i.indexrelid)
"""
_FOREIGN_KEYS_SQL = """
SELECT NULL, NULL, c.conname, pg_get_constraintdef(c.oid)
FROM pg_constraint c WHERE c.conrelid = CAST(%(table)s AS regclass) AND c.contype = 'f'
"""


@contextmanager
def set_aside(name, keys=True):
    """Within a transaction: the table `name`'s secondary indexes (with keys: its unique constraints
    and foreign keys too) dropped for the block, then made again as they were, a key checked once
    over the whole table. Nobody else sees the table without them: it is locked (ACCESS EXCLUSIVE)
    until the transaction ends, and a failure rolls everything back, indexes included."""
    if not connection.in_atomic_block:
        raise RuntimeError("set_aside needs a transaction: a failed load must bring the indexes back")
    sql = _INDEXES_SQL + (f" UNION ALL {_FOREIGN_KEYS_SQL}" if keys else "")
    aside = rows(f"SELECT * FROM ({sql}) a ORDER BY 1 NULLS LAST, 3", {"table": name})  # noqa: S608
    if not keys:
        aside = [index for index in aside if not index[2]]
    for index, _, constraint, _ in aside:
        execute(f'ALTER TABLE {name} DROP CONSTRAINT "{constraint}"' if constraint else f'DROP INDEX "{index}"')
    yield
    set_local("maintenance_work_mem", settings.CRM_NIGHTLY_WORK_MEM)
    for _, index_sql, constraint, constraint_sql in aside:
        execute(f'ALTER TABLE {name} ADD CONSTRAINT "{constraint}" {constraint_sql}' if constraint else index_sql)


def is_bulk(model, incoming):
    """True when `incoming` rows are many (BULK_FROM_ROWS) and the model's table is nearly empty (it
    holds fewer than a tenth of them): building its indexes once over all rows then costs less than
    updating them row by row. (`incoming` may count more rows than a load inserts, such as the order
    lines naming the clients an import creates; a re-import finds the table full.)"""
    if incoming < BULK_FROM_ROWS:
        return False
    limit = incoming // 10
    # Counted up to that limit only: a large table is not read to the end to say it is large.
    held = rows(f"SELECT COUNT(*) FROM (SELECT 1 FROM {table(model)} LIMIT %s) t", [limit])[0][0]  # noqa: S608
    return held < limit


@contextmanager
def indexes_built_after(model, incoming):
    """Around a load of `incoming` rows into the model's table (within a transaction): `set_aside`
    when `is_bulk`, else nothing changes."""
    if not is_bulk(model, incoming):
        yield
        return
    with set_aside(table(model)):
        yield
