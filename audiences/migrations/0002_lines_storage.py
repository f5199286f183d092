from django.db import migrations


def tune_storage(apps, schema_editor):
    """PostgreSQL compresses values of a few MB with pglz by default, too slow for a batch of 10,000
    audience lines: lz4 where the server has it (PostgreSQL 14+ built with it), else none."""
    table = apps.get_model("audiences", "AudienceLines")._meta.db_table
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
                       "AND 'lz4' = ANY(enumvals)")
        setting = "COMPRESSION lz4" if cursor.fetchone() else "STORAGE EXTERNAL"
        cursor.execute(f"ALTER TABLE {table} ALTER COLUMN client_ids SET {setting}, "
                       f"ALTER COLUMN lines SET {setting}")


class Migration(migrations.Migration):
    dependencies = [("audiences", "0001_initial")]
    operations = [migrations.RunPython(tune_storage, migrations.RunPython.noop)]
