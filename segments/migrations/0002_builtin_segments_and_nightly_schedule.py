from django.conf import settings
from django.db import migrations


def forwards(apps, schema_editor):
    from segments.builtin import ensure

    ensure(apps.get_model("segments", "Segment"))
    # The nightly run: 03:00 in the shop's time zone; the team can change it in the admin.
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone=settings.TIME_ZONE)
    PeriodicTask.objects.get_or_create(
        name="Nightly scoring and segments",
        defaults={"task": "segments.tasks.nightly_rebuild", "crontab": schedule,
                  "description": "Re-scores every client as of yesterday and refreshes every segment."},
    )


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name="Nightly scoring and segments").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("segments", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
