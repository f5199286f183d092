"""A client's personal data: erase it (right to be forgotten) or export all of it (subject access).

    erase_client(client, user=None, actor_name="")   -> dict of what was changed
    export_client(client, user=None, actor_name="")  -> a JSON-ready dict of everything about them

Both are recorded in the audit log (crm.audit) with who and when, and called alike by the admin
actions and the `erase_client` / `export_client` commands.

Erasing keeps the row, anonymous, so revenue, counts and segment sizes stay right; what could name
the person goes:
- the client's email, phone, first and last name, city, zip, birth date and gender; consents off;
  `erased_at` set. Kept: the shop's client id (its key for later orders of the same id, meaningless
  without the shop's own records), country, acquisition channel, first seen, and every purchase,
  item, survey score and scoring row, none of which holds personal data;
- free-form activity properties (a shop may put anything there);
- on their email deliveries: the address, the subject as sent (it may greet them by name) and the
  ESP's error text (it may quote the address); pending deliveries are suppressed with reason `erased`;
  tracking events of those deliveries lose the recipient and the raw ESP payload;
- their journeys: every position still waiting exits (reason "unsubscribed or erased"), and the answers
  webhook endpoints gave about them are cleared;
- the admin's change history shows the anonymous name.
The suppression list keeps their address if it is on it: it is what stops mail to that address if
the shop sends it to us again. Audience exports and campaigns skip erased clients (both filter on
`erased_at`), and the next delta export removes them from the platforms.
"""

import json

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm import audit
from crm.models import AuditLog, Client

PERSONAL_FIELDS = ("email", "phone", "first_name", "last_name", "city", "zip", "birth_date", "gender")


def erase_client(client, user=None, actor_name=""):
    """Clear a client's personal data, keep the anonymous row, stop their mail, record who did it."""
    from journeys.models import Position, WebhookCall
    from mailing.models import Delivery, DeliveryEvent
    from mailing.repair import finish_campaign

    now = timezone.now()
    with transaction.atomic():
        client = Client.objects.select_for_update().get(pk=client.pk)
        again = client.erased_at is not None
        address = client.email
        for name in PERSONAL_FIELDS:
            setattr(client, name, None if name == "birth_date" else "")
        client.email_consent = client.ads_consent = False
        client.email_consent_at, client.email_consent_source = now, "erased"
        client.erased_at = client.erased_at or now
        client.save()

        activities = client.activities.exclude(properties={}).update(properties={})
        deliveries = Delivery.objects.filter(client=client)
        pending = list(deliveries.filter(state=Delivery.State.PENDING).values_list("campaign_id", flat=True))
        suppressed = deliveries.filter(state=Delivery.State.PENDING).update(
            state=Delivery.State.SUPPRESSED, reason=Delivery.Reason.ERASED, finished_at=now)
        deliveries.update(email="", subject="", error="")
        events = Q(delivery__client=client)
        if address:  # events the ESP sent about the address that matched no delivery of ours
            events |= Q(delivery__isnull=True, recipient__iexact=address)
        DeliveryEvent.objects.filter(events).update(recipient="", detail={})
        Position.objects.filter(client=client, state=Position.State.WAITING).update(
            state=Position.State.EXITED, reason=Position.Reason.UNSUBSCRIBED, due_at=None, finished_at=now)
        WebhookCall.objects.filter(position__client=client).update(response="")
        LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(Client),
                                object_id=str(client.pk)).update(object_repr=str(client)[:200])
        for campaign_id in set(pending):
            finish_campaign(campaign_id)  # its last pending recipient may have been this one
        result = {"external_id": client.external_id, "again": again, "activities_cleared": activities,
                  "pending_deliveries_suppressed": suppressed}
        audit.record(AuditLog.Action.ERASE_CLIENT, audit.client_target(client), user, actor_name, **result)
    return result


def export_client(client, user=None, actor_name=""):
    """Everything we hold about one client, as plain JSON-ready values; the export is recorded."""
    from journeys.models import Position
    from mailing.models import Delivery, DeliveryEvent, Suppression, normalize_email
    from segments.models import ClientScore, SegmentMembership

    client = Client.objects.get(pk=client.pk)
    purchases = []
    for purchase in client.purchases.order_by("purchased_at", "pk").prefetch_related("items"):
        purchases.append({**_fields(purchase, exclude=("id", "client")),
                          "items": [_fields(item, exclude=("id", "purchase")) for item in purchase.items.all()]})
    events = {}
    for event in DeliveryEvent.objects.filter(delivery__client=client).order_by("occurred_at", "pk"):
        events.setdefault(event.delivery_id, []).append(_fields(event, exclude=("id", "delivery")))
    deliveries = [
        {"campaign": d.campaign.slug, **_fields(d, exclude=("id", "campaign", "client", "claim_token")),
         "events": events.get(d.pk, [])}
        for d in Delivery.objects.filter(client=client).select_related("campaign").order_by("created_at", "pk")
    ]
    data = {
        "exported_at": timezone.now(),
        "client": _fields(client),
        "purchases": purchases,
        "activity": [_fields(a, exclude=("id", "client"))
                     for a in client.activities.order_by("occurred_at", "pk")],
        "survey_answers": [_fields(s, exclude=("id", "client"))
                           for s in client.survey_answers.order_by("answered_at", "pk")],
        "scores": [{"as_of": s.run.as_of, **_fields(s, exclude=("id", "client"))}
                   for s in ClientScore.objects.filter(client=client).select_related("run").order_by("run_id")],
        "segments": [{"segment": m.segment.slug, "entered_at": m.entered_at, "left_at": m.left_at}
                     for m in SegmentMembership.objects.filter(client=client).select_related("segment")
                     .order_by("entered_at", "segment__slug")],
        "deliveries": deliveries,
        "journeys": [{"journey": p.journey.slug, "version": p.version.number,
                      **_fields(p, exclude=("id", "journey", "version", "client", "claim_token")),
                      "steps": [_fields(r, exclude=("id", "position")) for r in p.runs.order_by("seq")],
                      "webhook_calls": [_fields(c, exclude=("id", "position")) for c in p.webhook_calls.order_by("at")]}
                     for p in Position.objects.filter(client=client).select_related("journey", "version")
                     .order_by("entered_at", "pk")],
        "suppressed_addresses": [_fields(s, exclude=("id",)) for s in
                                 Suppression.objects.filter(email=normalize_email(client.email))]
        if client.email else [],
        "audit_log": [{"at": e.at, "who": e.actor_name, "action": e.action, "detail": e.detail}
                      for e in AuditLog.objects.filter(target=audit.client_target(client)).order_by("at", "pk")],
    }
    audit.record(AuditLog.Action.EXPORT_CLIENT, audit.client_target(client), user, actor_name,
                 external_id=client.external_id)
    return data


def _fields(obj, exclude=()):
    """A model instance's own columns by field name (foreign keys as their id)."""
    return {(f.name if not f.is_relation else f.attname): getattr(obj, f.attname)
            for f in obj._meta.concrete_fields if f.name not in exclude and not f.generated}


def client_by_external_id(external_id):
    """The client with the shop's id, or LookupError naming it."""
    try:
        return Client.objects.get(external_id=external_id)
    except Client.DoesNotExist:
        raise LookupError(f"no client with client id {external_id!r}") from None


def to_json(data):
    """The export as JSON text: dates in ISO 8601, amounts as decimal strings, letters as they are."""
    return json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)
