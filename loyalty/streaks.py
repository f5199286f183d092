"""The streak rule: a streak is an island of consecutive local days with activity. Read by the
streak bonus (granting.py) and the streak in email templates (context.py), which must agree."""

from core.sql import day_number, local_day, table
from crm.models import Activity


def day_islands(where):
    """SQL: each client's distinct days with activity (Activity rows matching `where`) as
    (client_id, dn, grp): consecutive days share `grp`, the day number less its rank among the
    client's days, so an island of consecutive days is a GROUP BY or PARTITION BY away."""
    days = (f"SELECT DISTINCT client_id, {day_number(local_day('occurred_at'))} AS dn FROM {table(Activity)} "
            f"WHERE {where}")
    return f"SELECT client_id, dn, dn - ROW_NUMBER() OVER (PARTITION BY client_id ORDER BY dn) AS grp FROM ({days}) d"
