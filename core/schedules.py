"""Periodic tasks the project needs, created after `migrate` if missing (post_migrate handlers in the
apps that own them). The team may change or disable them in the admin (*Periodic tasks*); a later
`migrate` leaves an existing entry as it is."""

from django.conf import settings


def ensure_every(seconds, name, task, description):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    schedule, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "interval": schedule,
                                                            "description": description})


def ensure_daily(hour, name, task, description):
    """At `hour`:00 in the shop's time zone."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    schedule, _ = CrontabSchedule.objects.get_or_create(minute="0", hour=str(hour), day_of_week="*",
                                                        day_of_month="*", month_of_year="*",
                                                        timezone=settings.TIME_ZONE)
    PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "crontab": schedule,
                                                            "description": description})
