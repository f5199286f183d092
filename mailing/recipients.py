"""Who a campaign is for, and why some of them get no email: set-based, one query for the audience.

Audience = clients in any audience segment (for a triggered campaign: who entered its trigger segment
in the given run, also within the audience segments if any are chosen), minus the exclusion segments,
matching the extra conditions (the segments' rule format, `segments.rules`, over the current scores),
minus, for a triggered campaign, clients the re-entry rule keeps out. Then, among the reachable ones,
the holdout is drawn first and the rest are split between the A/B variants.
"""

import datetime as dt
import hashlib

from django.db.models import BooleanField, Case, CharField, Exists, OuterRef, Q, Subquery, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower, Trim
from django.utils import timezone

from crm.models import Client
from segments.models import ClientScore, ScoringRun, SegmentMembership
from segments.rules import to_q

from .models import Campaign, Delivery, Suppression


def audience_clients(campaign, entered_run=None, occurrence=None):
    """Clients this campaign (occurrence) is for, before consent and holdout.

    entered_run: for a triggered campaign, the scoring run whose entrants into `trigger_segment` it emails;
    for a next-order-due one, the run whose expected next orders it reads.
    occurrence: this occurrence's own rows do not count against the re-entry rule (a repeated launch).
    """
    current = SegmentMembership.objects.filter(client=OuterRef("pk"), left_at__isnull=True)
    clients = Client.objects.all()
    if entered_run is not None and campaign.schedule == Campaign.Schedule.NEXT_ORDER_DUE:
        # The night of as_of is sent the day after: "due within N days" counts from that day.
        day = entered_run.as_of + dt.timedelta(days=1)
        clients = clients.filter(Exists(ClientScore.objects.filter(run=entered_run, client=OuterRef("pk"))
                                        .next_order_due(day, campaign.due_days)))
    elif entered_run is not None:
        clients = clients.filter(Exists(SegmentMembership.objects.filter(
            client=OuterRef("pk"), segment_id=campaign.trigger_segment_id, entered_run=entered_run)))
    if entered_run is not None:
        previous = Delivery.objects.filter(campaign=campaign, client=OuterRef("pk"))
        if occurrence is not None:
            previous = previous.exclude(occurrence=occurrence)
        if campaign.reentry == Campaign.Reentry.AFTER_DAYS and campaign.reentry_days:
            # Again once `reentry_days` have passed since the client's last delivery of this campaign.
            previous = previous.filter(created_at__gt=timezone.now() - dt.timedelta(days=campaign.reentry_days))
        clients = clients.exclude(Exists(previous))
    if entered_run is None or campaign.segments.exists():
        clients = clients.filter(Exists(current.filter(segment__in=campaign.segments.all())))
    clients = clients.exclude(Exists(current.filter(segment__in=campaign.exclude_segments.all())))
    if campaign.conditions:
        run = ScoringRun.objects.current()
        scores = ClientScore.objects.filter(run=run, client=OuterRef("pk")).filter(to_q(campaign.conditions))
        clients = clients.filter(Exists(scores)) if run else clients.none()
    return clients


def segment_members(campaign):
    """How many clients are now in any of the campaign's audience segments (before exclusions,
    conditions and consent): the first step of the audience, for a launch refused as empty."""
    current = SegmentMembership.objects.filter(client=OuterRef("pk"), left_at__isnull=True,
                                               segment__in=campaign.segments.all())
    return Client.objects.filter(Exists(current)).count()


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


def suppression_reason_sql():
    """`suppression_reason` as an SQL expression over clients annotated by `with_suppression` ("" when
    they may be emailed), for counting a whole audience in the database; the same order of reasons
    (tests/mailing/test_reach.py holds the two together)."""
    listed = [When(address_suppression=reason, then=Value(delivery_reason))
              for reason, delivery_reason in Suppression.DELIVERY_REASON.items()]
    return Case(
        When(erased_at__isnull=False, then=Value(Delivery.Reason.ERASED)),
        When(unsubscribed_at__isnull=False, then=Value(Delivery.Reason.UNSUBSCRIBED)),
        When(email_consent=False, then=Value(Delivery.Reason.NO_CONSENT)),
        When(Q(email__isnull=True) | Q(email_trimmed=""), then=Value(Delivery.Reason.NO_EMAIL)),
        *listed,
        default=Value(""), output_field=CharField())


def with_suppression_reason(clients):
    """Annotate `reason`: `suppression_reason_sql` (after `with_suppression`)."""
    return with_suppression(clients).annotate(email_trimmed=Trim("email")).annotate(reason=suppression_reason_sql())


def in_holdout_sql(campaign_id, percent):
    """`in_holdout` as an SQL expression over clients: the same sha256 bucket computed by PostgreSQL.

    The first 8 bytes of the digest read as a signed bigint h; Python reads them unsigned
    (h + 2**64 when h < 0), and 2**64 mod 10,000 is 1616.
    """
    if percent <= 0:
        return Value(False, output_field=BooleanField())
    table = Client._meta.db_table
    # The digest is computed once per row (a scalar subquery), not once per use of h.
    h = (f"('x' || encode(substring(sha256(convert_to(%s || \"{table}\".\"id\"::text, 'UTF8')) from 1 for 8), "
         f"'hex'))::bit(64)::bigint")
    bucket = (f"(SELECT ((h %% 10000) + 10000) %% 10000 + CASE WHEN h < 0 THEN 1616 ELSE 0 END "
              f"FROM (SELECT {h} AS h) AS digest) %% 10000")
    prefix = f"holdout:{campaign_id}:"
    return RawSQL(f"({bucket}) < %s", [prefix, percent * 100], output_field=BooleanField())


def _bucket(kind, campaign_id, client_id, buckets):
    digest = hashlib.sha256(f"{kind}:{campaign_id}:{client_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % buckets


def in_holdout(campaign_id, client_id, percent):
    """Deterministic and uniform: the same client stays in (or out of) a campaign's holdout on every run."""
    if percent <= 0:
        return False
    return _bucket("holdout", campaign_id, client_id, 10_000) < percent * 100


def pick_variant(campaign_id, client_id, variants):
    """The variant (of (key, weight) pairs, weights adding up to 100) a client gets, or None without variants.

    Deterministic like the holdout but from an independent hash, so the split among the sent does not
    depend on who was held out.
    """
    if not variants:
        return None
    point = _bucket("variant", campaign_id, client_id, 10_000)
    total = 0
    for key, weight in variants:
        total += weight * 100
        if point < total:
            return key
    return variants[-1][0]


def resolve_audience(campaign, entered_run=None, occurrence=None, variants=()):
    """Yield (client_id, email, state, reason, variant_key) for every recipient, in client id order.

    One query, streamed; holdout is drawn only among clients who could be sent to, so the held-out
    group is comparable with the sent group; variants (key, weight) split the rest.
    """
    rows = (
        with_suppression(audience_clients(campaign, entered_run=entered_run, occurrence=occurrence))
        .only("pk", "email", "email_consent", "unsubscribed_at", "erased_at")
        .order_by("pk")
    )
    for client in rows.iterator(chunk_size=5000):
        reason = suppression_reason(client)
        if not reason and in_holdout(campaign.pk, client.pk, campaign.holdout_percent):
            reason = Delivery.Reason.HOLDOUT
        state = Delivery.State.SUPPRESSED if reason else Delivery.State.PENDING
        variant = None if reason else pick_variant(campaign.pk, client.pk, variants)
        yield client.pk, client.email.strip(), state, reason, variant
