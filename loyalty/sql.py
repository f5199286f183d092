"""Small SQL pieces that differ between PostgreSQL and SQLite, and the few that more than one
statement builds on. Days travel as whole day numbers (days since 1970-01-01) so both databases do
the same integer arithmetic on them."""

import datetime as dt
import zoneinfo

from django.conf import settings
from django.db import connection

EPOCH_DATE = dt.date(1970, 1, 1)
NO_CAP = 2**62  # room under a cap that is not set


def postgres():
    return connection.vendor == "postgresql"


def local_day(column):
    """The calendar day in TIME_ZONE of a timestamp column. (The zone's name is written into the
    SQL: settings accept only known zone names, which have no quotes.)"""
    tz = settings.TIME_ZONE
    if postgres():
        return f"CAST(({column}) AT TIME ZONE '{tz}' AS date)"
    if tz == "UTC" == connection.timezone_name:  # SQLite keeps UTC text: no Python call per row
        return f"date({column})"
    return f"django_datetime_cast_date({column}, '{tz}', '{connection.timezone_name}')"


def day_number(date_sql):
    if postgres():
        return f"({date_sql} - DATE '1970-01-01')"
    return f"CAST(julianday({date_sql}) - 2440587.5 AS INTEGER)"


def date_of(number_sql):
    """A date from a day number, as the database stores a date column."""
    if postgres():
        return f"(DATE '1970-01-01' + CAST({number_sql} AS integer))"
    return f"date(2440587.5 + {number_sql})"


def day_islands(where):
    """Each client's distinct days with activity (crm_activity rows matching `where`) as
    (client_id, dn, grp): consecutive days share `grp`, the day number less its rank among the
    client's days, so an island of consecutive days is a GROUP BY or PARTITION BY away. Read by the
    streak bonus (granting.py) and the streak in email templates (context.py), which must agree."""
    days = (f"SELECT DISTINCT client_id, {day_number(local_day('occurred_at'))} AS dn FROM crm_activity "
            f"WHERE {where}")
    return f"SELECT client_id, dn, dn - ROW_NUMBER() OVER (PARTITION BY client_id ORDER BY dn) AS grp FROM ({days}) d"


def least(a, b):
    return f"LEAST({a}, {b})" if postgres() else f"MIN({a}, {b})"


def greatest(*values):
    return f"GREATEST({', '.join(values)})" if postgres() else f"MAX({', '.join(values)})"


def floor_int(expression):
    """Rounded down to a whole number (of a value that is not negative)."""
    return f"CAST(FLOOR({expression}) AS bigint)" if postgres() else f"CAST({expression} AS INTEGER)"


def number_of(day):
    return (day - EPOCH_DATE).days


def run(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def temporary(name, columns):
    run(f"DROP TABLE IF EXISTS {name}")
    run(f"CREATE TEMPORARY TABLE {name} ({columns})")


def start_of(day):
    """The first instant of a day in TIME_ZONE."""
    return dt.datetime.combine(day, dt.time(), tzinfo=zoneinfo.ZoneInfo(settings.TIME_ZONE))


def when(moment):
    return connection.ops.adapt_datetimefield_value(moment)
