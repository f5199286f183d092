"""When a campaign sends: validation of its schedule, cron parsing, quiet hours, the beat entry of
a recurring campaign, and the launches that schedules start.

- manual: only when someone launches it (admin action or `manage.py launch_campaign`).
- once: the every-minute beat job `launch_due_campaigns` launches it when `send_at` has passed.
- recurring: a django-celery-beat entry per campaign (kept in sync on save and delete) runs
  `launch_recurring_campaign`; each run is its own occurrence, named by the local date and time
  of the cron slot it belongs to, so a late or repeated task lands on the same delivery set.
- triggered: see `triggers.py` (after each successful nightly run).

Only a campaign in state `scheduled` or `sending` fires on its own: a draft is being edited and
never fires. A paused recurring campaign skips its runs (its beat entry is disabled); a paused
triggered campaign still records the night's entrants as pending deliveries, sent at resume, so a
pause does not make anybody miss their welcome.
"""

import datetime as dt
import logging

from celery.schedules import crontab
from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext

from segments.rules import RuleError, to_q

from .models import Campaign

log = logging.getLogger(__name__)

RECURRING_TASK = "mailing.tasks.launch_recurring_campaign"
# States in which a trigger fires (a paused campaign records the occurrence and sends it at resume).
FIRING_STATES = (Campaign.State.SCHEDULED, Campaign.State.SENDING, Campaign.State.PAUSED)
CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")


# --- Pure functions ------------------------------------------------------------------------------

def parse_cron(text):
    """A celery crontab from "minute hour day-of-month month day-of-week"; ValueError says what is wrong."""
    parts = (text or "").split()
    if len(parts) != 5:
        raise ValueError(gettext("expected 5 fields (minute hour day-of-month month day-of-week), got %(n)d")
                         % {"n": len(parts)})
    try:
        return crontab(**dict(zip(CRON_FIELDS, parts, strict=True)))
    except Exception as exc:  # celery raises ValueError or its own ParseException
        raise ValueError(str(exc)) from None


CLOCK_SKEW = dt.timedelta(seconds=30)


def cron_slot(schedule, now_local):
    """The latest moment <= now_local (naive or aware, local time) that the crontab fires at, to the minute.

    Celery's semantics: day of month AND day of week must both match. None if none in the past 400 days.
    """
    now_local = now_local.replace(second=0, microsecond=0)
    day = now_local.date()
    for _ in range(400):
        # Celery numbers weekdays 0 = Sunday.
        if (day.month in schedule.month_of_year and day.day in schedule.day_of_month
                and (day.isoweekday() % 7) in schedule.day_of_week):
            for hour in sorted(schedule.hour, reverse=True):
                for minute in sorted(schedule.minute, reverse=True):
                    slot = now_local.replace(year=day.year, month=day.month, day=day.day, hour=hour, minute=minute)
                    if slot <= now_local:
                        return slot
        day -= dt.timedelta(days=1)
    return None


def parse_quiet_hours(text):
    """(start, end) times from "22:00-09:00", or None when empty (no quiet hours)."""
    if not text:
        return None
    start, end = (dt.time.fromisoformat(part.strip()) for part in text.split("-"))
    return start, end


def quiet_until(now_local, window):
    """The local end of the quiet window that `now_local` falls in, or None when sending is allowed.

    A window may cross midnight (22:00-09:00): 23:30 waits until 09:00 the next day, 08:00 until
    09:00 the same day. The start is quiet, the end is not.
    """
    if window is None:
        return None
    start, end = window
    t = now_local.time().replace(tzinfo=None)
    if start < end:
        inside = start <= t < end
        end_day = now_local.date()
    else:
        inside = t >= start or t < end
        end_day = now_local.date() + dt.timedelta(days=1) if t >= start else now_local.date()
    if not inside:
        return None
    return now_local.replace(year=end_day.year, month=end_day.month, day=end_day.day, hour=end.hour,
                             minute=end.minute, second=0, microsecond=0)


def send_not_before(now=None):
    """When a message may go out if it were sent `now` (aware): None when now is outside quiet hours."""
    now = now or timezone.now()
    local = timezone.localtime(now)
    until = quiet_until(local, parse_quiet_hours(settings.CRM_QUIET_HOURS))
    if until is None:
        return None
    # Re-attach the zone to the wall-clock time: a DST change inside the window moves the offset.
    return timezone.make_aware(until.replace(tzinfo=None))


def occurrence_for_slot(slot):
    return slot.strftime("%Y-%m-%dT%H:%M")


# --- Validation ----------------------------------------------------------------------------------

def campaign_errors(campaign, variant_weights=None, has_segments=None):
    """{field: message} for a campaign whose schedule, audience or variants cannot work.

    Used by the admin form and before a campaign fires. variant_weights: the weights of its variants
    (None: read them from the database); has_segments: whether it has audience segments (None: read).
    """
    errors = {}
    schedule = campaign.schedule
    if schedule == Campaign.Schedule.ONCE and campaign.send_at is None:
        errors["send_at"] = gettext("A campaign sent once at a date and time needs 'send at'.")
    if schedule == Campaign.Schedule.RECURRING:
        try:
            parse_cron(campaign.cron)
        except ValueError as exc:
            errors["cron"] = gettext("Cron schedule %(cron)s: %(error)s.") % {"cron": repr(campaign.cron), "error": exc}
    if schedule == Campaign.Schedule.TRIGGERED:
        if campaign.trigger_segment_id is None:
            errors["trigger_segment"] = gettext("A triggered campaign needs the segment whose entrants it emails.")
        if campaign.reentry == Campaign.Reentry.AFTER_DAYS and not campaign.reentry_days:
            errors["reentry_days"] = gettext("Re-entry 'again after N days' needs the number of days (at least 1).")
    else:
        if has_segments is None:
            has_segments = campaign.pk is not None and campaign.segments.exists()
        if not has_segments:
            errors["segments"] = gettext("Choose at least one audience segment.")
    if campaign.conditions:
        try:
            to_q(campaign.conditions, "conditions")
        except RuleError as exc:
            errors["conditions"] = str(exc)
    if variant_weights is None:
        variant_weights = list(campaign.variants.values_list("weight", flat=True)) if campaign.pk else []
    if variant_weights and sum(variant_weights) != 100:
        errors["variants"] = gettext("The A/B variants' splits add up to %(total)s%%, not 100%%.") % {
            "total": sum(variant_weights)}
    return errors


# --- The beat entry of a recurring campaign ------------------------------------------------------

def _periodic_task_prefix(campaign):
    return f"Email campaign #{campaign.pk}:"


def periodic_task_name(campaign):
    return f"{_periodic_task_prefix(campaign)} {campaign.slug}"


def sync_periodic_task(campaign):
    """Create, update or remove the django-celery-beat entry of a campaign to match its schedule.

    Enabled only while the campaign is scheduled or sending; removed when it is not recurring or its
    cron does not parse.
    """
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    # By id, else by the name's stable prefix: a save from a stale instance may have cleared the link.
    task = (PeriodicTask.objects.filter(pk=campaign.periodic_task_id).first() if campaign.periodic_task_id else None) \
        or PeriodicTask.objects.filter(name__startswith=_periodic_task_prefix(campaign)).first()
    schedule = None
    if campaign.schedule == Campaign.Schedule.RECURRING:
        try:
            parse_cron(campaign.cron)
            schedule = campaign.cron.split()
        except ValueError:
            log.error("campaign %s: cron %r does not parse; no beat entry", campaign.slug, campaign.cron)
    if schedule is None:
        if task is not None:
            task.delete()  # SET_NULL clears campaign.periodic_task
        return None
    crontab_row, _ = CrontabSchedule.objects.get_or_create(
        **dict(zip(CRON_FIELDS, schedule, strict=True)), timezone=settings.TIME_ZONE)
    fields = {"name": periodic_task_name(campaign), "task": RECURRING_TASK, "crontab": crontab_row,
              "interval": None, "kwargs": f'{{"campaign_id": {campaign.pk}}}',
              "enabled": campaign.state in (Campaign.State.SCHEDULED, Campaign.State.SENDING),
              "description": f"Launches the recurring email campaign {campaign.slug!r} (one occurrence per run)."}
    if task is None:
        task = PeriodicTask.objects.create(**fields)
    else:
        for key, value in fields.items():
            setattr(task, key, value)
        task.save()  # saving a PeriodicTask tells beat to reload its schedule
    if campaign.periodic_task_id != task.pk:
        Campaign.objects.filter(pk=campaign.pk).update(periodic_task=task)
        campaign.periodic_task = task
    return task


@receiver(post_save, sender=Campaign, dispatch_uid="mailing.sync_periodic_task")
def _campaign_saved(sender, instance, raw=False, **kwargs):
    if not raw:
        sync_periodic_task(instance)


@receiver(post_delete, sender=Campaign, dispatch_uid="mailing.delete_periodic_task")
def _campaign_deleted(sender, instance, **kwargs):
    from django_celery_beat.models import PeriodicTask

    if instance.periodic_task_id:
        PeriodicTask.objects.filter(pk=instance.periodic_task_id).delete()


# --- Launches that schedules start ---------------------------------------------------------------

def launch_due_campaigns(now=None):
    """Launch every scheduled one-off campaign whose `send_at` has passed. Safe to run twice at once:
    launching locks the campaign row and moves it out of `scheduled`, and launching is idempotent."""
    from .sending import CampaignError, launch_campaign

    now = now or timezone.now()
    launched = []
    due = Campaign.objects.filter(schedule=Campaign.Schedule.ONCE, state=Campaign.State.SCHEDULED, send_at__lte=now)
    for campaign in due.order_by("send_at"):
        try:
            result = launch_campaign(campaign, automatic=True, only_states=(Campaign.State.SCHEDULED,))
        except CampaignError as exc:
            # Its setup broke after it was scheduled (e.g. its segments were removed). Back to draft, so
            # the team sees it in the admin and this job stops retrying it every minute.
            Campaign.objects.filter(pk=campaign.pk, state=Campaign.State.SCHEDULED).update(state=Campaign.State.DRAFT)
            log.error("one-off campaign %s could not be launched and is a draft again: %s", campaign.slug, exc)
            continue
        if result is not None:
            launched.append(campaign.slug)
    return launched


def launch_recurring(campaign_id, now=None):
    """One run of a recurring campaign: the occurrence is the cron slot this run belongs to."""
    from .sending import launch_campaign

    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None or campaign.schedule != Campaign.Schedule.RECURRING:
        log.warning("recurring launch for campaign %s: no such recurring campaign", campaign_id)
        return None
    # Beat fires on its own clock; a worker whose clock is a moment behind would otherwise name the
    # previous slot (already sent) and skip this run without a word.
    slot = cron_slot(parse_cron(campaign.cron), timezone.localtime(now or timezone.now()) + CLOCK_SKEW)
    if slot is None:
        return None
    # A paused recurring campaign skips its runs (its beat entry is disabled too): resuming a monthly
    # message should not send last month's as well.
    return launch_campaign(campaign, occurrence=occurrence_for_slot(slot), automatic=True,
                           only_states=(Campaign.State.SCHEDULED, Campaign.State.SENDING))


def manual_occurrence(campaign, now=None):
    """The occurrence a launch by hand writes: "once" for a campaign sent once; for a recurring campaign
    the local date, so a launch by hand sends at most once a day next to the cron's own occurrences."""
    if campaign.schedule == Campaign.Schedule.RECURRING:
        return f"{timezone.localdate(now or timezone.now()).isoformat()} manual"
    return "once"
