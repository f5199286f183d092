"""Small SQL pieces that more than one loyalty statement builds on. Days travel as whole day numbers
(days since 1970-01-01), so caps, weeks and streaks are integer arithmetic."""

import datetime as dt
import zoneinfo

from django.conf import settings
from django.db import connection

EPOCH_DATE = dt.date(1970, 1, 1)
NO_CAP = 2**62  # room under a cap that is not set


def local_day(column):
    """The calendar day in TIME_ZONE of a timestamp column. (The zone's name is written into the
    SQL: settings accept only known zone names, which have no quotes.)"""
    return f"CAST(({column}) AT TIME ZONE '{settings.TIME_ZONE}' AS date)"


def day_number(date_sql):
    return f"({date_sql} - DATE '1970-01-01')"


def date_of(number_sql):
    """A date from a day number."""
    return f"(DATE '1970-01-01' + CAST({number_sql} AS integer))"


def day_islands(where):
    """Each client's distinct days with activity (crm_activity rows matching `where`) as
    (client_id, dn, grp): consecutive days share `grp`, the day number less its rank among the
    client's days, so an island of consecutive days is a GROUP BY or PARTITION BY away. Read by the
    streak bonus (granting.py) and the streak in email templates (context.py), which must agree."""
    days = (f"SELECT DISTINCT client_id, {day_number(local_day('occurred_at'))} AS dn FROM crm_activity "
            f"WHERE {where}")
    return f"SELECT client_id, dn, dn - ROW_NUMBER() OVER (PARTITION BY client_id ORDER BY dn) AS grp FROM ({days}) d"


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
