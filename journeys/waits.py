"""When a wait ends, as pure functions of the clock (no database)."""

import datetime as dt

from django.utils import timezone


def wait_until(now, weekday, hour):
    """The first moment after `now` that is `weekday` (1 = Monday .. 7 = Sunday) at `hour`:00 in the
    shop's time zone (TIME_ZONE), as an aware datetime; a DST change keeps the wall-clock hour."""
    local = timezone.localtime(now)
    days = (weekday - local.isoweekday()) % 7
    day = local.date() + dt.timedelta(days=days)
    candidate = timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))
    if candidate <= now:
        candidate = timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=7), dt.time(hour)))
    return candidate
