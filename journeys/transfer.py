"""A journey's definition as JSON, to move it between installations: export, and import refused whole.

The file names templates and segments by name and slug (ids differ between installations), and
carries the entry, exit, re-entry and holdout settings. An import checks everything first
(`definition.check`, with this installation's templates and segments): an unknown step kind, a
missing template or any other problem refuses the whole file, naming each step, and nothing is
written. An imported journey is a draft.
"""

from django.db import transaction
from django.utils.translation import gettext

from segments.models import Segment

from .models import Journey, JourneyError
from .publish import problems

FORMAT = "crm-journey/1"
SETTINGS = ("name", "entry", "entry_event", "entry_activity_kind", "entry_date", "entry_days", "exit_on_conversion",
            "exit_on_leaving_segment", "exit_on_unsubscribe", "reentry", "reentry_days", "holdout_percent")


def export_journey(journey):
    return {"format": FORMAT, "slug": journey.slug, **{name: getattr(journey, name) for name in SETTINGS},
            "entry_segment": journey.entry_segment.slug if journey.entry_segment_id else None,
            "definition": journey.definition}


def import_journey(data, slug=None):
    """A new draft journey from exported JSON; JourneyError naming every problem, nothing written."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise JourneyError(gettext("Not a journey export (expected \"format\": \"%(format)s\").") % {"format": FORMAT})
    found = []
    slug = slug or data.get("slug")
    if not slug or Journey.objects.filter(slug=slug).exists():
        found.append(gettext("slug: a journey %(slug)s exists already (or none was given).") % {"slug": repr(slug)})
    segment = None
    if data.get("entry_segment"):
        segment = Segment.objects.filter(slug=data["entry_segment"]).first()
        if segment is None:
            found.append(gettext("entry_segment: segment %(slug)s does not exist.") % {
                "slug": repr(data["entry_segment"])})
    unknown = set(data) - {"format", "slug", "entry_segment", "definition", *SETTINGS}
    if unknown:
        found.append(gettext("unknown fields: %(fields)s") % {"fields": ", ".join(sorted(unknown))})
    journey = Journey(slug=slug, entry_segment=segment, definition=data.get("definition") or {},
                      **{name: data[name] for name in SETTINGS if name in data and data[name] is not None})
    found += problems(journey)
    if found:
        raise JourneyError(gettext("The journey was not imported: %(problems)s") % {"problems": "; ".join(found)})
    with transaction.atomic():
        journey.full_clean(exclude=["definition", "live_version"])
        journey.save()
    return journey
