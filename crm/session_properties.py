"""The properties an activity row of kind `session` (a visit) may carry, checked and normalised on
the way in (CSV import, REST API and demo alike: crm/importing/kinds.py). The nightly visit measures
(segments/visits.py) read them back from the stored JSON, so what is stored here is what they trust.

    started_at        when the visit began: ISO 8601, not after the row's occurred_at (default: occurred_at)
    duration_seconds  how long it lasted: a number of seconds from 0 to 86,400
    pages             pages or screens seen: a whole number from 0 to 100,000
    channel           web or app
    target_action     the target action taken in the visit ("signup", "add_to_cart", ...), or true/false

Other properties are kept as they come. Each problem names the property.

PostgreSQL keeps the four the night reads as typed columns of the row (`visit_columns`, generated
from the JSON on every write, whatever writes it: import, API, admin, demo or SQL): reading 7 million
rows' JSON took the night 24 s against 6 s for the plain columns (bench/segmentation.py, "read").
"""

import datetime as dt

from django.db import models
from django.utils.translation import gettext as _

from crm import parsing

KIND = "session"
CHANNELS = ("web", "app")
MAX_DURATION = 86_400  # a day: a longer "visit" is a tab left open, not time spent
MAX_PAGES = 100_000
MAX_ACTION = 64
HIT, SESSION, CONVERTED_SESSION = 0, 1, 2  # visit_code: a row of another kind, a visit, a visit with its target action

# started_at as a time, for a generated column: crm_utc_time (created by migration crm/0004: an ISO 8601
# text with its offset, else NULL). PostgreSQL takes only IMMUTABLE functions there, and
# text to timestamptz is not (it reads the session's zone when the text has no offset). The values
# normalised() stores always carry their offset, so the answer never depends on the zone; a text in
# another form (a row edited by hand) gives NULL, and the visit then starts at occurred_at.
_SESSION = f"kind = '{KIND}'"


def visit_columns():
    """The generated columns (name, SQL, output field) a session row's visit is read from."""
    def number(name):
        return (f"CASE WHEN {_SESSION} AND jsonb_typeof(properties->'{name}') = 'number' "
                f"THEN CAST(properties->>'{name}' AS double precision) END")

    return [
        ("visit_start", f"CASE WHEN {_SESSION} AND jsonb_typeof(properties->'started_at') = 'string' "
                        "THEN crm_utc_time(properties->>'started_at') END", models.DateTimeField(null=True)),
        ("visit_seconds", number("duration_seconds"), models.FloatField(null=True)),
        ("visit_pages", number("pages"), models.FloatField(null=True)),
        ("visit_code", f"CASE WHEN NOT {_SESSION} THEN {HIT} WHEN properties->'target_action' = 'true' "
                       "OR (jsonb_typeof(properties->'target_action') = 'string' "
                       f"AND properties->>'target_action' <> '') THEN {CONVERTED_SESSION} ELSE {SESSION} END",
         models.SmallIntegerField()),
    ]


def normalised(properties, occurred_at, tz, now):
    """The session's properties with the five known ones checked; started_at as ISO 8601 in UTC.
    `occurred_at` (an aware datetime, or None when the row's own time is invalid) bounds started_at."""
    out = dict(properties)
    if out.get("started_at") is not None:
        out["started_at"] = _started_at(out["started_at"], occurred_at, tz, now)
    if out.get("duration_seconds") is not None:
        out["duration_seconds"] = _number("duration_seconds", out["duration_seconds"], MAX_DURATION, whole=False)
    if out.get("pages") is not None:
        out["pages"] = _number("pages", out["pages"], MAX_PAGES, whole=True)
    if out.get("channel") is not None:
        channel = out["channel"]
        if not isinstance(channel, str) or channel.strip().lower() not in CHANNELS:
            raise ValueError("channel: " + _("%(value)s is not one of %(allowed)s")
                             % {"value": repr(channel), "allowed": ", ".join(CHANNELS)})
        out["channel"] = channel.strip().lower()
    if out.get("target_action") is not None:
        out["target_action"] = _target_action(out["target_action"])
    return out


def _started_at(value, occurred_at, tz, now):
    if not isinstance(value, str):
        raise ValueError("started_at: " + _("%(value)s is not an ISO 8601 date and time") % {"value": repr(value)})
    try:
        started = parsing.datetime(value, tz, now=now)
    except ValueError as exc:
        raise ValueError(f"started_at: {exc}") from None
    if occurred_at is not None and started > occurred_at:
        raise ValueError("started_at: " + _("%(value)s is after the row's occurred_at") % {"value": repr(value)})
    return started.astimezone(dt.UTC).isoformat()


def _number(name, value, maximum, whole):
    wrong = isinstance(value, bool) or not isinstance(value, int | float) or value != value
    if not wrong and whole and value != int(value):
        wrong = True
    if wrong or not 0 <= value <= maximum:
        message = (_("%(value)s is not a whole number from 0 to %(maximum)s") if whole
                   else _("%(value)s is not a number of seconds from 0 to %(maximum)s"))
        raise ValueError(f"{name}: " + message % {"value": repr(value), "maximum": maximum})
    return int(value) if whole else value


def _target_action(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and 0 < len(value.strip()) <= MAX_ACTION:
        return value.strip()
    raise ValueError("target_action: " + _("%(value)s is neither true/false nor the name of an action "
                                           "(text of at most %(maximum)s characters)")
                     % {"value": repr(value), "maximum": MAX_ACTION})

