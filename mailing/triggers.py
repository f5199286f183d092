"""Triggered campaigns: after each successful nightly run, email the clients who entered a segment.

The run's entrants are the memberships it opened (`SegmentMembership.entered_run`). Each run is its
own occurrence (`<as-of date>/run-<id>`), so a task delivered twice, or a second launch, creates and
sends nothing new. The re-entry rule is applied in the audience query (`audience.audience_clients`):
once per client ever (any earlier delivery row of the campaign, sent or held out), or again once
`reentry_days` have passed since the client's last delivery of the campaign.
"""

import logging

from segments.models import ScoringRun

from .launch import launch_campaign
from .models import Campaign, CampaignError

log = logging.getLogger(__name__)


def occurrence_for_run(run):
    return f"{run.as_of.isoformat()}/run-{run.pk}"


def fire_triggers(run_id):
    """Launch every active triggered campaign for the entrants of run `run_id`. Returns {slug: created}."""
    run = ScoringRun.objects.filter(pk=run_id, status=ScoringRun.Status.SUCCEEDED).first()
    if run is None:
        log.warning("triggered campaigns: run %s is not a succeeded scoring run", run_id)
        return {}
    if ScoringRun.objects.filter(status=ScoringRun.Status.SUCCEEDED, as_of__gt=run.as_of, pk__lt=run.pk).exists():
        # A past night recomputed (a back-test, a repair): its "entrants" are history, not news.
        log.info("triggered campaigns: run %s rebuilt the past date %s; nothing fired", run.pk, run.as_of)
        return {}
    fired = {}
    for campaign in Campaign.objects.triggered().order_by("pk"):
        try:
            result = launch_campaign(campaign, occurrence=occurrence_for_run(run), entered_run=run, automatic=True)
        except CampaignError as exc:
            # One campaign's bad setup must not keep the others from firing.
            log.error("triggered campaign %s not launched for run %s: %s", campaign.slug, run.pk, exc)
            continue
        if result is not None:
            fired[campaign.slug] = result.created
    return fired
