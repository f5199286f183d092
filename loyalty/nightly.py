"""The loyalty stage of the nightly run (nightly/pipeline.py): grant, expire, then each client's
tier as of the night, which the run writes with the scores (ClientScore.tier)."""

import numpy as np

from segments.aggregates import cut_time

from .granting import expire, grant
from .tiers import sync_segments, tiers_as_of


def run_stage(as_of, ids):
    """(tier slug per client of `ids`, counts for the run record)."""
    sync_segments()
    cut = cut_time(as_of)
    counts = grant(cut)
    counts["expired"] = expire(as_of)
    tier = tiers_as_of(ids, as_of, cut)
    slugs, sizes = np.unique(tier.astype(str), return_counts=True)
    counts["tiers"] = {slug: int(n) for slug, n in zip(slugs.tolist(), sizes.tolist()) if slug}
    return tier, counts
