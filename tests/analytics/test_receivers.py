import datetime as dt

from django.utils import timezone

from analytics.models import Snapshot
from segments.models import ScoringRun
from segments.signals import run_succeeded


def test_it_computes_the_snapshot_when_a_nightly_run_succeeds(db):
    run = ScoringRun.objects.create(as_of=dt.date(2026, 3, 31), status=ScoringRun.Status.SUCCEEDED,
                                    finished_at=timezone.now())
    run_succeeded.send(sender=ScoringRun, run=run)
    snapshot = Snapshot.objects.get(run=run)
    assert snapshot.data["as_of"] == "2026-03-31"
    assert snapshot.data["months"] == ["2026-03"]  # no orders yet: just the as-of month


def test_it_keeps_the_run_succeeded_when_the_snapshot_fails(db, monkeypatch):
    from analytics import precompute

    def broken(run):
        raise RuntimeError("boom")

    monkeypatch.setattr(precompute, "compute", broken)
    run = ScoringRun.objects.create(as_of=dt.date(2026, 3, 31), status=ScoringRun.Status.SUCCEEDED,
                                    finished_at=timezone.now())
    run_succeeded.send(sender=ScoringRun, run=run)  # no exception
    assert not Snapshot.objects.exists()
