"""Raw SQL helpers every app shares: run a statement, temporary tables, table names from the models,
days in TIME_ZONE as SQL, and when work may spread over several connections.

Raw SQL names tables through `table(Model)`, never by hand, so a renamed model or a moved app
cannot silently break a statement. Days travel as whole day numbers (days since 1970-01-01), so
caps, weeks and streaks are integer arithmetic.
"""

import datetime as dt
import zoneinfo

from django.conf import settings
from django.db import connection

EPOCH_DATE = dt.date(1970, 1, 1)  # day number 0
# Below this many rows the planner's estimate from a table's size is good enough: ANALYZE (a sample
# of the table, written to the system catalogs) would cost a small load, such as an API request,
# more than any plan it could improve.
ANALYZE_FROM_ROWS = 10_000


def table(model):
    """The table of a model, for raw SQL."""
    return model._meta.db_table


def execute(sql, params=()):
    """Execute one statement on the default connection; returns how many rows it touched."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def rows(sql, params=()):
    """Execute a query on the default connection; returns its rows."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def temporary(name, columns):
    """An empty temporary table `name` with `columns` (SQL column definitions), replacing one of
    that name on this connection."""
    execute(f"DROP TABLE IF EXISTS {name}")
    execute(f"CREATE TEMPORARY TABLE {name} ({columns})")


def analyze(name, loaded):
    """Statistics for a table just loaded with `loaded` rows, when there are enough to matter
    (ANALYZE_FROM_ROWS): the planner otherwise plans the statements that follow for its old size.
    Autovacuum never analyses a temporary table, and comes too late for a night's inserts."""
    if loaded >= ANALYZE_FROM_ROWS:
        execute(f"ANALYZE {name}")


def set_local(setting, value):
    """A server setting (e.g. work_mem) for the rest of the current transaction."""
    execute(f"SET LOCAL {setting} = %s", [value])


def estimated_rows(model):
    """The planner's estimate of a model's rows (pg_class.reltuples; -1 before the first ANALYZE)."""
    return rows("SELECT CAST(reltuples AS bigint) FROM pg_class WHERE oid = CAST(%s AS regclass)",
                [table(model)])[0][0]


# --- days in TIME_ZONE --------------------------------------------------------------------------

def local_day(column_sql):
    """SQL: the calendar day in TIME_ZONE of a timestamp. (The zone's name is written into the SQL:
    settings accept only known zone names, which have no quotes.)"""
    return f"CAST(({column_sql}) AT TIME ZONE '{settings.TIME_ZONE}' AS date)"


def day_number(date_sql):
    """SQL: the day number of a date."""
    return f"({date_sql} - DATE '1970-01-01')"


def date_of(number_sql):
    """SQL: the date of a day number."""
    return f"(DATE '1970-01-01' + CAST({number_sql} AS integer))"


def number_of(day):
    """The day number of a date."""
    return (day - EPOCH_DATE).days


def start_of(day):
    """The first instant of a day in TIME_ZONE."""
    return dt.datetime.combine(day, dt.time(), tzinfo=zoneinfo.ZoneInfo(settings.TIME_ZONE))


# --- work on several connections ----------------------------------------------------------------

def may_go_apart():
    """Whether work may go to other connections (worker threads, each with a connection of its
    own): only outside a caller's transaction, whose rows other connections could not see."""
    return not connection.in_atomic_block


def on_own_connection(function):
    """The function for a worker thread: it runs on the thread's own connection, closed after."""
    def run_and_close(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        finally:
            connection.close()
    return run_and_close
