"""What a campaign did, per A/B variant and for its holdout group, and the uplift of sending.

One SQL query per campaign: each delivery row gets its attribution window and the revenue its
client spent in it (a correlated sum over the (client, purchased_at) index), and the rows are
summed per (variant, holdout). The statistics are in `uplift.py`. The definitions below are shown
on the admin results page as they are written here.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Case,
    DateTimeField,
    DecimalField,
    ExpressionWrapper,
    F,
    IntegerField,
    Min,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Purchase

from . import uplift
from .models import Delivery

DEFINITIONS = [
    (_("Audience"), _("Delivery rows of the campaign (every occurrence): recipients sent, held out, suppressed or "
                      "failed. A client sent twice by a recurring campaign counts twice.")),
    (_("Sent"), _("Accepted by the email service.")),
    (_("Outcome unknown"), _("The worker stopped between handing the message to the email service and recording the "
                     "answer: it may or may not have gone out. Never resent; it becomes sent (or failed) when "
                     "the email service's tracking webhooks name the message. Not counted as sent.")),
    (_("Delivered, bounced, complained, unsubscribed"),
     _("Sent messages the email service reported so (tracking webhooks). Only hard bounces count; soft bounces "
       "are kept as events but neither count here nor suppress the address.")),
    (_("Open rate, click rate"), _("Share of sent messages opened (or clicked: a click proves an open the tracking "
                                   "pixel missed) and clicked at least once.")),
    (_("Conversion"), _("The client made at least one completed (not refunded) purchase within the attribution "
                        "window: the {days} days after the message was sent. Revenue is the sum of those purchases "
                        "(amounts as recorded, in the shop's currency).")),
    (_("Holdout"), _("Clients drawn at random from the reachable audience and deliberately not sent. Their window "
                     "starts when the first message of their occurrence (the same launch, schedule date or "
                     "trigger run) went out: the moment they would have been sent, quiet-hours delays included; "
                     "until then, when their row was recorded. Each sent client's window starts when their own "
                     "message went out, seconds to minutes after the first one.")),
    (_("Uplift"),
     # xgettext:no-python-format  ("95% c" is not a placeholder: the text is shown as it is)
     _("Conversion rate of the sent group minus the holdout's, and revenue per client of the sent group "
       "(sent messages) minus the holdout's, each with a 95% confidence interval: normal "
       "approximation for the difference of two proportions; Welch's t interval for the difference "
       "of means. An interval that does not contain 0 is a significant difference.")),
    (_("A/B winner"), _("The variant with the highest rate, tested against the runner-up with a two-sided "
                        "two-proportion z-test; significant when p < 0.05.")),
    (_("Provisional"), _("While a recipient's window is still open their conversion may yet come: results move "
                         "until every window has closed.")),
]


@dataclass
class GroupStats:
    label: str
    name: str = ""  # the A/B variant's name
    audience: int = 0
    sent: int = 0
    unknown: int = 0  # outcome unknown: the worker stopped mid-send
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    bounced: int = 0
    complained: int = 0
    unsubscribed: int = 0
    measured: int = 0  # rows whose conversions are measured: sent rows, or holdout rows
    conversions: int = 0
    revenue: Decimal = Decimal("0.00")
    revenue_sq: float = 0.0  # Σ revenue² per row, for the variance of revenue per client
    open_windows: int = 0

    COUNTS = ("audience", "sent", "unknown", "delivered", "opened", "clicked", "bounced", "complained", "unsubscribed",
              "measured", "conversions", "open_windows")

    def add(self, other):
        for name in self.COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.revenue += other.revenue
        self.revenue_sq += other.revenue_sq
        return self

    @property
    def open_rate(self):
        return uplift.rate(self.opened, self.sent)

    @property
    def click_rate(self):
        return uplift.rate(self.clicked, self.sent)

    @property
    def conversion_rate(self):
        return uplift.rate(self.conversions, self.measured)

    @property
    def revenue_per_client(self):
        return self.revenue / self.measured if self.measured else None


@dataclass
class CampaignResults:
    campaign: object
    attribution_days: int
    computed_at: object
    variants: list  # GroupStats of the sent audience by A/B variant; one unnamed group without variants
    holdout: GroupStats
    sent_group: GroupStats  # every non-holdout row
    total: GroupStats
    conversion_uplift: uplift.Interval | None = None
    revenue_uplift: uplift.Interval | None = None
    ab: dict = field(default_factory=dict)  # "conversion", "click", "open" -> uplift.Comparison of variant names

    @property
    def rows(self):
        """The table's rows: each variant (when there are several), the sent group, the holdout, everyone."""
        return [*(self.variants if len(self.variants) > 1 else []), self.sent_group, self.holdout, self.total]


def attribution_days():
    return settings.CRM_ATTRIBUTION_DAYS


def first_sends(campaign):
    """{occurrence: when its first message went out}: one GROUP BY over the campaign's sent rows."""
    return dict(
        Delivery.objects.filter(campaign=campaign, state=Delivery.State.SENT, sent_at__isnull=False)
        .order_by().values_list("occurrence").annotate(first=Min("sent_at"))
    )


def window_start(first_sent):
    """When a row's attribution window opens: sent -> when it went out; holdout -> when it would have.

    A held-out row would have gone out with the rest of its occurrence: its window opens when that
    occurrence's first message went out, which takes in quiet-hours delays (a triggered campaign
    fires after the 03:00 nightly run and sends at the end of quiet hours) and queueing. Before
    anything of the occurrence was sent: when the row was recorded (or its `not_before`).
    """
    holdout_start = Case(
        *[When(occurrence=occurrence, then=Value(at)) for occurrence, at in first_sent.items()],
        default=Coalesce("not_before", "created_at"), output_field=DateTimeField())
    return Case(
        When(state=Delivery.State.SENT, sent_at__isnull=False, then=F("sent_at")),
        When(reason=Delivery.Reason.HOLDOUT, then=holdout_start),
        default=Value(None), output_field=DateTimeField())


def _flag(condition):
    return Case(When(condition, then=Value(1)), default=Value(0), output_field=IntegerField())


def delivery_outcomes(campaign, days, now):
    """One row per delivery of the campaign, with 0/1 flags and `spent` (NULL: no conversion)."""
    bought = (
        Purchase.objects.filter(client=OuterRef("client_id"), status=Purchase.Status.COMPLETED,
                                purchased_at__gt=OuterRef("window_start"), purchased_at__lte=OuterRef("window_end"))
        .order_by().values("client").annotate(total=Sum("amount")).values("total")
    )
    return (
        Delivery.objects.filter(campaign=campaign)
        .annotate(window_start=window_start(first_sends(campaign)))
        .annotate(window_end=ExpressionWrapper(F("window_start") + timedelta(days=days), output_field=DateTimeField()))
        .values(
            "variant_id",
            holdout=_flag(Q(reason=Delivery.Reason.HOLDOUT)),
            is_sent=_flag(Q(state=Delivery.State.SENT)),
            is_unknown=_flag(Q(state=Delivery.State.UNKNOWN)),
            is_delivered=_flag(Q(state=Delivery.State.SENT, delivered_at__isnull=False)),
            is_opened=_flag(Q(state=Delivery.State.SENT) & (Q(opened_at__isnull=False) | Q(clicked_at__isnull=False))),
            is_clicked=_flag(Q(state=Delivery.State.SENT, clicked_at__isnull=False)),
            is_bounced=_flag(Q(state=Delivery.State.SENT, bounced_at__isnull=False)),
            is_complained=_flag(Q(state=Delivery.State.SENT, complained_at__isnull=False)),
            is_unsubscribed=_flag(Q(state=Delivery.State.SENT, unsubscribed_at__isnull=False)),
            is_measured=_flag(Q(window_start__isnull=False)),
            is_open_window=_flag(Q(window_end__gt=now)),
            spent=Subquery(bought, output_field=DecimalField(max_digits=16, decimal_places=2)),
        )
        .order_by()
    )


def _grouped(campaign, days, now):
    """[(variant_id or None, is holdout, GroupStats)]: the per-delivery rows summed in SQL."""
    inner, params = delivery_outcomes(campaign, days, now).query.sql_with_params()
    # Summed around the per-row query, which is materialised so that each row's purchase sum is
    # computed once (PostgreSQL would otherwise inline the subquery into each of the 3 aggregates
    # that read it).
    sql = (
        f"WITH outcome AS MATERIALIZED ({inner}) "
        "SELECT CASE WHEN holdout = 1 THEN NULL ELSE variant_id END, holdout, COUNT(*), SUM(is_sent), "
        "SUM(is_unknown), SUM(is_delivered), SUM(is_opened), SUM(is_clicked), SUM(is_bounced), SUM(is_complained), "
        "SUM(is_unsubscribed), SUM(is_measured), COUNT(spent), SUM(is_open_window), SUM(spent), SUM(spent * spent) "
        "FROM outcome GROUP BY 1, 2"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        # JIT compilation costs more than it saves on this one-off query (seconds on 100,000 rows).
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    groups = []
    for variant_id, holdout, *counts, revenue, revenue_sq in rows:
        stats = GroupStats("", **{name: int(value or 0) for name, value in zip(GroupStats.COUNTS, counts, strict=True)})
        stats.revenue = Decimal(str(revenue or 0)).quantize(Decimal("0.01"))
        stats.revenue_sq = float(revenue_sq or 0)
        groups.append((variant_id, bool(holdout), stats))
    return groups


def campaign_results(campaign, days=None, now=None):
    days = attribution_days() if days is None else days
    now = now or timezone.now()
    names = dict(campaign.variants.values_list("pk", "name"))
    variants = {pk: GroupStats(_("Variant %(name)s") % {"name": name}, name=name) for pk, name in names.items()}
    # With variants, rows without one are those suppressed at launch (a variant is drawn only for the sent).
    unnamed = GroupStats(_("Not sent (suppressed)") if variants else _("Sent group"))
    holdout = GroupStats(_("Holdout"))
    for variant_id, is_holdout, stats in _grouped(campaign, days, now):
        target = holdout if is_holdout else variants.get(variant_id, unnamed)
        target.add(stats)
    sent_group = GroupStats(_("Sent group (all variants)") if variants else _("Sent group"))
    for stats in [*variants.values(), unnamed]:
        sent_group.add(stats)
    total = GroupStats(_("Everyone")).add(sent_group).add(holdout)
    results = CampaignResults(
        campaign=campaign, attribution_days=days, computed_at=now,
        variants=[variants[pk] for pk in sorted(variants, key=lambda pk: names[pk])]
        + ([unnamed] if variants and unnamed.audience else []),
        holdout=holdout, sent_group=sent_group, total=total,
        conversion_uplift=uplift.proportion_difference(
            sent_group.conversions, sent_group.measured, holdout.conversions, holdout.measured),
        revenue_uplift=uplift.mean_difference(
            sent_group.measured, float(sent_group.revenue), sent_group.revenue_sq,
            holdout.measured, float(holdout.revenue), holdout.revenue_sq),
    )
    if len(variants) > 1:
        named = [variants[pk] for pk in variants]
        results.ab = {
            "conversion": uplift.best_of([(g.name, g.conversions, g.measured) for g in named]),
            "click": uplift.best_of([(g.name, g.clicked, g.sent) for g in named]),
            "open": uplift.best_of([(g.name, g.opened, g.sent) for g in named]),
        }
    return results

