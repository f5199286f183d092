"""The segments every shop has, kept by the nightly run (slug, name, kind, description)."""

from .rfm import SEGMENT_GRID, SEGMENT_NAMES


def _rfm_cells(slug):
    cells = [f"R{r}/FM{fm + 1}" for r, row in SEGMENT_GRID.items() for fm, name in enumerate(row) if name == slug]
    return ", ".join(sorted(cells))


BUILTIN_SEGMENTS = [
    ("all-clients", "All clients", "builtin", "Every client."),
    ("prospects", "Prospects", "builtin", "Clients without a completed order yet (no RFM scores)."),
    *[(slug, name, "rfm", f"RFM cells {_rfm_cells(slug)}.") for slug, name in SEGMENT_NAMES.items()],
    ("churn-low", "Churn risk: low", "churn", "Probability of no order in the churn horizon below the medium band."),
    ("churn-medium", "Churn risk: medium", "churn", "Churn probability between the medium and high thresholds."),
    ("churn-high", "Churn risk: high", "churn", "Churn probability at or above the high threshold."),
    ("engagement-high", "Engagement: high", "engagement", "Engagement score 60 or more."),
    ("engagement-medium", "Engagement: medium", "engagement", "Engagement score from 25 to 60."),
    ("engagement-low", "Engagement: low", "engagement", "Engagement score under 25, or no activity."),
]


def ensure(segment_model):
    for slug, name, kind, description in BUILTIN_SEGMENTS:
        segment_model.objects.update_or_create(slug=slug, defaults={"name": name, "kind": kind,
                                                                    "description": description})
