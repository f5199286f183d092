import numpy as np

from segments import rfm


def test_equal_values_always_share_a_score():
    frequency = np.array([1, 1, 1, 1, 1, 1, 2, 2, 3, 8], dtype=float)
    scores = rfm.score_higher_is_better(frequency, rfm.boundaries(frequency, 5))
    for value in np.unique(frequency):
        assert len(set(scores[frequency == value])) == 1
    assert scores[frequency == 8][0] == scores.max() and scores[frequency == 1][0] == 1


def test_fewer_days_since_the_last_order_scores_higher():
    recency = np.array([1, 10, 30, 60, 90, 120, 200, 300, 400, 700], dtype=float)
    scores = rfm.score_lower_is_better(recency, rfm.boundaries(recency, 5))
    assert scores.tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]


def test_clients_without_orders_get_no_score():
    values = np.array([np.nan, 5.0, 10.0])
    cuts = rfm.boundaries(values, 5)
    assert rfm.score_higher_is_better(values, cuts)[0] == 0
    assert rfm.score_lower_is_better(values, cuts)[0] == 0


def test_the_grid_names_every_cell_with_a_known_segment():
    assert {name for row in rfm.SEGMENT_GRID.values() for name in row} == set(rfm.SEGMENT_NAMES)
    r = np.array([5, 5, 1, 1, 2, 3], dtype=np.int16)
    fm = np.array([5, 1, 1, 5, 3, 3], dtype=np.int16)
    assert rfm.named_segments(r, fm, fm, 5).tolist() == [
        "champions", "new-customers", "lost", "cant-lose-them", "at-risk", "need-attention"]


def test_other_numbers_of_levels_map_onto_the_same_grid():
    r = np.array([3, 1], dtype=np.int16)
    fm = np.array([3, 1], dtype=np.int16)
    assert rfm.named_segments(r, fm, fm, 3).tolist() == ["champions", "lost"]
