"""A run's notes and figures are said in the reader's language: kept as message and values by the
night, rendered at reading time with the language's numbers."""

import pytest
from django.utils import translation

from segments import churn, clv, notes


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def test_a_note_is_kept_as_message_and_values_and_said_again_in_russian():
    note = notes.Note("model: boosted trees on aggregates + BG/NBD over %(cutoffs)d cut-offs; back-test on the "
                      "newest window AUC %(auc).3f (recency %(baseline_auc).3f, BG/NBD %(bgnbd_auc).3f), Brier "
                      "%(brier).3f (recency %(baseline_brier).3f, BG/NBD %(bgnbd_brier).3f)") % {
        "cutoffs": 4, "auc": 0.90612, "baseline_auc": 0.8, "bgnbd_auc": float("nan"), "brier": 0.1,
        "baseline_brier": 0.2, "bgnbd_brier": 0.3, "unused": 1}
    kept = notes.stored(note)
    assert kept["values"]["bgnbd_auc"] is None and "unused" not in kept["values"]  # JSON-safe, and only what it says
    assert "AUC 0.906" in note and "AUC 0.906" in notes.render(kept)
    with translation.override("ru"):
        shown = notes.render(kept)
    assert "AUC 0,906" in shown and "BG/NBD -" in shown and "модель" in shown.lower()


def test_a_nested_reason_is_translated_too():
    reason = notes.Note("the model needs at least two fully observed past windows (one to train, the newest to "
                        "check it), got %(n)d") % {"n": 1}
    note = notes.Note("BG/NBD + Gamma-Gamma used: %(reason)s") % {"reason": reason}
    with translation.override("ru"):
        shown = notes.render(notes.stored(note))
    assert "needs" not in shown and "used" not in shown


def test_an_older_runs_plain_note_is_shown_as_it_was():
    assert notes.render("model: something") == "model: something"


@pytest.mark.parametrize(("language", "expected"), [("en", "12,000"), ("ru", "12\xa0000")])
def test_counts_are_grouped_as_the_language_writes_them(language, expected):
    with translation.override(language):
        assert notes.number(12000, 0) == expected


def test_the_models_notes_are_notes():
    assert churn._ is notes.Note and clv._ is notes.Note


def test_metric_keys_get_names_in_russian():
    with translation.override("ru"):
        rows = [tuple(map(str, row))
                for row in notes.metric_rows({"churn": {"method": "model", "auc": 0.9061, "n_train": 12000}})]
    assert rows == [
        ("риск оттока", "метод", "модель"), ("риск оттока", "AUC", "0,906"), ("риск оттока", "строк обучения", "12\xa0000")]
