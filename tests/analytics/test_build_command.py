import pytest
from django.core.management import CommandError, call_command

from analytics.models import Snapshot


def test_it_refuses_before_any_nightly_run(db):
    with pytest.raises(CommandError, match="No scoring run"):
        call_command("build_analytics")


def test_it_recomputes_the_snapshot_of_the_current_run(small_shop, run_command_output):
    Snapshot.objects.all().delete()
    assert "snapshot of the run as of 2026-03-31" in run_command_output("build_analytics")
    assert Snapshot.objects.get().data["months"][-1] == "2026-03"
