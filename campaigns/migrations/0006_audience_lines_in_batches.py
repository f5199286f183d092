"""The lines a platform holds are kept a batch per row (AudienceLines) instead of a row per line
(AudienceMember): see campaigns.exports.held. The held lines are carried over, so the next delta
still removes what was sent before."""

from itertools import count

import django.db.models.deletion
from django.db import migrations, models

BATCH = 10_000  # lines per row, as campaigns.audience.FETCH_SIZE


# pack and unpack as campaigns.exports.held had them when this migration was written: a migration
# keeps its own copy, so a later change there cannot change what this one did.
def _pack(client_ids, lines):
    text = "".join(lines)
    if '"' not in text or text.count("\n") == len(lines):
        separator, body = "\n", text[:-1]
    else:
        separator = next(char for char in map(chr, count(0xE000)) if char not in text)
        body = separator.join([line[:-1] for line in lines])
    return ",".join(map(str, client_ids)), body, separator


def _unpack(client_ids, body, separator):
    return list(zip(map(int, client_ids.split(",")), body.split(separator), strict=True))


def _tune_storage(apps, schema_editor):
    """PostgreSQL compresses values of a few MB with pglz by default, at ~20 MB/s: too slow for a
    batch per 10,000 lines. lz4 where the server has it (PostgreSQL 14+ built with it), else none."""
    table = apps.get_model("campaigns", "AudienceLines")._meta.db_table
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
                       "AND 'lz4' = ANY(enumvals)")
        setting = "COMPRESSION lz4" if cursor.fetchone() else "STORAGE EXTERNAL"
        cursor.execute(f"ALTER TABLE {table} ALTER COLUMN client_ids SET {setting}, "
                       f"ALTER COLUMN lines SET {setting}")


def _to_batches(apps, schema_editor):
    Member = apps.get_model("campaigns", "AudienceMember")
    Lines = apps.get_model("campaigns", "AudienceLines")
    batch, current = [], None

    def flush():
        if batch:
            ids, lines = zip(*batch, strict=True)
            client_ids, body, separator = _pack(list(ids), [f"{line}\n" for line in lines])
            Lines.objects.create(state_id=current[0], file_key=current[1], client_ids=client_ids, lines=body,
                                 separator=separator)
            batch.clear()

    rows = Member.objects.order_by("state_id", "file_key", "client_id").values_list(
        "state_id", "file_key", "client_id", "line")
    for state_id, file_key, client_id, line in rows.iterator(chunk_size=BATCH):
        if (state_id, file_key) != current or len(batch) == BATCH:
            flush()
            current = (state_id, file_key)
        batch.append((client_id, line))
    flush()


def _to_members(apps, schema_editor):
    Member = apps.get_model("campaigns", "AudienceMember")
    for held in apps.get_model("campaigns", "AudienceLines").objects.iterator(chunk_size=10):
        Member.objects.bulk_create(
            [Member(state_id=held.state_id, file_key=held.file_key, client_id=client_id, line=line)
             for client_id, line in _unpack(held.client_ids, held.lines, held.separator)], batch_size=BATCH)


class Migration(migrations.Migration):

    dependencies = [
        ("campaigns", "0005_campaign_launch_schedule"),
    ]

    operations = [
        migrations.CreateModel(
            name="AudienceLines",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("file_key", models.CharField(max_length=32)),
                ("client_ids", models.TextField()),
                ("lines", models.TextField()),
                ("separator", models.CharField(max_length=1)),
                ("state", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+",
                                            to="campaigns.audiencestate")),
            ],
        ),
        migrations.RunPython(_tune_storage, migrations.RunPython.noop),
        migrations.RunPython(_to_batches, _to_members),
        migrations.DeleteModel(name="AudienceMember"),
    ]
