"""RFM scores and the named RFM segments. Pure numpy: no database here.

Scoring rule (documented for the team): with L levels (default 5), the boundaries are the
1/L, 2/L, ... (L-1)/L quantiles of this shop's own buying clients. A client's F (or M) score is
1 + the number of boundaries strictly below their value, so equal values always share a score and
a value equal to a boundary stays on the lower side. R is the same on recency turned around
(fewer days since the last order scores higher). Clients without orders get no RFM scores.
"""

import numpy as np
from django.utils.translation import gettext_noop

# R (rows, 5 = bought most recently) by FM (columns, 5 = buys most often / spends most), on a
# 1..5 scale. Each cell names the segment; the admin shows this grid with counts and revenue.
SEGMENT_GRID = {
    5: ["new-customers", "potential-loyalists", "potential-loyalists", "champions", "champions"],
    4: ["promising", "potential-loyalists", "potential-loyalists", "loyal", "champions"],
    3: ["about-to-sleep", "about-to-sleep", "need-attention", "loyal", "loyal"],
    2: ["hibernating", "hibernating", "at-risk", "at-risk", "cant-lose-them"],
    1: ["lost", "lost", "at-risk", "cant-lose-them", "cant-lose-them"],
}
# Kept in English in the database; shown translated (gettext_noop only marks them: Segment.display_name).
SEGMENT_NAMES = {
    "champions": gettext_noop("Champions"),
    "loyal": gettext_noop("Loyal"),
    "potential-loyalists": gettext_noop("Potential loyalists"),
    "new-customers": gettext_noop("New customers"),
    "promising": gettext_noop("Promising"),
    "need-attention": gettext_noop("Need attention"),
    "about-to-sleep": gettext_noop("About to sleep"),
    "at-risk": gettext_noop("At risk"),
    "cant-lose-them": gettext_noop("Can't lose them"),
    "hibernating": gettext_noop("Hibernating"),
    "lost": gettext_noop("Lost"),
}


def boundaries(values, levels):
    """The L-1 quantile boundaries of the finite values (the global cut-offs of a run)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros(levels - 1)
    return np.quantile(finite, np.arange(1, levels) / levels)


def score_higher_is_better(values, cuts):
    """1 + number of boundaries strictly below the value; NaN stays 0 (no score)."""
    scores = np.searchsorted(cuts, values, side="left") + 1
    return np.where(np.isfinite(values), scores, 0).astype(np.int16)


def score_lower_is_better(values, cuts):
    levels = len(cuts) + 1
    higher = score_higher_is_better(values, cuts)
    # Turn around: the fewest days since the last order gets the top score. Equal values still
    # share a score: count the boundaries strictly above the value instead.
    above = len(cuts) - np.searchsorted(cuts, values, side="right")
    return np.where(higher > 0, above + 1, 0).astype(np.int16).clip(0, levels)


def to_five(scores, levels):
    """Map scores on 1..levels onto the 1..5 grid, linearly, ends onto ends (0 stays 0)."""
    if levels == 5:
        return scores
    return np.where(scores > 0, 1 + np.round((scores - 1) * 4 / (levels - 1)), 0).astype(np.int16)


def five_point(score, levels):
    """One score on 1..levels as a point of the 1..5 grid."""
    return int(to_five(np.array([score], dtype=np.int16), levels)[0])


def named_segments(r, f, m, levels):
    """Slug per client from R and FM = round((F + M) / 2); '' for clients without orders."""
    r5, fm5 = to_five(r, levels), to_five(np.floor((f.astype(float) + m + 1) / 2).astype(np.int16), levels)
    grid = np.array([[""] * 6] + [[""] + SEGMENT_GRID[row] for row in range(1, 6)], dtype=object)
    return grid[r5, fm5]
