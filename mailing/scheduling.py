"""When a campaign sends on its own: the beat entry of a recurring campaign, and the launches that
schedules start. (Cron parsing and quiet hours: `timing`; whether a campaign's setup can work:
`Campaign.setup_errors`.)

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

import logging

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from .launch import launch_campaign
from .models import Campaign, CampaignError
from .timing import CLOCK_SKEW, CRON_FIELDS, cron_slot, occurrence_for_slot, parse_cron

log = logging.getLogger(__name__)

RECURRING_TASK = "mailing.tasks.launch_recurring_campaign"


# --- The beat entry of a recurring campaign ------------------------------------------------------

def _periodic_task_prefix(campaign):
    return f"Email campaign #{campaign.pk}:"


def periodic_task_name(campaign):
    return f"{_periodic_task_prefix(campaign)} {campaign.slug}"


def sync_periodic_task(campaign):
    """Create, update or remove the django-celery-beat entry of a campaign to match its schedule.

    Enabled only while the campaign is active (scheduled or sending); removed when it is not
    recurring or its cron does not parse.
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
              "enabled": campaign.state in Campaign.ACTIVE,
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
    now = now or timezone.now()
    launched = []
    for campaign in Campaign.objects.due(now).order_by("send_at"):
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
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None or campaign.schedule != Campaign.Schedule.RECURRING:
        log.warning("recurring launch for campaign %s: no such recurring campaign", campaign_id)
        return None
    slot = cron_slot(parse_cron(campaign.cron), timezone.localtime(now or timezone.now()) + CLOCK_SKEW)
    if slot is None:
        return None
    # A paused recurring campaign skips its runs (its beat entry is disabled too): resuming a monthly
    # message should not send last month's as well.
    return launch_campaign(campaign, occurrence=occurrence_for_slot(slot), automatic=True,
                           only_states=Campaign.ACTIVE)
