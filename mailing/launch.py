"""Launch a campaign: resolve its recipients, write one delivery row per recipient, queue the batches.

Safe to repeat. A second launch (double click, retried command, a task delivered twice) finds every
row already there: the unique (campaign, client, occurrence) constraint makes it create nothing,
and since only pending rows can be claimed (`sending`), queueing them again sends nothing twice.

Queueing. This module does not know Celery: `queue_pending` announces each batch on the
`batch_ready` signal, inside the caller's transaction, and `receivers.py` connects it to the task
(`tasks.queue_batch`, which queues on commit). So launch, lifecycle and repair sit below the task
layer, which calls them.
"""

import logging
from collections import Counter
from dataclasses import dataclass
from itertools import islice

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Count
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext

from core.logs import log_context

from .models import Campaign, CampaignError, Delivery
from .recipients import resolve_audience, segment_members
from .timing import send_not_before

log = logging.getLogger(__name__)

# A batch of pending deliveries to send: delivery_ids (a list), eta (None: at once, else not before
# this aware moment). Sent inside the transaction that wrote or re-opened the rows.
batch_ready = Signal()


@dataclass
class LaunchResult:
    created: int
    pending: int
    suppressed: int
    batches: int


def batched(iterable, size):
    """itertools.batched (Python 3.12) for 3.11."""
    iterator = iter(iterable)
    while chunk := list(islice(iterator, size)):
        yield chunk


def batch_size():
    """Deliveries per queued batch (one task each)."""
    return settings.CRM_CAMPAIGN_BATCH_SIZE


def launch_campaign(campaign, occurrence=None, *, entered_run=None, automatic=False, only_states=None):
    """Resolve the audience, write one delivery per recipient, queue the sending. Safe to repeat.

    occurrence: which delivery set (None: "once", or today's date for a recurring campaign launched by hand).
    entered_run: for a triggered campaign, the scoring run whose entrants into its segment it emails.
    automatic: started by a schedule or a trigger rather than a person: a campaign that may not fire
    (`Campaign.may_fire(only_states)`: draft, done, cancelled) is skipped and None returned; a paused
    one records the occurrence's deliveries and leaves them pending until it is resumed.
    Raises CampaignError (a message for the user) when the campaign may not be launched.
    """
    # Every line the launch logs carries the campaign, however it was started (admin, command, beat, trigger).
    with log_context(campaign=campaign.slug):
        return _launch(campaign, occurrence, entered_run=entered_run, automatic=automatic, only_states=only_states)


def _launch(campaign, occurrence, *, entered_run, automatic, only_states):
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if automatic:
            if not campaign.may_fire(only_states):
                log.info("campaign %s is %s: occurrence %s not launched", campaign.slug, campaign.state, occurrence)
                return None
            refusal = campaign.setup_refusal("launch")
        else:
            refusal = campaign.refusal("launch")
        if refusal:
            raise CampaignError(refusal)
        occurrence = occurrence or campaign.manual_occurrence()
        version = campaign.template.current_version()
        variants = list(campaign.variants.select_related("template").order_by("pk"))
        # A variant with its own template is sent (and recorded) with that template's current version.
        versions = {v.pk: v.template.current_version() if v.template_id else version for v in variants}
        before = Delivery.objects.filter(campaign=campaign, occurrence=occurrence).count()
        audience = resolve_audience(campaign, entered_run=entered_run, occurrence=occurrence,
                                    variants=[(v.pk, v.weight) for v in variants])
        not_before = send_not_before()
        reachable, unreachable = 0, Counter()  # who could be emailed (the held out among them), who not
        for chunk in batched(audience, 2000):
            for _client, _email, _state, reason, _variant in chunk:
                if reason in ("", Delivery.Reason.HOLDOUT):
                    reachable += 1
                else:
                    unreachable[reason] += 1
            now = timezone.now()
            Delivery.objects.bulk_create(
                [Delivery(campaign=campaign, client_id=client_id, occurrence=occurrence, email=email, state=state,
                          reason=reason, variant_id=variant, template_version=versions.get(variant, version),
                          not_before=not_before if state == Delivery.State.PENDING else None,
                          finished_at=now if state == Delivery.State.SUPPRESSED else None)
                 for client_id, email, state, reason, variant in chunk],
                ignore_conflicts=True,
            )
        if not automatic and not before and not reachable:
            # Launched by hand for nobody: refused, and the rows written above roll back with the
            # transaction, so the campaign stays as it was and can be launched once it has recipients.
            # (A schedule or a trigger firing for nobody simply records nothing to send.)
            raise CampaignError(campaign.empty_audience_refusal(segment_members(campaign), unreachable))
        rows = Delivery.objects.filter(campaign=campaign, occurrence=occurrence)
        created = rows.count() - before
        refresh_statistics(created)
        suppressed = rows.filter(state=Delivery.State.SUPPRESSED).count()
        if campaign.state == Campaign.State.PAUSED:
            pending = rows.pending().count()
            log.info("campaign %s is paused: occurrence %s recorded, %d deliveries wait for resume",
                     campaign.slug, occurrence, pending)
            return LaunchResult(created=created, pending=pending, suppressed=suppressed, batches=0)
        this = Campaign.objects.filter(pk=campaign.pk)
        this.start_sending()
        pending, batches = queue_pending(rows)
        this.finish()
    log.info("campaign %s occurrence %s launched: %d new deliveries, %d pending in %d batches", campaign.slug,
             occurrence, created, pending, batches)
    return LaunchResult(created=created, pending=pending, suppressed=suppressed, batches=batches)


def refresh_statistics(created):
    """ANALYZE the deliveries table when a launch has just grown it by a large share.

    Autovacuum would do it moments later (its threshold is 10% of the table changed), but the
    batches start now: with statistics from when the table was small, PostgreSQL plans the batch's
    and the claims' lookups as scans of the whole table (96,000 rows filtered per batch seen on a
    100,000-recipient launch). ANALYZE samples a bounded number of rows, so it stays quick on a
    large table, and it counts the rows this (uncommitted) launch wrote.
    """
    if created < 1000:
        return
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [Delivery._meta.db_table])
        row = cursor.fetchone()
        known = max(row[0], 0) if row else 0
        if created > 0.1 * known:
            cursor.execute(f"ANALYZE {db_connection.ops.quote_name(Delivery._meta.db_table)}")


def queue_pending(rows):
    """Queue the pending deliveries among `rows` in batches, each not before its `not_before`.

    Returns (pending, batches). Rows are grouped by `not_before` so a batch waiting for the end of
    quiet hours carries that moment as its ETA; a batch that comes too early is deferred again.
    """
    if not batch_ready.has_listeners():
        raise ImproperlyConfigured("Nothing queues email batches: mailing.receivers is not loaded "
                                   "(is 'mailing' in INSTALLED_APPS?).")
    pending = rows.pending().order_by("not_before", "pk")
    count = batches = 0
    groups = {}
    for pk, not_before in pending.values_list("pk", "not_before").iterator(chunk_size=5000):
        groups.setdefault(not_before, []).append(pk)
    now = timezone.now()
    for not_before, ids in groups.items():
        eta = not_before if not_before and not_before > now else None
        for chunk in batched(ids, batch_size()):
            batch_ready.send(sender=Delivery, delivery_ids=list(chunk), eta=eta)
            batches += 1
        count += len(ids)
    return count, batches


# --- A launch asked for in the admin, done by a task ---------------------------------------------
# The confirmation page marks the campaign as launching (in the cache, shared by web and workers
# when REDIS_URL is set) before queueing the task: a second confirmation (double click, another tab)
# finds the mark and queues nothing. The launch is safe to repeat anyway; the mark is so the person
# is told it is already on its way. It lasts until the task ends (or LAUNCH_MARK_SECONDS, if a worker dies).
LAUNCH_MARK_SECONDS = 600


def _mark_key(campaign_id):
    return f"mailing:launching:{campaign_id}"


def _error_key(campaign_id):
    return f"mailing:launch-error:{campaign_id}"


def launch_refusal(campaign, reach):
    """Why a launch by hand would be refused now ("" when it would not): the campaign's own refusal, or
    nothing to send (nobody would receive it and nothing of it is pending)."""
    refusal = campaign.refusal("launch")
    if refusal:
        return refusal
    if reach.will_receive or reach.holdout or Delivery.objects.filter(campaign=campaign).pending().exists():
        return ""
    if reach.already:  # this occurrence went out already: nobody new to email
        return gettext("Campaign %(slug)s has nothing to send: nobody in its audience would receive it now.") % {
            "slug": repr(campaign.slug)}
    # Where the audience ran out, as a launch by hand says it (`Campaign.empty_audience_refusal`).
    reasons = {Delivery.Reason.NO_CONSENT: reach.no_consent, **reach.suppressed,
               Delivery.Reason.FREQUENCY_CAP: reach.frequency_cap}
    return campaign.empty_audience_refusal(reach.members, {reason: n for reason, n in reasons.items() if n})


def mark_launching(campaign_id):
    """True if this call marked the campaign as launching; False if it was already."""
    cache.delete(_error_key(campaign_id))
    return cache.add(_mark_key(campaign_id), True, LAUNCH_MARK_SECONDS)


def is_launching(campaign_id):
    return bool(cache.get(_mark_key(campaign_id)))


def end_launching(campaign_id, error=""):
    """The task is over; `error`: the message of a launch that was refused or failed, for the campaign's page."""
    if error:
        cache.set(_error_key(campaign_id), error, LAUNCH_MARK_SECONDS)
    cache.delete(_mark_key(campaign_id))


def launch_requested(campaign_id):
    """The task's work: launch the campaign (by hand); a refusal is recorded for the page, not raised."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        end_launching(campaign_id)
        return None
    try:
        result = launch_campaign(campaign)
    except CampaignError as exc:
        end_launching(campaign_id, str(exc))
        return None
    except BaseException:
        end_launching(campaign_id, gettext("The launch stopped on an error; see the worker's log."))
        raise
    end_launching(campaign_id)
    return result


@dataclass
class Progress:
    state: str
    launching: bool
    error: str
    counts: dict  # {delivery state: count}

    @property
    def recorded(self):
        return sum(self.counts.values())

    @property
    def busy(self):
        """Still moving: the page refreshes itself."""
        return self.launching or (self.state == Campaign.State.SENDING and any(
            self.counts.get(state) for state in Delivery.BUSY_STATES))


def launch_progress(campaign):
    """Where a campaign's sending stands: its state, whether a launch is queued or running, counts by state."""
    counts = dict(Delivery.objects.filter(campaign=campaign).order_by().values("state")
                  .annotate(n=Count("pk")).values_list("state", "n"))
    return Progress(state=campaign.state, launching=is_launching(campaign.pk),
                    error=cache.get(_error_key(campaign.pk)) or "", counts=counts)
