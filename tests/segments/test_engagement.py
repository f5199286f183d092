"""The engagement score from visits, as docs/scoring.md and segments/engagement.py state it."""

import numpy as np
import pytest

from segments import engagement

NAN = np.nan


def _current(**columns):
    base = {"visits_30": [0], "visits_90": [0], "visit_seconds": [NAN], "bounce_rate": [NAN],
            "visit_conversion": [NAN], "activity_days": [NAN]}
    return {name: np.array(values, dtype=float) for name, values in (base | columns).items()}


def test_a_client_at_every_reference_level_seen_today_scores_100_and_one_never_seen_0():
    shop = _current(visits_30=[4, 0], visits_90=[9, 0], visit_seconds=[300, NAN], bounce_rate=[0.0, NAN],
                    visit_conversion=[0.5, NAN], activity_days=[0.0, NAN])
    ref = engagement.reference(shop)
    score = engagement.scores(shop, ref)
    assert score.tolist() == [100.0, 0.0]
    assert engagement.bands(score).tolist() == ["high", "low"]


@pytest.mark.parametrize(("measure", "better", "worse", "weight"), [
    ("visits_30", 4, 0, 0.30),
    ("visit_seconds", 300, NAN, 0.15),
    ("bounce_rate", 0.0, 1.0, 0.10),
    ("visit_conversion", 0.5, 0.0, 0.10),
])
def test_each_measure_moves_the_score_by_its_weight(measure, better, worse, weight):
    ref = [4, 9, 300, 0.5]
    full = {"visits_30": [4], "visits_90": [9], "visit_seconds": [300], "bounce_rate": [0.0],
            "visit_conversion": [0.5], "activity_days": [0.0]}
    high = engagement.scores(_current(**(full | {measure: [better]})), ref)
    low = engagement.scores(_current(**(full | {measure: [worse]})), ref)
    assert high[0] - low[0] == pytest.approx(100 * weight)
