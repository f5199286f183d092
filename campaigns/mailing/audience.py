"""Who a campaign is for, and why some of them get no email: set-based, one query for the audience."""

import hashlib

from django.db.models import Exists, OuterRef, Subquery
from django.db.models.functions import Lower

from crm.models import Client
from segments.models import SegmentMembership

from .models import Delivery, Suppression


def audience_clients(campaign):
    """Clients currently in any audience segment and in none of the exclusion segments."""
    current = SegmentMembership.objects.filter(client=OuterRef("pk"), left_at__isnull=True)
    return (
        Client.objects.filter(Exists(current.filter(segment__in=campaign.segments.all())))
        .exclude(Exists(current.filter(segment__in=campaign.exclude_segments.all())))
    )


def with_suppression(clients):
    """Annotate `address_suppression`: the reason the client's address is on the suppression list, or None."""
    listed = Suppression.objects.filter(email=Lower(OuterRef("email"))).values("reason")[:1]
    return clients.annotate(address_suppression=Subquery(listed))


def suppression_reason(client):
    """Why this client must not get marketing email now, or "" when they may.

    `client` carries `address_suppression` (see `with_suppression`).
    """
    if client.erased_at is not None:
        return Delivery.Reason.ERASED
    if client.unsubscribed_at is not None:
        return Delivery.Reason.UNSUBSCRIBED
    if not client.email_consent:
        return Delivery.Reason.NO_CONSENT
    if not (client.email or "").strip():
        return Delivery.Reason.NO_EMAIL
    if client.address_suppression:
        return Suppression.DELIVERY_REASON[client.address_suppression]
    return ""


def in_holdout(campaign_id, client_id, percent):
    """Deterministic and uniform: the same client stays in (or out of) a campaign's holdout on every run."""
    if percent <= 0:
        return False
    digest = hashlib.sha256(f"holdout:{campaign_id}:{client_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 < percent * 100


def resolve_audience(campaign):
    """Yield (client_id, email, state, reason) for every recipient of the campaign, in client id order.

    One query, streamed; holdout is drawn only among clients who could be sent to, so the held-out
    group is comparable with the sent group.
    """
    rows = (
        with_suppression(audience_clients(campaign))
        .only("pk", "email", "email_consent", "unsubscribed_at", "erased_at")
        .order_by("pk")
    )
    for client in rows.iterator(chunk_size=5000):
        reason = suppression_reason(client)
        if not reason and in_holdout(campaign.pk, client.pk, campaign.holdout_percent):
            reason = Delivery.Reason.HOLDOUT
        state = Delivery.State.SUPPRESSED if reason else Delivery.State.PENDING
        yield client.pk, client.email.strip(), state, reason
