import datetime as dt
import io
import threading

import pytest
from django.db import connection

from core import scan, sql
from crm.models import Activity, Client
from demo import shop as demo
from nightly import pipeline
from nightly.pipeline import RunRefused, rebuild_segments
from recommendations.models import Recommendation
from segments import churn, membership
from segments.export import write_csv
from segments.models import ClientScore, ScoringRun, Segment, SegmentMembership, SegmentSize
from segments.notes import render

pytestmark = pytest.mark.django_db


def current_scores():
    return {s.client.external_id: s for s in ClientScore.objects.current().select_related("client")}


def members(slug):
    return set(SegmentMembership.objects.filter(segment__slug=slug, left_at__isnull=True)
               .values_list("client__external_id", flat=True))


def exported():
    out = io.StringIO()
    write_csv(out)
    return out.getvalue()


def test_it_scores_every_client_and_fills_the_segments(demo_shop):
    run = rebuild_segments(demo_shop)
    assert run.status == "succeeded"
    clients = Client.objects.count()
    buyers = Client.objects.filter(purchases__status="completed").distinct().count()
    assert run.counts["clients"] == clients and run.counts["buyers"] == buyers
    assert ClientScore.objects.current().count() == clients
    assert len(members("all-clients")) == clients
    assert len(members("prospects")) == clients - buyers
    rfm_sizes = sum(s.size for s in Segment.objects.filter(kind="rfm"))
    assert rfm_sizes == buyers
    assert sum(s.size for s in Segment.objects.filter(kind="churn")) == buyers
    assert sum(s.size for s in Segment.objects.filter(kind="engagement")) == clients
    assert set(run.stage_seconds) == {"read", "models", "recommendations", "loyalty", "write scores", "segments"}


def test_with_enough_history_the_models_are_learned_and_back_tested(bigger_demo_shop):
    run = rebuild_segments(bigger_demo_shop)
    churn_metrics, value_metrics = run.metrics["churn"], run.metrics["value"]
    assert churn_metrics["method"] == "model", run.notes
    assert churn_metrics["auc"] > 0.6 and churn_metrics["brier"] < 0.25
    assert churn_metrics["auc"] >= churn_metrics["baseline_auc"] - 0.02
    assert value_metrics["mae"] is not None and value_metrics["mae"] <= value_metrics["baseline_mae"] * 1.05
    high = ClientScore.objects.current().filter(churn_band="high")
    low = ClientScore.objects.current().filter(churn_band="low")
    # Clients the model calls likely to churn have, on average, been silent for much longer.
    avg = lambda qs: sum(s.recency_days for s in qs) / max(len(qs), 1)  # noqa: E731
    assert high.exists() and low.exists() and avg(high) > avg(low)


def test_scores_as_of_a_date_ignore_everything_after_it(demo_shop, buy):
    rebuild_segments(demo_shop)
    before = exported()
    someone = Client.objects.filter(purchases__isnull=False).first().external_id
    buy(someone, "2026-07-01", 99999)  # the day after as-of
    buy("newcomer", "2026-07-02", 10)
    rebuild_segments(demo_shop)
    after = {line.split(",")[0]: line for line in exported().splitlines()}
    # The newcomer exists now but bought after the as-of date: a prospect. Nobody else changed.
    assert after.pop("newcomer") == "newcomer" + "," * 10 + ",all-clients;engagement-low;prospects"
    assert after == {line.split(",")[0]: line for line in before.splitlines()}


def test_running_twice_for_one_date_gives_the_same_result(demo_shop):
    first = rebuild_segments(demo_shop)
    before = exported()
    second = rebuild_segments(demo_shop)
    assert exported() == before
    assert second.counts["entered"] == 0 and second.counts["left"] == 0
    assert first.counts["entered"] > 0


def test_a_crash_leaves_the_previous_scores_readable(demo_shop, monkeypatch):
    rebuild_segments(demo_shop)
    before = exported()

    def broken(*args, **kwargs):
        raise RuntimeError("model exploded")

    monkeypatch.setattr(churn, "score_churn", broken)
    with pytest.raises(RuntimeError):
        rebuild_segments(demo_shop + dt.timedelta(days=1))
    failed = ScoringRun.objects.order_by("-id").first()
    assert failed.status == "failed" and "model exploded" in failed.error
    assert exported() == before
    assert not ClientScore.objects.filter(run=failed).exists()


def test_overlapping_runs_are_refused_and_dead_ones_repaired(db, settings):
    ScoringRun.objects.create(as_of=dt.date(2026, 1, 1))
    with pytest.raises(RunRefused, match="another run is in progress"):
        rebuild_segments(dt.date(2026, 1, 2))
    settings.CELERY_TASK_TIME_LIMIT = 0  # the running one is now older than any task may live
    run = rebuild_segments(dt.date(2026, 1, 2))
    assert run.status == "succeeded"
    assert ScoringRun.objects.get(as_of=dt.date(2026, 1, 1)).error.startswith("abandoned")


def test_a_shop_without_purchases_still_gets_a_run(db):
    Client.objects.create(external_id="p1")
    Client.objects.create(external_id="p2")
    run = rebuild_segments(dt.date(2026, 1, 1))
    assert run.status == "succeeded"
    assert members("prospects") == {"p1", "p2"} and members("all-clients") == {"p1", "p2"}
    assert any("prospect" in render(note) for note in run.notes)
    assert run.metrics["churn"]["method"] == "rule"


def test_an_empty_shop_still_gets_a_run(db):
    run = rebuild_segments(dt.date(2026, 1, 1))
    assert run.status == "succeeded" and run.counts["clients"] == 0


def test_membership_history_records_who_moved_where(db, buy):
    # A small shop with a spread of behaviour, so quintiles mean something.
    for i in range(20):
        for k in range(1 + i % 5):
            buy(f"c{i:02d}", f"2025-{1 + (i % 12):02d}-{1 + k:02d}", 100 + 50 * i)
    buy("star", "2025-12-20", 5000)
    for k in range(6):
        buy("star", f"2025-12-{10 + k:02d}", 900)
    first = rebuild_segments(dt.date(2025, 12, 31))
    was = ClientScore.objects.get(run=first, client__external_id="star").rfm_segment
    assert was == "champions"
    # A year later everyone else has bought again; the star has not.
    for i in range(20):
        buy(f"c{i:02d}", f"2026-12-{1 + i:02d}", 100)
    second = rebuild_segments(dt.date(2026, 12, 31))
    now = ClientScore.objects.get(run=second, client__external_id="star").rfm_segment
    assert now != was
    left = SegmentMembership.objects.get(client__external_id="star", segment__slug=was)
    assert left.left_at == dt.date(2026, 12, 31) and left.left_run == second
    assert SegmentMembership.objects.get(client__external_id="star", segment__slug=now, left_at__isnull=True)
    assert second.migration[was][now] >= 1


def test_refunded_orders_do_not_count(db, buy):
    buy("c1", "2025-06-01", 100)
    buy("c1", "2025-07-01", 500, status="refunded")
    rebuild_segments(dt.date(2025, 12, 31))
    score = current_scores()["c1"]
    assert score.frequency == 1 and score.monetary == 100
    assert score.recency_days == (dt.date(2025, 12, 31) - dt.date(2025, 6, 1)).days


def test_rule_segments_are_evaluated_set_based(demo_shop):
    Segment.objects.create(slug="valuable-at-risk", name="Valuable at risk", kind="rule", rule={
        "all": [{"field": "rfm_segment", "op": "in", "value": ["at-risk", "cant-lose-them", "hibernating"]},
                {"any": [{"field": "monetary", "op": ">", "value": 3000}, {"field": "frequency", "op": ">=", "value": 3}]},
                {"field": "email_consent", "op": "=", "value": True}]})
    rebuild_segments(demo_shop)
    expected = {
        s.client.external_id for s in ClientScore.objects.current().select_related("client")
        if s.rfm_segment in ("at-risk", "cant-lose-them", "hibernating")
        and (s.monetary > 3000 or s.frequency >= 3) and s.client.email_consent
    }
    assert expected and members("valuable-at-risk") == expected


def test_export_scores_has_exactly_the_promised_columns(db, buy, run_command_output):
    buy("c1", "2025-06-01", 100)
    Client.objects.create(external_id="prospect")
    rebuild_segments(dt.date(2025, 12, 31))
    lines = run_command_output("export_scores", "-").splitlines()
    assert lines[0] == "client_id,recency_days,frequency,monetary,r,f,m,rfm_segment,churn_risk,churn_band,predicted_clv,segments"
    rows = {line.split(",")[0]: line.split(",") for line in lines[1:]}
    assert rows["prospect"][1:11] == [""] * 10
    assert rows["prospect"][11] == "all-clients;engagement-low;prospects"
    c1 = rows["c1"]
    assert c1[1:4] == ["213", "1", "100.00"]
    assert len(c1[8].split(".")[1]) >= 4 and 0 <= float(c1[8]) <= 1
    assert "all-clients" in c1[11].split(";") and c1[7] in c1[11].split(";")


def test_the_command_says_the_runs_notes_in_words(demo_shop, run_command_output):
    printed = run_command_output("rebuild_segments", "--as-of", demo_shop.isoformat())
    notes = [line for line in printed.splitlines() if line.startswith("Note: ")]
    run = ScoringRun.objects.latest("pk")
    assert run.notes and notes == [f"Note: {render(note)}" for note in run.notes]
    assert not any("%(" in line or "'message'" in line for line in notes), notes


def test_export_scores_to_a_place_it_cannot_write_says_so(db, tmp_path):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match=r"Cannot write .*missing/scores.csv: No such file or directory"):
        call_command("export_scores", str(tmp_path / "missing" / "scores.csv"))


def test_the_nightly_schedule_exists_and_is_editable(db):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="nightly.tasks.nightly_rebuild")
    assert (task.crontab.hour, task.crontab.minute) == ("3", "0")
    assert task.enabled


def test_cut_is_the_midnight_after_the_as_of_day_in_the_shop_time_zone(settings):
    settings.TIME_ZONE = "Europe/Moscow"
    cut = pipeline.cut_of(dt.date(2026, 1, 1))
    assert dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=cut) == dt.datetime(2026, 1, 1, 21, tzinfo=dt.UTC)


def test_the_first_fill_builds_the_indexes_once_and_puts_them_back(demo_shop, monkeypatch):
    def indexes():
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s ORDER BY 1",
                           [sql.table(SegmentMembership)])
            return cursor.fetchall()

    before = indexes()
    monkeypatch.setattr(membership, "BULK_CLIENTS", 1)
    first = rebuild_segments(demo_shop)
    assert indexes() == before and len(before) == 4
    assert len(members("all-clients")) == Client.objects.count() == first.counts["clients"]
    second = rebuild_segments(demo_shop)  # memberships are open now: the ordinary path
    assert second.counts["entered"] == 0 and second.counts["left"] == 0


def test_the_first_fill_by_copy_opens_the_memberships_the_statements_would(demo_shop, monkeypatch):
    def night(bulk_from):
        SegmentMembership.objects.all().delete()
        ScoringRun.objects.all().delete()
        monkeypatch.setattr(membership, "BULK_CLIENTS", bulk_from)
        run = rebuild_segments(demo_shop)
        memberships = set(SegmentMembership.objects.filter(left_at=None).values_list("segment__slug", "client_id"))
        sizes = set(SegmentSize.objects.filter(run=run).values_list("segment__slug", "size", "entered", "left"))
        return memberships, sizes, run.counts

    by_statements = night(10**9)
    assert night(1) == by_statements
    memberships, _, counts = by_statements
    assert {slug for slug, _ in memberships} >= {"all-clients", "prospects", "churn-high", "engagement-high"}
    assert counts["entered"] == len(memberships) and counts["left"] == 0


def test_deleting_a_client_still_takes_their_scores_and_memberships_along(demo_shop):
    # The database no longer checks these keys (segments/models.py): Django's cascade must.
    run = rebuild_segments(demo_shop)
    client = Client.objects.filter(scores__run=run, memberships__isnull=False).first()
    client.delete()
    assert not ClientScore.objects.filter(client_id=client.pk).exists()
    assert not SegmentMembership.objects.filter(client_id=client.pk).exists()
    run_id, memberships = run.pk, SegmentMembership.objects.count()
    run.delete()
    assert not ClientScore.objects.exists()
    assert not SegmentMembership.objects.filter(entered_run_id=run_id).exists()
    assert SegmentMembership.objects.filter(entered_run=None).count() == memberships  # the history is kept


@pytest.mark.django_db(transaction=True)
def test_a_run_spread_over_several_connections_gives_the_same_run(monkeypatch):
    demo.build(2500, seed=11, end=dt.date(2026, 6, 30))  # enough history for the models
    threads, readers = set(), set()
    write, read = pipeline._write_scores, scan._read_ranges
    monkeypatch.setattr(pipeline, "_write_scores", lambda *a: threads.add(threading.get_ident()) or write(*a))
    monkeypatch.setattr(scan, "_read_ranges", lambda *a: readers.add(threading.get_ident()) or read(*a))
    monkeypatch.setattr(pipeline, "RANGE_SIZE", 300)
    monkeypatch.setattr(scan, "PAGES", 3)  # the shop's tables read in several page ranges

    def night(apart):
        monkeypatch.setattr(sql, "may_go_apart", lambda: apart)
        Recommendation.objects.all().delete()  # each night writes every list, as the first one does
        run = rebuild_segments(dt.date(2026, 6, 30))
        scores = sorted(ClientScore.objects.filter(run=run).values_list(
            "client_id", "recency_days", "frequency", "monetary", "r", "f", "m", "rfm_segment", "churn_risk",
            "predicted_clv", "next_order_at", "engagement_band"))
        return scores, run.metrics

    alone = night(False)
    assert threads == readers == {threading.get_ident()}
    threads.clear(), readers.clear()
    assert night(True) == alone and len(alone[0]) == 2500 and alone[1]["churn"]["method"] == "model"
    assert len(threads - {threading.get_ident()}) >= 2  # the score writers
    assert len(readers) == 2  # the shop's rows read by two connections in one snapshot


def test_the_engagement_export_gives_each_clients_visits_beside_revenue(db, buy, run_command_output):
    client = buy("c1", "2025-12-20", 100).client  # at noon UTC
    for at in ("2025-12-20T11:50", "2025-12-20T11:55", "2025-12-27T09:00"):
        Activity.objects.create(client=client, kind="page_view", occurred_at=dt.datetime.fromisoformat(at + "Z"))
    Client.objects.create(external_id="prospect")
    rebuild_segments(dt.date(2025, 12, 31))
    lines = run_command_output("export_engagement", "-").splitlines()
    assert lines[0] == ("client_id,engagement_score,engagement_band,visits_30,visits_90,visit_seconds,bounce_rate,"
                        "visit_gap_days,visit_conversion,monetary,predicted_clv")
    rows = {line.split(",")[0]: line.split(",") for line in lines[1:]}
    # Page views 5 minutes apart make one visit, ended by an order 5 minutes later; the second
    # visit a week on is a single page: a bounce.
    assert rows["c1"][3:10] == ["2", "2", "150.0", "0.5000", "6.88", "0.5000", "100.00"]
    assert rows["prospect"][1:10] == ["0.00", "low", "0", "0", "", "", "", "", "0.00"]
