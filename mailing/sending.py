"""Claim a batch of deliveries and send it, recording each outcome: at most once each, and each ends
in a final state. (Writing the rows and queueing the batches: `launch`; rows a dead worker left: `repair`.)

The life of a delivery row:

    pending --claim--> sending --ESP accepted--> sent
       |                  |---permanent error--> failed (rejected, render_error)
       |                  |---transient error--> pending again, the task retries with backoff
       |                  |                      (failed "gave_up" on the task's last attempt)
       |                  |---not handed over--> pending again (rest of a chunk after an error), or
       |                  |                      suppressed "cancelled" if the campaign was cancelled
       |                  `---worker died------> unknown "interrupted" (never resent: see below)
       `--consent lost, frequency cap at the claim--> suppressed (reason)

Chunks. A batch task (CRM_CAMPAIGN_BATCH_SIZE ids) works in chunks of CLAIM_CHUNK (25) deliveries.
Per chunk, one short transaction: the chunk's client rows are locked in id order and read fresh
(consent, unsubscribed, erased, address on the suppression list); the frequency cap is counted in
the next statement (sent rows in the window plus rows in `sending` anywhere), so it sees what
another campaign committed while this one waited for the lock; then ONE conditional UPDATE moves
the eligible rows pending -> sending (claim token, claimed_at) only while the row is still pending
and its campaign still sending, RETURNING the ids it took; the rows failing a check are
suppressed with their reason; COMMIT. The chunk's messages are then rendered and handed to the ESP
over one connection, and their outcomes (sent with the ESP's message id, or failed) written in ONE
`UPDATE ... FROM (VALUES ...)` per chunk, at the start of the next chunk's claim transaction (on
its own after a batch's last chunk, or at once when an error stops the chunk). That is 1 commit per
25 messages instead of 2 per message (the old per-message path: lock, cap count, claim, commit,
mark sent, commit), which was most of the cost of sending; each commit waits for the disk.
Consent, suppression and the campaign's state are checked at the claim, per chunk, and not read
again per message: a pause, a cancel or an unsubscribe takes effect at the next chunk's claim, so
at most the rest of a chunk already claimed (24 messages, a fraction of a second of sending) still
goes out after it. A re-read right before each message cost one query per message, about a
quarter of the campaign's time.

Why 25: the per-chunk cost (a handful of round trips and one durable commit) is then small next to
the chunk's rendering; larger chunks gain little more and widen what a killed worker
leaves behind (below). Not `synchronous_commit = off`: a PostgreSQL crash could then lose a
committed claim, the row would be `pending` again after the restart and its message sent twice.

At-most-once. Only a row in `pending` can be claimed, by a conditional UPDATE committed before the
message is handed to the ESP, so no two tasks, no redelivered task and no second launch can send
it twice. A row left in `sending` means a worker stopped between the claim and the record: the
message may or may not have gone out, so it is never resent; it is closed as `unknown` with reason
`interrupted` (the ESP's webhooks, when they name the message, turn it into sent or failed:
`tracking`):
- at once by the same task when Celery redelivers it (acks_late: a killed worker's task comes back
  with the same task id, which is the row's `claim_token`);
- otherwise by `repair`, within seconds of the worker's death, through the batch's lease.

The lease. A batch task holds its pending rows from its start (`claim_token` = its task id,
`lease_until` = now + CRM_CAMPAIGN_LEASE_SECONDS) and renews the hold while it works: each claim
renews it, and so does a heartbeat before each message once a sixth of the lease has passed (a
slow ESP). A single send is bounded by the email timeouts (EMAIL_TIMEOUT, anymail's
REQUESTS_TIMEOUT), well inside the lease, so a live task's hold never runs out. When it does run
out the worker is dead: `repair` closes the rows in `sending` as unknown and queues the pending rest
again, without waiting for the broker to hand the dead task back (its visibility timeout is a day).
If a live task were ever taken for dead, nothing is sent twice either: the claim stays conditional
on `pending`, and the task's late record of what it sent overwrites "unknown" with the truth.
With chunks, a killed worker leaves at most one chunk in `sending` (up to CLAIM_CHUNK rows, some of
which it may not have sent yet, and whose earlier messages' outcomes were not written yet): all of
them end `unknown`, none is resent. An error the task survives (a transient ESP error, the soft
time limit during a send) records what went out and gives the never-handed-over rows back to
`pending` first, so only the message in hand can stay `sending`.
Transient errors (ESP 5xx/429, connection lost, timeouts) put the row back to `pending` and retry:
a 5xx/429 answer means the ESP did not take the message; a timeout could in rare cases hide an
accepted message, which is the one case where a retry may duplicate.
"""

import copy
import logging
import smtplib
import socket
import time
from datetime import timedelta

import requests
from anymail.exceptions import AnymailAPIError
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from core import logs
from crm.models import Client

from .models import Campaign, Delivery
from .recipients import suppression_reason, with_suppression
from .templating import build_contexts, render_message
from .timing import send_not_before
from .unsubscribe import unsubscribe_url

log = logging.getLogger(__name__)


class TransientSendError(Exception):
    """The ESP or the network failed in a way worth another try; the delivery is pending again."""


# Deliveries claimed (and their consent and frequency cap checked) per transaction; see the docstring.
CLAIM_CHUNK = 25
CONSENT_FIELDS = ("pk", "email", "email_consent", "unsubscribed_at", "erased_at")


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


def send_batch(delivery_ids, claim_token, final_attempt=False, now=None):
    """Send the pending deliveries among `delivery_ids`, chunk by chunk; returns counts by outcome.

    claim_token: the same value on every run of the same task (its Celery id), so rows this task
    claimed in a run that died are recognised and closed as interrupted rather than resent.
    final_attempt: transient errors then fail the delivery instead of asking for a retry.
    In quiet hours (or when the batch runs before its rows' `not_before`) nothing is sent: the rows
    stay pending with `not_before` set and the counts carry `defer_until` for the task to re-queue.
    """
    slugs = Delivery.objects.filter(pk__in=delivery_ids).order_by().values_list("campaign__slug", flat=True)
    logs.bind(campaign=",".join(sorted(set(slugs))))  # the campaign on the batch's log lines
    now = now or timezone.now()
    counts = {"sent": 0, "failed": 0, "suppressed": 0, "skipped": 0}
    batch = Delivery.objects.filter(pk__in=delivery_ids)
    # Rows this very task claimed in a run that died (redelivered with the same id): never resent.
    counts["interrupted"] = batch.claimed_by(claim_token).interrupt()
    # Only a campaign that is sending sends: rows of any other campaign (paused, cancelled) stay pending.
    ready = Delivery.objects.filter(pk__in=delivery_ids).claimable()
    quiet_until = send_not_before(now)
    if quiet_until is not None:
        ready.update(not_before=quiet_until)
    later = ready.filter(not_before__gt=now).order_by("-not_before").values_list("not_before", flat=True).first()
    if later is not None:
        # Delayed, not dropped: the whole batch waits for the latest moment any of its rows may go out.
        counts["deferred"] = ready.count()
        counts["defer_until"] = later.isoformat()
        return counts
    batch.pending().lease(claim_token, lease_seconds())  # ours from now on: see "The lease"
    heartbeat = Heartbeat(batch.leased_by(claim_token))
    # Prefetched, not joined: the batch's few campaigns and template versions (with their whole HTML)
    # are read and built once, not once per row.
    deliveries = list(ready.prefetch_related("campaign", "variant", "template_version").order_by("pk"))
    # Personalisation is read once per batch; consent, suppression and the campaign's state at each chunk's claim.
    contexts = build_contexts(list(Client.objects.filter(pk__in=[d.client_id for d in deliveries])))
    campaign_ids = {d.campaign_id for d in deliveries}
    unrecorded = []  # outcomes of the chunk just sent: written by the next chunk's claim, in its transaction
    try:
        with get_connection() as connection:
            for chunk in claim_chunks(deliveries):
                if not _send_chunk(chunk, contexts, connection, claim_token, final_attempt, counts, unrecorded,
                                   heartbeat):
                    break  # the campaign stopped sending (paused, cancelled): the rest stays pending
    finally:
        if unrecorded:
            record(unrecorded, claim_token)
        # What this task leaves pending (a paused campaign, a retry to come) is no longer held by it; a
        # retry holds its rows again for its wait (`hold_for_retry`).
        batch.leased_by(claim_token).release()
        Campaign.objects.filter(pk__in=campaign_ids).finish()
    return counts


def lease_seconds():
    return settings.CRM_CAMPAIGN_LEASE_SECONDS


def hold_for_retry(delivery_ids, claim_token, wait_seconds):
    """A batch that retries in `wait_seconds` keeps its pending rows until then (and a lease after), so
    repair does not queue them again meanwhile."""
    Delivery.objects.filter(pk__in=delivery_ids).pending().lease(claim_token, wait_seconds + lease_seconds())


class Heartbeat:
    """Renews a batch's lease while its task works, at most every sixth of the lease (one UPDATE by
    primary key): called before each message, it matters only when a slow ESP stretches a chunk."""

    def __init__(self, rows):
        self.rows, self.every, self.last = rows, lease_seconds() / 6, time.monotonic()

    def __call__(self, force=False):
        if force or time.monotonic() - self.last >= self.every:
            self.rows.update(lease_until=timezone.now() + timedelta(seconds=lease_seconds()))
            self.last = time.monotonic()


def claim_chunks(deliveries, size=None):
    """Split deliveries (in order) into chunks of at most `size` with no client twice in a chunk.

    A client appears twice only when a batch mixes occurrences of a recurring campaign; the
    frequency cap is counted per chunk, so the second row waits for a later chunk.
    """
    size = size or CLAIM_CHUNK
    rest = list(deliveries)
    while rest:
        chunk, later, clients = [], [], set()
        for delivery in rest:
            if len(chunk) < size and delivery.client_id not in clients:
                chunk.append(delivery)
                clients.add(delivery.client_id)
            else:
                later.append(delivery)
        yield chunk
        rest = later


def frequency_counts(client_ids, now=None):
    """{client id: marketing emails counted against the cap} for clients with at least one.

    Counted at send time, across every campaign: sent rows in the CRM_EMAIL_CAP_DAYS window plus
    rows being sent right now by another task (their claim is committed before they go out).
    """
    since = (now or timezone.now()) - timedelta(days=settings.CRM_EMAIL_CAP_DAYS)
    counted = Q(state=Delivery.State.SENT, sent_at__gte=since) | Q(state=Delivery.State.SENDING)
    # The states are tested in the count, not in WHERE: with only the clients there, PostgreSQL reads
    # their rows by the client index whatever its statistics say. With the states in WHERE and the
    # statistics of the launch (every row pending, "sent" looking rare) it took the state index and
    # read every row the campaign had sent so far, per chunk: a cost growing with the campaign.
    rows = (Delivery.objects.filter(client_id__in=client_ids).values("client_id")
            .annotate(n=Count("pk", filter=counted)).values_list("client_id", "n"))
    return {client_id: n for client_id, n in rows if n}


def claim_chunk(chunk, claim_token, unrecorded=None):
    """Claim a chunk in one short transaction: ({delivery id: reason} ("" = claimed for sending),
    {claimed delivery id: address to send to}).

    Rows failing the consent, suppression or frequency-cap check are suppressed with their reason;
    rows that are no longer pending or whose campaign is not sending are left out (skipped).
    unrecorded: outcomes of the chunk sent before, recorded in the same transaction (one commit for
    both) and then emptied; left as they are if the transaction fails, for the caller to record.
    """
    cap = settings.CRM_EMAIL_CAP_COUNT
    ids = [d.pk for d in chunk]
    with transaction.atomic():
        if unrecorded:
            record(unrecorded, claim_token)
        # The chunk's client rows are locked in id order (no deadlock between two chunks)
        # and read fresh; the cap is then counted in a new statement, so it sees the claims another
        # campaign committed while this one waited for the lock: two campaigns cannot both slip under it.
        clients = {c.pk: c for c in with_suppression(Client.objects.select_for_update(of=("self",)).filter(
            pk__in=[d.client_id for d in chunk])).order_by("pk").only(*CONSENT_FIELDS)}
        sent_recently = frequency_counts(list(clients)) if cap else {}
        reasons = {}
        for delivery in chunk:
            client = clients.get(delivery.client_id)
            reason = suppression_reason(client) if client else Delivery.Reason.ERASED
            if not reason and cap and sent_recently.get(delivery.client_id, 0) >= cap:
                reason = Delivery.Reason.FREQUENCY_CAP
            reasons[delivery.pk] = reason
        eligible = [pk for pk in ids if not reasons[pk]]
        claimed = _claim(eligible, claim_token) if eligible else set()
        # Suppressions too are conditional on `pending` and on the campaign still sending (claimable).
        by_reason = {}
        for pk in ids:
            if reasons[pk]:
                by_reason.setdefault(reasons[pk], []).append(pk)
        suppressed = set()
        for reason, pks in by_reason.items():
            mine = Delivery.objects.filter(pk__in=pks).claimable()
            suppressed.update(mine.values_list("pk", flat=True))
            mine.suppress(reason)
    if unrecorded:
        unrecorded.clear()  # committed
    return (dict.fromkeys(claimed, "") | {pk: reasons[pk] for pk in suppressed},
            {d.pk: clients[d.client_id].email.strip() for d in chunk if d.pk in claimed})


def _claim(ids, claim_token):
    """pending -> sending for `ids` whose campaign is still sending; the ids really claimed.

    `DeliveryQuerySet.claimable` in one statement with RETURNING (and the client's current address,
    trimmed): conditional on `pending` (another task, a cancel may have had a row) and on the
    campaign (EXISTS, re-checked by PostgreSQL on a row another transaction just changed).
    """
    table, clients, campaigns = (db_connection.ops.quote_name(model._meta.db_table)
                                 for model in (Delivery, Client, Campaign))
    now = timezone.now()
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET state = %s, claim_token = %s, claimed_at = %s, lease_until = %s, "  # noqa: S608
            f"attempts = attempts + 1, "
            f"email = TRIM(COALESCE((SELECT c.email FROM {clients} c WHERE c.id = {table}.client_id), '')) "
            f"WHERE id IN ({', '.join(['%s'] * len(ids))}) AND state = %s AND EXISTS "
            f"(SELECT 1 FROM {campaigns} k WHERE k.id = {table}.campaign_id AND k.state = %s) RETURNING id",
            [Delivery.State.SENDING, claim_token, now, now + timedelta(seconds=lease_seconds()), *ids,
             Delivery.State.PENDING, Campaign.State.SENDING])
        return {row[0] for row in cursor.fetchall()}


def _send_chunk(chunk, contexts, connection, claim_token, final_attempt, counts, unrecorded, heartbeat):
    """Claim and send one chunk; False when the campaign stopped sending (the caller stops).

    unrecorded: the outcomes not written yet. The previous chunk's are written by this chunk's claim;
    this chunk's are added for the next claim (or the caller) to write, unless an error stops the
    chunk: then they are written at once, before the error ends the task.
    """
    outcome, emails = claim_chunk(chunk, claim_token, unrecorded)
    counts["suppressed"] += sum(1 for reason in outcome.values() if reason)
    counts["skipped"] += len(chunk) - len(outcome)
    claimed = [d for d in chunk if outcome.get(d.pk) == ""]
    unsent = [d.pk for d in claimed]  # claimed but not handed to the ESP: safe to give back
    if not outcome and not Campaign.objects.filter(pk__in={d.campaign_id for d in chunk}).sending().exists():
        return False  # nothing claimed because the campaign was paused or cancelled: the rest stays as it is
    try:
        for delivery in claimed:
            unsent.remove(delivery.pk)
            delivery.email = emails[delivery.pk]  # as recorded by the claim
            try:
                message = build_message(delivery, contexts[delivery.client_id], connection)
            except Exception as exc:
                log.exception("delivery %s: rendering failed", delivery.pk)
                unrecorded.append(_closed(delivery, Delivery.State.FAILED, Delivery.Reason.RENDER_ERROR, exc))
                counts["failed"] += 1
                continue
            heartbeat()
            try:
                accepted = message.send()
            except SoftTimeLimitExceeded:
                raise  # the message may be out: the row stays `sending` and is closed as interrupted, not resent
            except Exception as exc:
                if not is_transient(exc):
                    unrecorded.append(_closed(delivery, Delivery.State.FAILED, Delivery.Reason.REJECTED, exc))
                    counts["failed"] += 1
                    continue
                if final_attempt:
                    unrecorded.append(_closed(delivery, Delivery.State.FAILED, Delivery.Reason.GAVE_UP, exc))
                    counts["failed"] += 1
                    continue
                # The ESP did not take it: pending again (keeping the attempt), like the rest of the chunk.
                Delivery.objects.filter(pk=delivery.pk).claimed_by(claim_token).update(
                    state=Delivery.State.PENDING, claim_token="", claimed_at=None, error=describe(exc))
                raise TransientSendError(f"delivery {delivery.pk}: {describe(exc)}") from exc
            if not accepted:
                unrecorded.append(_closed(delivery, Delivery.State.FAILED, Delivery.Reason.REJECTED,
                                    RuntimeError("the email backend sent nothing")))
                counts["failed"] += 1
                continue
            message_id = getattr(getattr(message, "anymail_status", None), "message_id", None)
            sent = _closed(delivery, Delivery.State.SENT, "")
            sent.subject = message.subject[:998]
            sent.message_id = "" if message_id is None else str(message_id)[:255]
            unrecorded.append(sent)
            counts["sent"] += 1
    except BaseException:
        # Recorded at once when the chunk stops on an error: what went out is marked sent, what was
        # never handed over goes back to pending; only the message in hand (if any) stays `sending`.
        if unrecorded:
            record(unrecorded, claim_token)
            unrecorded.clear()
        raise
    finally:
        if unsent:
            counts["skipped"] += len(unsent)
            give_back(unsent, claim_token)
    return True


def give_back(ids, claim_token):
    """Return rows this task claimed but never handed to the ESP: pending again (the claim's attempt
    undone), or, when their campaign was cancelled meanwhile, closed as cancelled like its other rows."""
    with transaction.atomic():
        rows = Delivery.objects.filter(pk__in=ids).claimed_by(claim_token)
        campaign_ids = sorted(set(rows.values_list("campaign_id", flat=True)))
        # Locked like `lifecycle.cancel` locks it, so a cancel cannot miss rows given back at the same moment.
        cancelled = set(Campaign.objects.select_for_update().filter(pk__in=campaign_ids, state=Campaign.State.CANCELLED)
                        .order_by("pk").values_list("pk", flat=True))
        if cancelled:
            rows.filter(campaign_id__in=cancelled).suppress(Delivery.Reason.CANCELLED)
        rows.exclude(campaign_id__in=cancelled).give_back()


def record(done, claim_token):
    """Write the outcome of a chunk's messages in ONE statement: UPDATE ... FROM (VALUES ...).

    Not conditional on the state: if a repair closed a row as interrupted meanwhile, "sent" is the
    truth. Conditional on the claim token, so a row is only ever recorded by the task that claimed it.
    `sent_at`/`finished_at` are the moment of recording (milliseconds after the send). Plain SQL:
    the ORM's bulk_update builds one CASE per column and row, which cost more CPU than rendering
    the messages.
    """
    table = db_connection.ops.quote_name(Delivery._meta.db_table)
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(done))
    params = []
    for d in done:
        params += [d.pk, d.state, d.reason, d.error, d.subject, d.message_id, d.email]
    now = timezone.now()
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET state = v.column2, reason = v.column3, error = v.column4, "  # noqa: S608 - no input
            f"subject = CASE WHEN v.column2 = %s THEN v.column5 ELSE {table}.subject END, "
            f"message_id = CASE WHEN v.column2 = %s THEN v.column6 ELSE {table}.message_id END, "
            f"email = v.column7, sent_at = CASE WHEN v.column2 = %s THEN %s ELSE {table}.sent_at END, "
            f"finished_at = %s FROM (VALUES {values}) AS v "
            f"WHERE {table}.id = v.column1 AND {table}.claim_token = %s",
            [Delivery.State.SENT, Delivery.State.SENT, Delivery.State.SENT, now, now, *params, claim_token])


def _closed(delivery, state, reason, exc=None):
    delivery.state, delivery.reason = state, reason
    delivery.error = "" if exc is None else describe(exc)
    return delivery


def build_message(delivery, context, connection=None):
    campaign = delivery.campaign
    url = unsubscribe_url(delivery.pk, delivery.email)
    context = {**context, "campaign": {"name": campaign.name, "slug": campaign.slug}, "unsubscribe_url": url}
    version = delivery.template_version
    if delivery.variant_id and delivery.variant.subject:
        # An A/B variant's subject replaces the template's; the row records the subject as rendered.
        version = copy.copy(version)
        version.subject = delivery.variant.subject
    subject, html_body, text_body = render_message(version, context)
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

