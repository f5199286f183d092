import importlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from campaigns.exports.base import csv_line
from campaigns.exports.held import pack, unpack

held_migration = importlib.import_module("campaigns.migrations.0006_audience_lines_in_batches")


def test_plain_lines_are_kept_as_written_with_the_line_break_between_them():
    lines = ["a1,b1\n", "a2,b2\n"]
    client_ids, body, separator = pack([7, 12], lines, "".join(lines))
    assert (client_ids, body, separator) == ("7,12", "a1,b1\na2,b2", "\n")
    assert unpack(client_ids, body, separator) == [(7, "a1,b1"), (12, "a2,b2")]


def test_a_line_break_inside_a_quoted_cell_gets_a_separator_no_line_holds():
    # The first private-use character is in a line already: the next one separates.
    lines = [csv_line(("multi\nline", "x")), "\ue000,tab\there\\\n", csv_line(('"quoted"', "\r"))]
    client_ids, body, separator = pack([1, 2, 3], lines)
    assert separator == "\ue001" and body.count(separator) == 2
    assert unpack(client_ids, body, separator) == [(1, '"multi\nline",x'), (2, "\ue000,tab\there\\"),
                                                   (3, '"""quoted""",\r')]


BEFORE, AFTER = ("campaigns", "0005_campaign_launch_schedule"), ("campaigns", "0006_audience_lines_in_batches")


@pytest.mark.django_db(transaction=True)
def test_the_migration_carries_the_held_lines_over_and_back(monkeypatch):
    monkeypatch.setattr(held_migration, "BATCH", 2)
    sent = [(3, "a@example.com"), (5, '"multi\nline@example.com"'), (8, "c@example.com")]
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    apps = executor.loader.project_state([BEFORE]).apps
    segment = apps.get_model("segments", "Segment").objects.create(slug="s", name="S")
    state = apps.get_model("campaigns", "AudienceState").objects.create(segment_id=segment.pk, platform="vk")
    Member = apps.get_model("campaigns", "AudienceMember")
    Member.objects.bulk_create([Member(state_id=state.pk, client_id=client_id, file_key="emails", line=line)
                                for client_id, line in sent])
    try:
        _migrate(AFTER)
        from campaigns.models import AudienceLines

        batches = AudienceLines.objects.filter(state_id=state.pk).order_by("pk")
        assert [batch.members() for batch in batches] == [sent[:2], sent[2:]]
        _migrate(BEFORE)
        back = _migrate_apps(BEFORE).get_model("campaigns", "AudienceMember").objects.order_by("client_id")
        assert list(back.values_list("client_id", "line")) == sent
    finally:
        _migrate()


def _migrate(target=None):
    """To `target`, or back to the latest migrations without one."""
    executor = MigrationExecutor(connection)
    executor.migrate([target] if target else executor.loader.graph.leaf_nodes())


def _migrate_apps(target):
    return MigrationExecutor(connection).loader.project_state([target]).apps
