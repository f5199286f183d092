"""When messages may go, as pure functions of the clock: cron expressions and the slot a moment
belongs to, and quiet hours. No database access; used by the models' validation, by launch and
sending (quiet hours) and by scheduling (cron slots)."""

import datetime as dt

from celery.schedules import crontab
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext

CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
# Beat fires on its own clock; a worker whose clock is a moment behind would otherwise name the
# previous slot (already sent) and skip a run without a word.
CLOCK_SKEW = dt.timedelta(seconds=30)


def parse_cron(text):
    """A celery crontab from "minute hour day-of-month month day-of-week"; ValueError says what is wrong."""
    parts = (text or "").split()
    if len(parts) != 5:
        raise ValueError(gettext("expected 5 fields (minute hour day-of-month month day-of-week), got %(n)d")
                         % {"n": len(parts)})
    try:
        return crontab(**dict(zip(CRON_FIELDS, parts, strict=True)))
    except Exception as exc:  # celery raises ValueError or its own ParseException
        raise ValueError(str(exc)) from None


def cron_slot(schedule, now_local):
    """The latest moment <= now_local (naive or aware, local time) that the crontab fires at, to the minute.

    Celery's semantics: day of month AND day of week must both match. None if none in the past 400 days.
    """
    now_local = now_local.replace(second=0, microsecond=0)
    day = now_local.date()
    for _ in range(400):
        # Celery numbers weekdays 0 = Sunday.
        if (day.month in schedule.month_of_year and day.day in schedule.day_of_month
                and (day.isoweekday() % 7) in schedule.day_of_week):
            for hour in sorted(schedule.hour, reverse=True):
                for minute in sorted(schedule.minute, reverse=True):
                    slot = now_local.replace(year=day.year, month=day.month, day=day.day, hour=hour, minute=minute)
                    if slot <= now_local:
                        return slot
        day -= dt.timedelta(days=1)
    return None


def occurrence_for_slot(slot):
    return slot.strftime("%Y-%m-%dT%H:%M")


def parse_quiet_hours(text):
    """(start, end) times from "22:00-09:00", or None when empty (no quiet hours)."""
    if not text:
        return None
    start, end = (dt.time.fromisoformat(part.strip()) for part in text.split("-"))
    return start, end


def quiet_until(now_local, window):
    """The local end of the quiet window that `now_local` falls in, or None when sending is allowed.

    A window may cross midnight (22:00-09:00): 23:30 waits until 09:00 the next day, 08:00 until
    09:00 the same day. The start is quiet, the end is not.
    """
    if window is None:
        return None
    start, end = window
    t = now_local.time().replace(tzinfo=None)
    if start < end:
        inside = start <= t < end
        end_day = now_local.date()
    else:
        inside = t >= start or t < end
        end_day = now_local.date() + dt.timedelta(days=1) if t >= start else now_local.date()
    if not inside:
        return None
    return now_local.replace(year=end_day.year, month=end_day.month, day=end_day.day, hour=end.hour,
                             minute=end.minute, second=0, microsecond=0)


def send_not_before(now=None):
    """When a message may go out if it were sent `now` (aware): None when now is outside quiet hours."""
    now = now or timezone.now()
    local = timezone.localtime(now)
    until = quiet_until(local, parse_quiet_hours(settings.CRM_QUIET_HOURS))
    if until is None:
        return None
    # Re-attach the zone to the wall-clock time: a DST change inside the window moves the offset.
    return timezone.make_aware(until.replace(tzinfo=None))
