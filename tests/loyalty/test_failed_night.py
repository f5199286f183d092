"""The night is all or nothing, loyalty included: a night that fails after granting points leaves no
ledger rows; the next night grants them, once."""

import datetime as dt

import pytest

from loyalty.models import PointsEntry
from nightly.pipeline import rebuild_segments
from segments.models import ScoringRun

from .conftest import balance


class Boom(Exception):
    pass


# transactional_db: committed rows, as in production (the score writers then work on connections of their own).
def test_a_night_that_fails_after_its_loyalty_stage_keeps_no_points_and_the_next_grants_them_once(
        transactional_db, act, rule):
    rule(activity_kind="login", points=10)
    for client in ("c1", "c2", "c3"):
        act(client, "2026-03-02")

    def fail_after_loyalty(message):
        if message == "write scores...":
            assert PointsEntry.objects.count() == 3  # granted, inside the night's transaction
            raise Boom

    with pytest.raises(Boom):
        rebuild_segments(dt.date(2026, 3, 3), progress=fail_after_loyalty)

    assert ScoringRun.objects.get().status == ScoringRun.Status.FAILED
    assert PointsEntry.objects.count() == 0

    assert rebuild_segments(dt.date(2026, 3, 3)).status == ScoringRun.Status.SUCCEEDED
    assert [balance(c) for c in ("c1", "c2", "c3")] == [10, 10, 10]
    assert PointsEntry.objects.count() == 3
