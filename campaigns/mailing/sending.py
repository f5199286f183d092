"""Launch a campaign and send its deliveries: at most once each, and each ends in a final state.

The life of a delivery row:

    pending --claim--> sending --ESP accepted--> sent
       |                  |---permanent error--> failed (rejected, render_error)
       |                  |---transient error--> pending again, the task retries with backoff
       |                  |                      (failed "gave_up" on the task's last attempt)
       |                  `---worker died------> failed "interrupted" (never resent: see below)
       `--consent lost before the claim--------> suppressed (reason)

At-most-once. A row is claimed with a conditional UPDATE (pending -> sending) before the message is
handed to the ESP and marked sent after; only a row in `pending` can ever be claimed, so no two
tasks, no redelivered task and no second launch can send it twice. A row left in `sending` means a
worker stopped between the claim and the mark: the message may or may not have gone out, so it is
never resent; it is closed as `failed` with reason `interrupted`:
- at once by the same task when Celery redelivers it (acks_late: a killed worker's task comes back
  with the same task id, which is the row's `claim_token`);
- otherwise by `repair_stuck_deliveries`, every few minutes, for rows claimed longer ago than
  CRM_CAMPAIGN_STUCK_MINUTES (default 15), which is longer than a batch task may run
  (`tasks.BATCH_TIME_LIMIT`), so such a row cannot belong to a live task.
Transient errors (ESP 5xx/429, connection lost, timeouts) put the row back to `pending` and retry:
a 5xx/429 answer means the ESP did not take the message; a timeout could in rare cases hide an
accepted message, which is the one case where a retry may duplicate.
"""

import logging
import smtplib
import socket
from dataclasses import dataclass
from datetime import timedelta
from itertools import islice

import requests
from anymail.exceptions import AnymailAPIError
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.models import Client

from .audience import resolve_audience, suppression_reason, with_suppression
from .models import Campaign, Delivery
from .templating import build_contexts, render_message
from .unsubscribe import unsubscribe_url

log = logging.getLogger(__name__)


class CampaignError(Exception):
    """A campaign that cannot be launched as asked; the message is for the user."""


class TransientSendError(Exception):
    """The ESP or the network failed in a way worth another try; the delivery is pending again."""


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
    return settings.CRM_CAMPAIGN_BATCH_SIZE


def stuck_after():
    return timedelta(minutes=settings.CRM_CAMPAIGN_STUCK_MINUTES)


def launch_campaign(campaign, occurrence="once"):
    """Resolve the audience, write one delivery per recipient, queue the sending. Safe to repeat.

    A second launch (double click, retried command) finds every row already there: the unique
    (campaign, client, occurrence) constraint makes it create nothing, and since only pending rows
    can be claimed, queueing them again sends nothing twice.
    """
    from .tasks import send_delivery_batch

    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.state not in Campaign.LAUNCHABLE:
            raise CampaignError(
                f"Campaign {campaign.slug!r} is {campaign.get_state_display()}; only a draft or scheduled campaign "
                f"can be launched (or a sending one, to queue what is still pending).")
        if not campaign.segments.exists():
            raise CampaignError(f"Campaign {campaign.slug!r} has no audience segment.")
        version = campaign.template.current_version()
        before = Delivery.objects.filter(campaign=campaign, occurrence=occurrence).count()
        for chunk in batched(resolve_audience(campaign), 2000):
            Delivery.objects.bulk_create(
                [Delivery(campaign=campaign, client_id=client_id, occurrence=occurrence, email=email, state=state,
                          reason=reason, template_version=version,
                          finished_at=timezone.now() if state == Delivery.State.SUPPRESSED else None)
                 for client_id, email, state, reason in chunk],
                ignore_conflicts=True,
            )
        rows = Delivery.objects.filter(campaign=campaign, occurrence=occurrence)
        created = rows.count() - before
        Campaign.objects.filter(pk=campaign.pk).update(
            state=Campaign.State.SENDING, launched_at=Coalesce(F("launched_at"), timezone.now()), finished_at=None)
        pending = list(rows.filter(state=Delivery.State.PENDING).order_by("pk").values_list("pk", flat=True))
        batches = list(batched(pending, batch_size()))
        for ids in batches:
            send_delivery_batch.delay_on_commit(list(ids))
        finish_campaign(campaign.pk)
        suppressed = rows.filter(state=Delivery.State.SUPPRESSED).count()
    log.info("campaign %s launched: %d new deliveries, %d pending in %d batches", campaign.slug, created,
             len(pending), len(batches))
    return LaunchResult(created=created, pending=len(pending), suppressed=suppressed, batches=len(batches))


def finish_campaign(campaign_id):
    """Move a sending campaign to done once none of its deliveries is pending or sending."""
    busy = Delivery.objects.filter(campaign=OuterRef("pk"), state__in=[Delivery.State.PENDING, Delivery.State.SENDING])
    return Campaign.objects.filter(pk=campaign_id, state=Campaign.State.SENDING).exclude(Exists(busy)).update(
        state=Campaign.State.DONE, finished_at=timezone.now()) == 1


def is_transient(exc):
    if isinstance(exc, AnymailAPIError):
        if exc.status_code is not None:
            return exc.status_code >= 500 or exc.status_code == 429
        # No HTTP answer at all: the request did not get through (anymail wraps the requests error).
        return isinstance(exc.__cause__, requests.ConnectionError | requests.Timeout)
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    return isinstance(exc, ConnectionError | smtplib.SMTPServerDisconnected | TimeoutError | socket.timeout)


def describe(exc):
    try:
        text = str(exc)
    except Exception:  # anymail errors describe the HTTP response, which a test double may lack
        text = repr(exc.args)
    return f"{type(exc).__name__}: {text}"[:2000]


def send_batch(delivery_ids, claim_token, final_attempt=False):
    """Send the pending deliveries among `delivery_ids`; returns counts by outcome.

    claim_token: the same value on every run of the same task (its Celery id), so rows this task
    claimed in a run that died are recognised and closed as interrupted rather than resent.
    final_attempt: transient errors then fail the delivery instead of asking for a retry.
    """
    counts = {"sent": 0, "failed": 0, "suppressed": 0, "skipped": 0}
    counts["interrupted"] = Delivery.objects.filter(
        pk__in=delivery_ids, state=Delivery.State.SENDING, claim_token=claim_token,
    ).update(state=Delivery.State.FAILED, reason=Delivery.Reason.INTERRUPTED, finished_at=timezone.now())
    # Only a campaign that is sending sends: rows of any other campaign stay pending.
    deliveries = list(
        Delivery.objects.filter(pk__in=delivery_ids, state=Delivery.State.PENDING,
                                campaign__state=Campaign.State.SENDING)
        .select_related("campaign", "template_version", "template_version__template").order_by("pk")
    )
    # Personalisation is read once per batch; consent is read again per message (see _send_one).
    contexts = build_contexts(list(Client.objects.filter(pk__in=[d.client_id for d in deliveries])))
    campaign_ids = {d.campaign_id for d in deliveries}
    try:
        with get_connection() as connection:
            for delivery in deliveries:
                outcome = _send_one(delivery, contexts[delivery.client_id], connection,
                                    claim_token, final_attempt)
                counts[outcome] += 1
    finally:
        for campaign_id in campaign_ids:
            finish_campaign(campaign_id)
    return counts


def _send_one(delivery, context, connection, claim_token, final_attempt):
    pending = Delivery.objects.filter(pk=delivery.pk, state=Delivery.State.PENDING)
    # Consent is read again right before this send (a batch may run for minutes): an unsubscribe
    # or a suppressed address takes effect even in the middle of a batch.
    client = with_suppression(Client.objects.filter(pk=delivery.client_id)).get()
    reason = suppression_reason(client)
    if reason:
        done = pending.update(state=Delivery.State.SUPPRESSED, reason=reason, finished_at=timezone.now())
        return "suppressed" if done else "skipped"
    email = client.email.strip()
    if not pending.update(state=Delivery.State.SENDING, claim_token=claim_token, claimed_at=timezone.now(),
                          email=email, attempts=F("attempts") + 1):
        return "skipped"  # another task has it, or it is already final
    delivery.email = email
    mine = Delivery.objects.filter(pk=delivery.pk, claim_token=claim_token)
    try:
        message = build_message(delivery, context, connection)
    except Exception as exc:
        log.exception("delivery %s: rendering failed", delivery.pk)
        _fail(mine, Delivery.Reason.RENDER_ERROR, exc)
        return "failed"
    try:
        accepted = message.send()
    except SoftTimeLimitExceeded:
        raise  # the message may be out: the row stays `sending` and is closed as interrupted, not resent
    except Exception as exc:
        if not is_transient(exc):
            _fail(mine, Delivery.Reason.REJECTED, exc)
            return "failed"
        if final_attempt:
            _fail(mine, Delivery.Reason.GAVE_UP, exc)
            return "failed"
        mine.filter(state=Delivery.State.SENDING).update(
            state=Delivery.State.PENDING, claim_token="", claimed_at=None, error=describe(exc))
        raise TransientSendError(f"delivery {delivery.pk}: {describe(exc)}") from exc
    if not accepted:
        _fail(mine, Delivery.Reason.REJECTED, RuntimeError("the email backend sent nothing"))
        return "failed"
    message_id = getattr(getattr(message, "anymail_status", None), "message_id", None)
    now = timezone.now()
    # Not conditional on the state: if a repair closed the row as interrupted meanwhile, "sent" is the truth.
    mine.update(state=Delivery.State.SENT, reason="", error="", subject=message.subject[:998],
                message_id="" if message_id is None else str(message_id)[:255], sent_at=now, finished_at=now)
    return "sent"


def _fail(rows, reason, exc):
    rows.update(state=Delivery.State.FAILED, reason=reason, error=describe(exc), finished_at=timezone.now())


def build_message(delivery, context, connection=None):
    campaign = delivery.campaign
    url = unsubscribe_url(delivery.pk, delivery.email)
    context = {**context, "campaign": {"name": campaign.name, "slug": campaign.slug}, "unsubscribe_url": url}
    subject, html_body, text_body = render_message(delivery.template_version, context)
    message = EmailMultiAlternatives(
        subject=subject, body=text_body, from_email=campaign.sender, to=[delivery.email], connection=connection,
        headers={
            # RFC 8058 one-click unsubscribe: mail clients POST "List-Unsubscribe=One-Click" to the URL.
            "List-Unsubscribe": f"<{url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-CRM-Delivery": str(delivery.pk),
        },
    )
    message.attach_alternative(html_body, "text/html")
    # Read by anymail backends (other backends ignore them): ESP webhooks map events back by these.
    message.metadata = {"delivery_id": str(delivery.pk), "campaign": campaign.slug}
    message.tags = [campaign.slug]
    return message


def repair_stuck_deliveries(now=None, older_than=None):
    """Close deliveries left in `sending` by a worker that died, and finish campaigns with nothing left.

    Such a row may have been sent, so it is failed as `interrupted`, never resent (at most once).
    A row counts as stuck when claimed before `now - older_than` (CRM_CAMPAIGN_STUCK_MINUTES).
    """
    now = now or timezone.now()
    cutoff = now - (stuck_after() if older_than is None else older_than)
    stuck = Delivery.objects.filter(state=Delivery.State.SENDING, claimed_at__lt=cutoff)
    closed = stuck.update(state=Delivery.State.FAILED, reason=Delivery.Reason.INTERRUPTED, finished_at=timezone.now())
    if closed:
        log.warning("%d deliveries were interrupted mid-send and closed as failed (not resent)", closed)
    finished = sum(finish_campaign(pk) for pk in Campaign.objects.filter(state=Campaign.State.SENDING)
                   .values_list("pk", flat=True))
    return {"interrupted": closed, "campaigns_done": finished}
