"""The SQL side of an import: a temporary stage table, set-based checks, and the upsert.

Rows are parsed in Python in batches, copied into the stage table (one COPY per file), checked with
SQL (duplicates inside the file, references to unknown rows) and then merged into the real tables
with one UPDATE and one INSERT per table. Memory stays bounded by the batch size.

Buys: one binary COPY per file into a stage kept per connection, set-based merges (bench/import_speed.py).
"""

import hashlib
from contextlib import contextmanager

from django.db import connection
from django.utils.translation import gettext

from core.sql import execute, rows, table
from crm.models import Client, Purchase

STAGE = "crm_import_stage"  # the prefix of the stage tables' names


def open_stage(columns):
    """An empty stage table for these columns: [(name, model field)], each value held in its table
    column's type. Returns the table's name.

    A database connection keeps one temporary table per set of columns (the name carries a digest of
    their definitions) rather than creating and dropping one per import: those write rows of the
    system catalogs, and leave dead ones behind, which cost a small import (an API request) about as
    much as its rows. The commit empties the table in place (ON COMMIT DELETE ROWS). A rollback takes
    away a table created in its transaction, hence IF NOT EXISTS each time; an earlier import of the
    same transaction may have left rows, hence the DELETE (of nothing, usually).
    """
    defs = ", ".join(f"{name} {field.db_type(connection)}" for name, field in columns)
    stage = f"{STAGE}_{hashlib.sha1(defs.encode()).hexdigest()[:16]}"
    execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} (line integer NOT NULL, error text, {defs}) "
            f"ON COMMIT DELETE ROWS")
    execute(f"DELETE FROM {stage}")
    return stage


def adapters(columns):
    """Per-column functions turning a parsed value into what COPY takes, None where the value goes
    as it is: psycopg's COPY takes Python values as they are; JSON needs its wrapper."""
    return [
        (lambda value, f=field: f.get_db_prep_save(value, connection))
        if field.get_internal_type() == "JSONField" else None
        for _, field in columns
    ]


# Binary COPY spares both sides printing and parsing numbers and times as text. The stage holds
# parsed values of these types only (text goes into varchar columns the same way as into text).
_BINARY_COPY_TYPES = {
    "CharField": "text", "DateTimeField": "timestamptz", "DecimalField": "numeric", "BooleanField": "bool",
    "DateField": "date", "JSONField": "jsonb",
}


@contextmanager
def loader(stage, columns):
    """Yields load(rows), rows being tuples (line, value, value, ...) already adapted.

    One COPY takes the whole file: psycopg sends the data as it goes, so memory stays bounded, and one
    COPY costs far less than a COPY per batch. It is binary when every column's type allows (see
    _BINARY_COPY_TYPES). If the block ends with an exception the COPY fails, and with it the
    transaction.
    """
    names = ", ".join(["line", *(name for name, _ in columns)])
    with connection.cursor() as cursor:
        types = ["int4", *(_BINARY_COPY_TYPES.get(field.get_internal_type()) for _, field in columns)]
        binary = all(types)
        statement = f"COPY {stage} ({names}) FROM STDIN" + (" (FORMAT BINARY)" if binary else "")
        with cursor.cursor.copy(statement) as copy:
            if binary:
                copy.set_types(types)
            write_row = copy.write_row

            def load(rows):
                for row in rows:
                    write_row(row)

            yield load


def reject_duplicates(stage, key, label):
    """Rows whose key repeats an earlier line of the same file are rejected, naming that line.
    Returns how many.

    One hash aggregate finds the repeated keys; usually there are none and the UPDATE has nothing to
    join. Key columns are required, so never NULL, and plain equality matches them.
    """
    cols = ", ".join(key)
    match = " AND ".join(f"{stage}.{name} = d.{name}" for name in key)
    return execute(
        f"UPDATE {stage} SET error = %s || d.first_line "
        f"FROM (SELECT {cols}, MIN(line) AS first_line FROM {stage} GROUP BY {cols} HAVING COUNT(*) > 1) d "
        f"WHERE {match} AND {stage}.line <> d.first_line",
        [f"{label}: " + gettext("duplicate of line ")],
    )


def reject_where(stage, condition, message):
    """Rows not rejected yet that match the condition are rejected with the message. Returns how many."""
    return execute(
        f"UPDATE {stage} SET error = %s WHERE error IS NULL AND line IN "
        f"(SELECT st.line FROM {stage} st WHERE {condition})",
        [message],
    )


def arrived(stage, kind, since):
    """(client ids, [(client id, the shop's order id)]) the valid rows of a merged stage name, of
    orders placed or activity that happened at `since` or later."""
    if kind == "purchases":
        orders = rows(f"SELECT p.client_id, p.external_id FROM {table(Purchase)} p "
                      f"JOIN {stage} s ON p.external_id = s.order_id WHERE s.error IS NULL AND p.purchased_at >= %s",
                      [since])
        return sorted({client for client, _order in orders}), [tuple(o) for o in orders]
    clients = rows(f"SELECT DISTINCT c.id FROM {table(Client)} c JOIN {stage} s ON c.external_id = s.client_id "
                   f"WHERE s.error IS NULL AND s.occurred_at >= %s ORDER BY c.id", [since])
    return [client for (client,) in clients], []


def rejected(stage, limit=None):
    sql = f"SELECT line, error FROM {stage} WHERE error IS NOT NULL ORDER BY line"
    with connection.cursor() as cursor:
        cursor.execute(sql + (f" LIMIT {int(limit)}" if limit else ""))
        yield from cursor


def _defaults(model, given, params):
    """Values for NOT NULL columns the file does not give, as Django would fill them on create."""
    extra = {}
    for fld in model._meta.concrete_fields:
        if fld.primary_key or fld.generated or fld.column in given or fld.null:
            continue
        name = f"default_{fld.column}"
        params[name] = fld.get_db_prep_save(fld.get_default(), connection)
        extra[fld.column] = f"%({name})s"
    return extra


def upsert(stage, target, params):
    """Update rows that changed, insert rows that are new. Returns (created, updated)."""
    name = table(target.model)
    source = target.source_sql.format(stage=stage)
    params = dict(params)
    match = " AND ".join(f"{name}.{k} = s.{k}" for k in target.key)
    values = [c for c in target.columns if c not in target.key]
    updated = 0
    if values:
        assignments = [f"{c} = s.{c}" for c in values]
        assignments += [f"{c} = {expr}" for c, expr in target.update_extra.items()]
        changed = " OR ".join(f"{name}.{c} IS DISTINCT FROM s.{c}" for c in values)
        if target.frozen:
            changed = f"({changed}) AND NOT ({target.frozen})"
        updated = execute(
            f"UPDATE {name} SET {', '.join(assignments)} FROM ({source}) s WHERE {match} AND ({changed})",
            params,
        )
    extra = dict(target.insert_extra)
    extra |= _defaults(target.model, set(target.columns) | set(extra), params)
    insert_cols = [*target.columns, *extra]
    select = ", ".join([*(f"s.{c}" for c in target.columns), *extra.values()])
    exists = " AND ".join(f"t.{k} = s.{k}" for k in target.key)
    # A bare client another import (or API request) is creating at the same moment is no
    # conflict: it only has to exist. Waiting for that one and skipping it beats failing.
    skip_taken = " ON CONFLICT DO NOTHING" if target.bare_clients else ""
    created = execute(
        f"INSERT INTO {name} ({', '.join(insert_cols)}) SELECT {select} FROM ({source}) s "
        f"WHERE NOT EXISTS (SELECT 1 FROM {name} t WHERE {exists}){skip_taken}",
        params,
    )
    return created, updated
