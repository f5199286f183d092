"""ESP tracking webhooks: one event row each, first-time timestamps on the delivery, suppressions.

anymail receives the ESP's webhook at /anymail/<esp>/tracking/ (config/urls.py), refuses a post
without the basic-auth secret `ANYMAIL_WEBHOOK_SECRET` (and, where the ESP signs its webhooks,
without a good signature) with HTTP 400, normalises the ESP's payload and sends its `tracking`
signal; `record_event` below turns one normalised event into our rows:

- a `DeliveryEvent`, keyed by the ESP's event id, or by a digest of message id, event type, time
  and recipient when the ESP gives none. The key is unique, so an event the ESP posts twice (ESPs
  retry on any doubt) is inserted once and the repeat changes nothing;
- the delivery's first-time timestamp (`delivered_at`, `opened_at`, ...), found by the
  `delivery_id` that sending puts in anymail `metadata`, else by the ESP's message id;
- hard bounces and complaints put the address on the suppression list (every future campaign
  skips it); soft bounces (anymail `deferred`, and the soft kinds some ESPs report as `bounced`)
  do not; an unsubscribe through the ESP unsubscribes the client as our own unsubscribe page does.

Everything for one event is one transaction: if anything fails, the webhook answers 500, nothing
is kept, and the ESP's retry does it again.
"""

import contextlib
import hashlib
import json
import logging

from anymail.signals import EventType, tracking
from django.conf import settings
from django.core import checks
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.dispatch import Signal, receiver
from django.utils import timezone

from .models import Delivery, DeliveryEvent, Suppression, normalize_email
from .unsubscribe import unsubscribe

log = logging.getLogger(__name__)

# Sent once an open or a click is recorded and committed, with `client_ids` ([the delivery's client]):
# the journeys bring a wait for it forward from here (mailing imports none of them).
engaged = Signal()

Kind = DeliveryEvent.Kind

# anymail's normalised event types -> ours; every other type (queued, sent, deferred, rejected,
# failed, ...) is kept as `other` for the record and changes nothing.
KIND_BY_EVENT_TYPE = {
    EventType.DELIVERED: Kind.DELIVERED,
    EventType.OPENED: Kind.OPENED,
    EventType.CLICKED: Kind.CLICKED,
    EventType.BOUNCED: Kind.BOUNCED,
    EventType.COMPLAINED: Kind.COMPLAINED,
    EventType.UNSUBSCRIBED: Kind.UNSUBSCRIBED,
}

TIMESTAMP_FIELD = {
    Kind.DELIVERED: "delivered_at",
    Kind.OPENED: "opened_at",
    Kind.CLICKED: "clicked_at",
    Kind.BOUNCED: "bounced_at",
    Kind.COMPLAINED: "complained_at",
    Kind.UNSUBSCRIBED: "unsubscribed_at",
}

SUPPRESSION_REASON = {
    Kind.BOUNCED: Suppression.Reason.BOUNCE,
    Kind.COMPLAINED: Suppression.Reason.COMPLAINT,
}

# Soft bounces that an ESP's anymail adapter reports as `bounced` (most ESPs' soft bounces arrive
# as `deferred`): by anymail's esp_name, a test on the ESP's raw event. A mailbox that is full
# today may take mail tomorrow, so these must not suppress the address.
SOFT_BOUNCE = {
    "Postmark": lambda raw: raw.get("Type") == "SoftBounce",
    "SendGrid": lambda raw: raw.get("type") == "blocked",
}


@receiver(tracking, dispatch_uid="mailing.tracking")
def on_tracking_event(sender, event, esp_name, **kwargs):
    record_event(event, esp_name)


def kind_of(event, esp_name):
    kind = KIND_BY_EVENT_TYPE.get(event.event_type, Kind.OTHER)
    if kind == Kind.BOUNCED and is_soft_bounce(event, esp_name):
        return Kind.OTHER
    return kind


def is_soft_bounce(event, esp_name):
    test = SOFT_BOUNCE.get(esp_name)
    return bool(test and isinstance(event.esp_event, dict) and test(event.esp_event))


def event_key(event, esp_name):
    """The ESP's event id; without one, a digest of what makes the event this one."""
    if event.event_id:
        return f"{esp_name}:{event.event_id}"[:255]
    when = event.timestamp.isoformat() if event.timestamp else ""
    raw = "\x1f".join([esp_name, event.message_id or "", event.event_type or "", when, event.recipient or ""])
    return f"{esp_name}:sha256:{hashlib.sha256(raw.encode()).hexdigest()}"


def find_delivery(event):
    """The delivery this event is about: by the metadata sending put in the message, else by message id."""
    delivery_id = str((event.metadata or {}).get("delivery_id", "")).strip()
    if delivery_id.isdigit():
        delivery = Delivery.objects.select_related("campaign").filter(pk=int(delivery_id)).first()
        if delivery is not None and _same_message(delivery, event):
            return delivery
    if event.message_id:
        return Delivery.objects.select_related("campaign").filter(message_id=str(event.message_id)).first()
    return None


def _same_message(delivery, event):
    # Guards against a metadata id from another installation sharing the ESP account (staging and
    # production both get every webhook): the id must come with our message id or our address.
    # The message id may not be recorded yet: a fast ESP can report delivery before the sender has
    # marked the row sent.
    if delivery.message_id and event.message_id:
        return delivery.message_id == str(event.message_id)
    if delivery.email and event.recipient:
        return normalize_email(delivery.email) == normalize_email(event.recipient)
    return True


def _detail(event, esp_name):
    detail = {"esp": esp_name}
    for name in ("description", "mta_response", "reject_reason", "click_url", "user_agent"):
        if getattr(event, name, None):
            detail[name] = str(getattr(event, name))
    if event.tags:
        detail["tags"] = list(event.tags)
    if event.metadata:
        detail["metadata"] = dict(event.metadata)
    if event.event_type == EventType.BOUNCED and is_soft_bounce(event, esp_name):
        detail["soft_bounce"] = True
    with contextlib.suppress(TypeError, ValueError):  # the ESP's payload as received, when it is JSON
        detail["raw"] = json.loads(json.dumps(event.esp_event, cls=DjangoJSONEncoder))
    return detail


def record_event(event, esp_name):
    """Store one anymail tracking event and apply it. Returns (DeliveryEvent, created); a repeat does nothing."""
    kind = kind_of(event, esp_name)
    occurred_at = event.timestamp or timezone.now()
    with transaction.atomic():
        delivery = find_delivery(event)
        # Insert-or-nothing on the unique key (no read-then-write): of two identical posts arriving
        # together, one inserts and the other finds the row and stops here.
        row, created = DeliveryEvent.objects.get_or_create(
            event_key=event_key(event, esp_name),
            defaults={
                "delivery": delivery, "kind": kind, "esp_event": (event.event_type or "")[:32],
                "message_id": str(event.message_id or "")[:255], "recipient": (event.recipient or "")[:254],
                "occurred_at": occurred_at, "detail": _detail(event, esp_name),
            },
        )
        if not created:
            return row, False
        if delivery is None and kind != Kind.OTHER:
            log.info("%s %s event for an unknown message %r", esp_name, kind, event.message_id)
        if delivery is not None and delivery.state == Delivery.State.UNKNOWN:
            reconcile(delivery, event, occurred_at)
        if delivery is not None and kind in TIMESTAMP_FIELD:
            _stamp_first(delivery, TIMESTAMP_FIELD[kind], occurred_at)
        if delivery is not None and kind in ENGAGEMENT:
            transaction.on_commit(lambda: _announce_engaged(delivery.client_id))
        address = normalize_email(event.recipient or (delivery.email if delivery else ""))
        if kind in SUPPRESSION_REASON and address:
            source = delivery.campaign.slug if delivery else event.message_id
            Suppression.objects.get_or_create(email=address, defaults={
                "reason": SUPPRESSION_REASON[kind], "note": f"{esp_name} {kind} webhook ({source})"[:255]})
        if kind == Kind.UNSUBSCRIBED:
            if delivery is not None:
                unsubscribe(delivery)  # the same as our own unsubscribe page
            elif address:
                Suppression.objects.get_or_create(email=address, defaults={
                    "reason": Suppression.Reason.UNSUBSCRIBE, "note": f"{esp_name} unsubscribe webhook"})
    return row, True


# The ESP refused the message: it was never sent. Every other event about a message (queued, sent,
# deferred, delivered, bounced, opened, ...) shows that the ESP took it.
NOT_TAKEN = {EventType.REJECTED, EventType.FAILED}


def reconcile(delivery, event, occurred_at):
    """A delivery whose outcome is unknown (its worker stopped mid-send) learns it from the ESP's event:
    sent (with the ESP's message id; sent when its worker claimed it, a moment before the send), or
    failed when the ESP refused it."""
    rows = Delivery.objects.filter(pk=delivery.pk, state=Delivery.State.UNKNOWN)
    if event.event_type in NOT_TAKEN:
        rows.update(state=Delivery.State.FAILED, reason=Delivery.Reason.REJECTED,
                    error=f"outcome from the ESP's {event.event_type} event"[:2000])
        return
    rows.update(state=Delivery.State.SENT, reason="", message_id=str(event.message_id or "")[:255],
                sent_at=delivery.claimed_at or occurred_at)


ENGAGEMENT = {Kind.OPENED, Kind.CLICKED}


def _announce_engaged(client_id):
    for receiver_, result in engaged.send_robust(Delivery, client_ids=[client_id]):
        if isinstance(result, Exception):  # the event is recorded; a wait for it ends at its timeout anyway
            log.error("after an open or click: %s failed", receiver_, exc_info=result)


def _stamp_first(delivery, field, when):
    """Keep the earliest time: ESPs post events out of order, and a first open may arrive after a later one."""
    Delivery.objects.filter(Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gt": when}), pk=delivery.pk).update(
        **{field: when})


@checks.register(checks.Tags.security, deploy=True)
def check_webhook_secret(app_configs=None, **kwargs):
    """`manage.py check --deploy`: tracking webhooks without a secret accept posts from anyone."""
    if getattr(settings, "ANYMAIL", {}).get("WEBHOOK_SECRET"):
        return []
    return [checks.Warning(
        "ANYMAIL_WEBHOOK_SECRET is not set: the ESP tracking webhooks under /anymail/ refuse every post, so "
        "deliveries, opens, clicks, bounces and complaints are not recorded.",
        hint="Set ANYMAIL_WEBHOOK_SECRET=user:password and give the ESP https://user:password@HOST/anymail/ESP/tracking/.",
        id="mailing.W010")]
