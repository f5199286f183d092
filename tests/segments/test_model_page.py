"""The model page of a night: every model's back-test, the reliability diagram, a warning when quality fell."""

import datetime as dt

import pytest
from django.utils import timezone, translation

from crm import roles
from nightly.pipeline import rebuild_segments
from segments import model_report
from segments.models import ScoringRun

pytestmark = pytest.mark.django_db


def past_night(as_of, auc, brier=0.12, spearman=0.6, mae=90.0):
    return ScoringRun.objects.create(
        as_of=as_of, status=ScoringRun.Status.SUCCEEDED, finished_at=timezone.now(),
        metrics={"churn": {"method": "model", "auc": auc, "brier": brier},
                 "value": {"method": "model", "spearman": spearman, "mae": mae}})


def test_the_run_page_shows_every_model_and_the_reliability_diagram(bigger_demo_shop, login):
    run = rebuild_segments(bigger_demo_shop)
    assert run.metrics["churn"]["method"] == "model", run.notes
    churn, value = run.metrics["churn"], run.metrics["value"]
    assert {"logistic_auc", "logistic_brier", "baseline_auc", "bgnbd_auc"} <= set(churn)
    bands = churn["reliability"]
    assert sum(n for _, _, n in bands) == churn["n_test"] and all(0 <= p <= 1 and 0 <= o <= 1 for p, o, _ in bands)

    for role, language, words in (
            (roles.ANALYST, "en", ("logistic regression on RFM", "reliability diagram", "Spearman")),
            (roles.MARKETING_MANAGER, "ru", ("логистическая регрессия по RFM", "диаграмма надёжности", "Спирмена"))):
        page = login(role, language).get(f"/admin/segments/scoringrun/{run.pk}/change/")
        body = page.content.decode()
        assert page.status_code == 200
        for word in words:
            assert word in body, (language, word)
        assert body.count("<circle") == len(bands)
        for name in value["candidates"]:
            with translation.override(language):
                assert model_report.gettext(model_report.notes.METHODS[name]) in body


def test_a_night_whose_quality_fell_is_flagged(db):
    for day in range(1, 6):
        past_night(dt.date(2026, 11, day), auc=0.85 + day / 1000)
    steady = past_night(dt.date(2026, 11, 6), auc=0.846)
    fell = past_night(dt.date(2026, 11, 7), auc=0.80, brier=0.15, spearman=0.5)
    before = list(ScoringRun.objects.filter(as_of__lt=fell.as_of).order_by("-as_of"))
    assert model_report.quality_falls(steady, before[1:]) == []
    with translation.override("en"):
        falls = model_report.quality_falls(fell, before)
    assert len(falls) == 3
    assert "AUC 0.8000" in falls[0] and "0.8525" in falls[0]
    assert "Brier" in falls[1] and "Spearman" in falls[2]
