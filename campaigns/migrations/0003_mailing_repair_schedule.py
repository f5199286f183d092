from django.db import migrations

NAME = "Email campaigns: close interrupted deliveries"


def forwards(apps, schema_editor):
    # Every 5 minutes: deliveries a dead worker left in `sending` are closed as failed (interrupted,
    # never resent) and campaigns with nothing left to send move to done.
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    schedule, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={"task": "campaigns.mailing.tasks.repair_stuck_deliveries", "interval": schedule,
                  "description": "Closes deliveries stuck in 'sending' longer than CRM_CAMPAIGN_STUCK_MINUTES "
                                 "as failed (interrupted) and finishes campaigns with nothing left to send."},
    )


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0002_mailing"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
