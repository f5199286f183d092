"""Data arriving between nights (by the API): exits on conversion at once, waits for an event brought
forward, and entries on an event or into a rule segment within the scheduler's next pass."""

import logging

from django.db.models import Count, Min
from django.utils import timezone

from crm.models import Activity, Purchase
from segments.models import ClientScore, Segment, SegmentMembership
from segments.rules import RuleError, to_q

from .entry import enter
from .models import Journey
from .scheduler import bring_forward, exit_converted

log = logging.getLogger(__name__)


def orders_arrived(orders):
    """orders: [(client id, the shop's order id)] just recorded."""
    client_ids = sorted({client for client, _order in orders})
    if not client_ids:
        return
    exit_converted(client_ids)
    bring_forward(client_ids)
    journeys = list(Journey.objects.active().filter(entry=Journey.Entry.EVENT).select_related("live_version"))
    firsts = None
    for journey in journeys:
        if journey.entry_event == Journey.Event.ORDER:
            by_order = {}
            for client, order in orders:
                by_order.setdefault(order, client)
            for order, client in by_order.items():
                enter(journey, [client], f"order-{order}"[:64])
        elif journey.entry_event == Journey.Event.FIRST_ORDER:
            if firsts is None:
                firsts = first_orders(client_ids)
            enter(journey, firsts, "first-order")
    _rule_segment_entries(client_ids)


def first_orders(client_ids):
    """Of these clients, those with exactly one completed order so far."""
    return list(Purchase.objects.filter(client_id__in=client_ids, status=Purchase.Status.COMPLETED).order_by()
                .values("client_id").annotate(n=Count("pk")).filter(n=1).values_list("client_id", flat=True))


def activity_arrived(client_ids):
    client_ids = sorted(set(client_ids))
    bring_forward(client_ids)
    today = timezone.localdate()
    for journey in Journey.objects.active().filter(entry=Journey.Entry.EVENT, entry_event=Journey.Event.ACTIVITY
                                                   ).select_related("live_version"):
        who = (Activity.objects.filter(client_id__in=client_ids, kind=journey.entry_activity_kind).order_by()
               .values("client_id").annotate(first=Min("occurred_at")).values_list("client_id", flat=True))
        enter(journey, list(who), f"activity-{today}")
    _rule_segment_entries(client_ids)


def _rule_segment_entries(client_ids):
    """Journeys entered on a rule segment: clients the new data puts in it (last night's scores, the
    clients' fields now) become members today and enter, without waiting for the night."""
    today = timezone.localdate()
    for journey in Journey.objects.active().filter(entry=Journey.Entry.SEGMENT, entry_segment__kind=Segment.Kind.RULE,
                                                   entry_segment__is_active=True).exclude(
                                                       entry_segment__rule={}).select_related(
                                                       "live_version", "entry_segment"):
        segment = journey.entry_segment
        try:
            rule = to_q(segment.rule)
        except RuleError as exc:  # the segment's own page says so; the data is recorded all the same
            log.error("journey %s: entry segment %s has a bad rule: %s", journey.slug, segment.slug, exc)
            continue
        matching = set(ClientScore.objects.current().filter(client_id__in=client_ids).filter(rule)
                       .values_list("client_id", flat=True))
        inside = set(SegmentMembership.objects.filter(segment=segment, client_id__in=matching, left_at__isnull=True)
                     .values_list("client_id", flat=True))
        new = matching - inside
        if new:
            SegmentMembership.objects.bulk_create(
                SegmentMembership(segment=segment, client_id=c, entered_at=today) for c in new)
            enter(journey, list(new), f"segment-{today}")
