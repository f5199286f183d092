"""How many people a campaign would reach if launched now, and why the others would not: the one
breakdown the campaign's page and the launch confirmation show.

Same rules as the launch and the sending, counted in SQL (a few aggregate queries, whatever the
audience's size): the audience of `recipients.audience_clients`; the suppression reasons of
`recipients.suppression_reason` (as `suppression_reason_sql`); the holdout of `in_holdout` (as
`in_holdout_sql`), drawn among the reachable as the launch draws it; then the frequency cap the
sending applies at the claim (CRM_EMAIL_CAP_COUNT emails in CRM_EMAIL_CAP_DAYS, as
`sending.frequency_counts` counts them: sent in the window, or being sent). Reads only; writes nothing.
The cap is what it is now: by the time a batch is claimed, other campaigns may have sent more.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.models import Client
from segments.models import SegmentMembership

from .models import Campaign, Delivery
from .recipients import audience_clients, in_holdout_sql, with_suppression_reason
from .timing import send_not_before

# Suppression reasons grouped as the page shows them.
NO_CONSENT = (Delivery.Reason.NO_CONSENT,)
SUPPRESSED = (Delivery.Reason.UNSUBSCRIBED, Delivery.Reason.BOUNCED, Delivery.Reason.COMPLAINED,
              Delivery.Reason.SUPPRESSED_ADDRESS, Delivery.Reason.ERASED, Delivery.Reason.NO_EMAIL)


@dataclass
class Reach:
    members: int = 0  # in any audience segment
    excluded: int = 0  # of them, in an exclusion segment
    not_matching: int = 0  # failing the extra conditions
    already: int = 0  # already have a delivery of this occurrence (a launch again creates none for them)
    no_consent: int = 0
    suppressed: dict = field(default_factory=dict)  # {reason: count}
    frequency_cap: int = 0
    holdout: int = 0
    will_receive: int = 0
    not_before: object = None  # aware datetime: quiet hours hold the sending until then; None: at once
    triggered: bool = False  # audience decided each night by who enters the trigger segment

    @property
    def audience(self):
        return self.members - self.excluded - self.not_matching

    @property
    def suppressed_total(self):
        return sum(self.suppressed.values())


def recent_emails(since):
    """Per client (OuterRef pk): marketing emails counted against the frequency cap (`sending.frequency_counts`)."""
    rows = (Delivery.objects.filter(client=OuterRef("pk"))
            .filter(Q(state=Delivery.State.SENT, sent_at__gte=since) | Q(state=Delivery.State.SENDING))
            .order_by().values("client").annotate(n=Count("pk")).values("n"))
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


def reachable(campaign, now=None):
    """The audience's clients (of the occurrence a launch now writes) annotated with `reason`, `held_out`
    and `capped`: who will receive it are those with reason "" and neither held out nor capped."""
    now = now or timezone.now()
    occurrence = campaign.manual_occurrence(now)
    clients = with_suppression_reason(audience_clients(campaign, occurrence=occurrence))
    clients = clients.annotate(
        recorded=Exists(Delivery.objects.filter(campaign=campaign, client=OuterRef("pk"), occurrence=occurrence)),
        held_out=in_holdout_sql(campaign.pk, campaign.holdout_percent))
    cap = settings.CRM_EMAIL_CAP_COUNT
    if cap:
        clients = clients.annotate(recent=recent_emails(now - timedelta(days=settings.CRM_EMAIL_CAP_DAYS)))
    return clients, cap


def will_receive(campaign, now=None):
    """The clients a launch now would send to (for samples)."""
    clients, cap = reachable(campaign, now)
    clients = clients.filter(recorded=False, reason="", held_out=False)
    return clients.filter(recent__lt=cap) if cap else clients


def campaign_reach(campaign, now=None):
    """The Reach of `campaign` if launched `now`."""
    now = now or timezone.now()
    reach = Reach(not_before=send_not_before(now),
                  triggered=campaign.schedule in Campaign.NIGHTLY)
    if reach.triggered or campaign.pk is None:
        return reach
    current = SegmentMembership.objects.filter(client=OuterRef("pk"), left_at__isnull=True)
    members = Client.objects.filter(Exists(current.filter(segment__in=campaign.segments.all())))
    counts = members.aggregate(
        members=Count("pk"),
        excluded=Count("pk", filter=Q(Exists(current.filter(segment__in=campaign.exclude_segments.all())))))
    reach.members, reach.excluded = counts["members"], counts["excluded"]
    clients, cap = reachable(campaign, now)
    # One pass: the audience's rows grouped by (recorded, reason, held out, capped), a handful of
    # groups, tallied here. (Filtered COUNTs over the annotated rows would repeat each annotation,
    # the digest and the cap's subquery, once per COUNT.)
    columns = ["recorded", "reason", "held_out", *(["recent"] if cap else [])]
    try:
        inner, params = clients.values(*columns).query.sql_with_params()
    except EmptyResultSet:  # conditions and no scoring run yet: nobody matches
        return _tally(reach, [])
    capped_sql = "recent >= %s" if cap else "false"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT recorded, reason, held_out, {capped_sql}, COUNT(*) FROM ({inner}) AS audience "  # noqa: S608
                       f"GROUP BY 1, 2, 3, 4", [*([cap] if cap else []), *params])  # the cap's %s comes first
        groups = cursor.fetchall()
    return _tally(reach, groups)


def _tally(reach, groups):
    """Fill `reach` from (recorded, reason, held out, capped, count) groups."""
    by_reason = {}
    for recorded, reason, held_out, capped, n in groups:
        if recorded:
            reach.already += n
        elif reason:
            by_reason[reason] = by_reason.get(reason, 0) + n
        elif held_out:
            reach.holdout += n
        elif capped:
            reach.frequency_cap += n
        else:
            reach.will_receive += n
    reach.not_matching = reach.members - reach.excluded - sum(group[-1] for group in groups)
    reach.no_consent = sum(by_reason.pop(reason, 0) for reason in NO_CONSENT)
    reach.suppressed = {reason: by_reason[reason] for reason in SUPPRESSED if by_reason.get(reason)}
    return reach
