"""Activate, publish, pause, resume and stop a journey.

Publishing freezes the definition as the next JourneyVersion and gives each of its email steps a
campaign of its own (mailing's Campaign, schedule "journey", always sending), so the journey's emails
are mailing's deliveries: one row per (step campaign, client, occurrence), sent by its sending with
its consent, suppression, frequency cap and quiet hours, repaired by its repair job. Clients already
on their way keep the version they entered; new entrants get the new one.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from mailing.models import Campaign, CampaignVariant, EmailTemplate, unique_value
from segments.models import Segment

from .definition import Known, check, steps_by_id, templates_named
from .models import Journey, JourneyEmail, JourneyError, JourneyVersion, Position


def known():
    return Known(templates=set(EmailTemplate.objects.values_list("name", flat=True)),
                 audience_segments=set(Segment.objects.filter(kind=Segment.Kind.JOURNEY)
                                       .values_list("slug", flat=True)))


def problems(journey, definition=None):
    """Everything that keeps the journey from running, each naming its step or field; [] when none."""
    entry = [f"{field}: {message}" for field, message in journey.entry_errors().items()]
    return entry + check(journey.definition if definition is None else definition, known())


def publish(journey):
    """The journey's definition as its next version (refused with the problems named); returns it."""
    if found := problems(journey):
        raise JourneyError(gettext("Journey %(slug)s cannot be published: %(problems)s") % {
            "slug": repr(journey.slug), "problems": "; ".join(found)})
    with transaction.atomic():
        journey = Journey.objects.select_for_update().get(pk=journey.pk)
        latest = journey.versions.order_by("-number").first()
        version = JourneyVersion.objects.create(journey=journey, number=(latest.number if latest else 0) + 1,
                                                definition=journey.definition)
        templates = {t.name: t for t in EmailTemplate.objects.filter(name__in=templates_named(journey.definition))}
        for sid, step in steps_by_id(version.definition).items():
            if step.get("kind") == "email":
                _email_campaign(journey, version, sid, step, templates)
        Journey.objects.filter(pk=journey.pk).update(live_version=version)
    return version


def _email_campaign(journey, version, sid, step, templates):
    slug_length = Campaign._meta.get_field("slug").max_length
    slug = unique_value(Campaign.objects, "slug", f"journey-{journey.slug}-v{version.number}-{sid}"[:slug_length],
                        slug_length, "-")
    name = f"{journey.name} v{version.number}: {sid}"[:Campaign._meta.get_field("name").max_length]
    campaign = Campaign.objects.create(slug=slug, name=name, template=templates[step["template"]],
                                       schedule=Campaign.Schedule.JOURNEY, state=Campaign.State.SENDING,
                                       launched_at=timezone.now())
    CampaignVariant.objects.bulk_create(
        CampaignVariant(campaign=campaign, name=v["name"], weight=v["weight"], subject=v.get("subject", ""),
                        template=templates[v["template"]] if v.get("template") else None)
        for v in step.get("variants") or [])
    JourneyEmail.objects.create(version=version, step=sid, campaign=campaign)


def save_definition(journey):
    """After the definition was saved: an active (or paused) journey publishes it as a new version when
    it changed; a draft keeps it for activation. Returns the new version or None."""
    if journey.state in (Journey.State.ACTIVE, Journey.State.PAUSED) and (
            journey.live_version is None or journey.live_version.definition != journey.definition):
        return publish(journey)
    return None


def activate(journey):
    if journey.state not in (Journey.State.DRAFT, Journey.State.PAUSED):
        raise JourneyError(gettext("Journey %(slug)s is %(state)s; only a draft or a paused journey can be "
                                   "activated.") % {"slug": repr(journey.slug), "state": journey.get_state_display()})
    if journey.live_version is None or journey.live_version.definition != journey.definition:
        publish(journey)
    Journey.objects.filter(pk=journey.pk).update(state=Journey.State.ACTIVE, activated_at=timezone.now())
    journey.refresh_from_db()


def pause(journey):
    """Nothing moves while paused: due steps wait, nobody enters; resume (activate) carries on."""
    if journey.state != Journey.State.ACTIVE:
        raise JourneyError(gettext("Journey %(slug)s is %(state)s, not active.") % {
            "slug": repr(journey.slug), "state": journey.get_state_display()})
    Journey.objects.filter(pk=journey.pk).update(state=Journey.State.PAUSED)
    journey.refresh_from_db()


def stop(journey):
    """Stopped for good: every client still on the way exits (reason "stopped")."""
    with transaction.atomic():
        Journey.objects.filter(pk=journey.pk).update(state=Journey.State.STOPPED)
        # Waiting rows at once; a row a pass holds right now is exited by that pass (it re-checks the state).
        Position.objects.filter(journey=journey, state=Position.State.WAITING).update(
            state=Position.State.EXITED, reason=Position.Reason.STOPPED, finished_at=timezone.now(), due_at=None)
    journey.refresh_from_db()
