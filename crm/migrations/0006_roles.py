"""The groups Administrator, Marketing manager and Analyst with their permissions (crm/roles.py)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from crm import roles


def create_roles(apps, schema_editor):
    # Permissions are otherwise made only after the last migration (post_migrate): make them now.
    for config in apps.get_app_configs():
        config.models_module = True  # historical app configs lack it; create_permissions skips them otherwise
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    roles.sync(apps)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=roles.ROLES).delete()


class Migration(migrations.Migration):
    # After the last migration of every app whose permissions the groups hold.
    dependencies = [
        ("crm", "0005_client_privacy_permissions"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("sessions", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("segments", "0005_client_score_export_permission"),
        ("loyalty", "0001_initial"),
        ("campaigns", "0006_audience_lines_in_batches"),
        ("api", "0001_initial"),
        ("analytics", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
