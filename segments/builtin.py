"""The segments every shop has, kept by the nightly run (slug, name, kind, description).

Names and descriptions are kept in English in the database and shown in the user's language:
gettext_noop marks them for translation here, `display_name` and `description_for` translate them.
"""

from django.utils.translation import gettext, gettext_noop

from .rfm import SEGMENT_GRID, SEGMENT_NAMES


def _rfm_cells(slug):
    cells = [f"R{r}/FM{fm + 1}" for r, row in SEGMENT_GRID.items() for fm, name in enumerate(row) if name == slug]
    return ", ".join(sorted(cells))


RFM_DESCRIPTION = gettext_noop("RFM cells %(cells)s.")

BUILTIN_SEGMENTS = [
    ("all-clients", gettext_noop("All clients"), "builtin", gettext_noop("Every client.")),
    ("prospects", gettext_noop("Prospects"), "builtin",
     gettext_noop("Clients without a completed order yet (no RFM scores).")),
    *[(slug, name, "rfm", RFM_DESCRIPTION % {"cells": _rfm_cells(slug)}) for slug, name in SEGMENT_NAMES.items()],
    ("churn-low", gettext_noop("Churn risk: low"), "churn",
     gettext_noop("Probability of no order in the churn horizon below the medium band.")),
    ("churn-medium", gettext_noop("Churn risk: medium"), "churn",
     gettext_noop("Churn probability between the medium and high thresholds.")),
    ("churn-high", gettext_noop("Churn risk: high"), "churn",
     gettext_noop("Churn probability at or above the high threshold.")),
    ("engagement-high", gettext_noop("Engagement: high"), "engagement", gettext_noop("Engagement score 60 or more.")),
    ("engagement-medium", gettext_noop("Engagement: medium"), "engagement",
     gettext_noop("Engagement score from 25 to 60.")),
    ("engagement-low", gettext_noop("Engagement: low"), "engagement",
     gettext_noop("Engagement score under 25, or no activity.")),
]
NAMES = {slug: name for slug, name, _kind, _description in BUILTIN_SEGMENTS}
DESCRIPTIONS = {slug: description for slug, _name, _kind, description in BUILTIN_SEGMENTS}
# Churn and engagement bands as the scores name them.
BANDS = {"high": gettext_noop("high"), "medium": gettext_noop("medium"), "low": gettext_noop("low")}


def segment_name(slug):
    """The name of a segment the nightly run keeps, in the active language; other slugs as they are."""
    return gettext(NAMES[slug]) if slug in NAMES else slug


def description_for(slug):
    """The description of a segment the nightly run keeps, in the active language; None for others."""
    if slug in SEGMENT_NAMES:
        return gettext(RFM_DESCRIPTION) % {"cells": _rfm_cells(slug)}
    return gettext(DESCRIPTIONS[slug]) if slug in DESCRIPTIONS else None


def band_name(band):
    return gettext(BANDS[band]) if band in BANDS else band


def ensure(segment_model):
    for slug, name, kind, description in BUILTIN_SEGMENTS:
        segment_model.objects.update_or_create(slug=slug, defaults={"name": name, "kind": kind,
                                                                    "description": description})
