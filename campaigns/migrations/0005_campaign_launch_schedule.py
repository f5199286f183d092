from django.db import migrations, models

NAME = "Email campaigns: launch one-off campaigns that are due"


def forwards(apps, schema_editor):
    # Every minute: scheduled one-off campaigns whose `send_at` has passed are launched. Launching
    # locks the campaign and moves it out of `scheduled`, so a run that overlaps another does nothing.
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    schedule, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={"task": "campaigns.mailing.tasks.launch_due_campaigns", "interval": schedule,
                  "description": "Launches scheduled email campaigns sent once whose 'send at' has passed."},
    )


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0004_campaign_schedules_variants_tracking"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [
        # A cancelled campaign closes its pending deliveries as suppressed with this reason.
        migrations.AlterField(
            model_name="delivery",
            name="reason",
            field=models.CharField(blank=True, choices=[
                ("no_consent", "no email consent"), ("unsubscribed", "unsubscribed"), ("erased", "erased"),
                ("no_email", "no email address"), ("bounced", "address bounced"), ("complained", "complained"),
                ("suppressed_address", "address suppressed"), ("holdout", "holdout group"),
                ("frequency_cap", "frequency cap reached"), ("cancelled", "campaign cancelled before sending"),
                ("rejected", "rejected by the email service"), ("render_error", "template could not be rendered"),
                ("gave_up", "temporary errors, retries exhausted"),
                ("interrupted", "worker stopped while sending; not resent")],
                max_length=32, verbose_name="reason"),
        ),
        migrations.RunPython(forwards, backwards),
    ]
