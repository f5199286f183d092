"""What a campaign did, per A/B variant and for its holdout group, and the uplift of sending.

One SQL query per campaign: each delivery row gets its attribution window, the revenue its client
spent in it and when the first of those purchases came (correlated look-ups over the (client,
purchased_at) index), and the rows are summed per (variant, holdout), and per day of the window for
the daily chart, in one pass (GROUPING SETS). The statistics are in `uplift.py`. The definitions below are shown
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
     _("Conversion rate of the sent group minus the holdout's, and revenue per recipient of the sent group "
       "(sent messages) minus the holdout's, each with a 95% confidence interval: normal "
       "approximation for the difference of two proportions; Welch's t interval for the difference "
       "of means. An interval that does not contain 0 is a significant difference.")),
    (_("Incremental conversions"),
     _("What sending added: the conversion rate of the sent group minus the holdout's, times the number of "
       "clients measured in the sent group (sent messages). Its interval is the uplift's, times the same number.")),
    (_("Incremental revenue"),
     _("What sending added in revenue: revenue per recipient of the sent group minus the holdout's, times the "
       "number of clients measured in the sent group, with the uplift's interval times the same number. "
       "Significant when the interval does not contain 0; otherwise the difference could be chance.")),
    (_("Revenue per recipient"),
     _("Revenue in the attribution window divided by the clients measured: sent messages for the sent group "
       "and its variants, held-out clients for the holdout.")),
    (_("Cost and return on spend"),
     _("Cost: the campaign's cost per message times the messages sent or possibly sent (outcome unknown), plus "
       "its cost per campaign; an A/B variant carries the cost per campaign in proportion to its messages. "
       "Return on spend: (incremental revenue − cost) / cost; 1.0× means the campaign brought its cost back "
       "and as much again. Its interval is the incremental revenue's two ends put through the same formula.")),
    (_("Daily conversions"),
     _("For each day of the attribution window (day 1: the first 24 hours after the message, or after it "
       "would have been sent for the holdout), the clients whose first purchase in the window came that day, "
       "divided by the clients of the group whose window has reached that day: rates, so that groups of "
       "different sizes compare.")),
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

    payoffs: list = field(default_factory=list)  # Payoff of the sent group, then of each A/B variant
    daily: list = field(default_factory=list)  # DayStats, day 1 to the last day any window has reached

    @property
    def payoff(self):
        """The whole sent group's payoff (the verdict's figures); None without a holdout."""
        return self.payoffs[0] if self.payoffs else None

    @property
    def rows(self):
        """The table's rows: each variant (when there are several), the sent group, the holdout, everyone."""
        return [*(self.variants if len(self.variants) > 1 else []), self.sent_group, self.holdout, self.total]


@dataclass
class Payoff:
    """Did sending pay for one group (the sent group or a variant), measured against the holdout."""

    group: GroupStats
    messages: int  # sent or possibly sent (outcome unknown): what the cost per message counts
    conversions: uplift.Interval | None  # incremental conversions
    revenue: uplift.Interval | None  # incremental revenue
    cost: Decimal | None  # None: no cost entered
    return_on_spend: uplift.Interval | None

    @property
    def revenue_per_recipient(self):
        return self.group.revenue_per_client


def payoff(campaign, group, holdout, share=1):
    """`group` against `holdout`; `share`: the part of the campaign's fixed cost the group carries."""
    messages = group.sent + group.unknown
    cost = campaign.cost(messages, share)
    revenue = uplift.scaled(uplift.mean_difference(
        group.measured, float(group.revenue), group.revenue_sq,
        holdout.measured, float(holdout.revenue), holdout.revenue_sq), group.measured)
    return Payoff(
        group=group, messages=messages, cost=cost, revenue=revenue,
        conversions=uplift.scaled(uplift.proportion_difference(
            group.conversions, group.measured, holdout.conversions, holdout.measured), group.measured),
        return_on_spend=uplift.return_on_spend(revenue, cost),
    )


@dataclass
class DayStats:
    """Day `day` (1 = the first 24 hours) of the attribution windows: first conversions and the clients
    whose window has reached that day, in the sent group and in the holdout."""

    day: int
    sent_conversions: int = 0
    sent_reached: int = 0
    holdout_conversions: int = 0
    holdout_reached: int = 0

    @property
    def sent_rate(self):
        return uplift.rate(self.sent_conversions, self.sent_reached)

    @property
    def holdout_rate(self):
        return uplift.rate(self.holdout_conversions, self.holdout_reached)


def daily_stats(conversions, reached, days):
    """DayStats from {(is holdout, day index from 0): first conversions} and {(is holdout, days reached):
    clients}: a client whose window has reached day k counts in the denominator of days 1..k."""
    out = []
    for index in range(days):
        day = DayStats(index + 1)
        for holdout, prefix in ((False, "sent"), (True, "holdout")):
            setattr(day, f"{prefix}_conversions", conversions.get((holdout, index), 0))
            setattr(day, f"{prefix}_reached", sum(n for (h, k), n in reached.items() if h == holdout and k > index))
        if not day.sent_reached and not day.holdout_reached:
            break
        out.append(day)
    return out


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
    """One row per delivery of the campaign, with 0/1 flags, `spent` (NULL: no conversion), its window's
    start and when its first purchase in the window came."""
    in_window = (
        Purchase.objects.filter(client=OuterRef("client_id"), status=Purchase.Status.COMPLETED,
                                purchased_at__gt=OuterRef("window_start"), purchased_at__lte=OuterRef("window_end"))
        .order_by().values("client")
    )
    bought = in_window.annotate(total=Sum("amount")).values("total")
    first_bought = in_window.annotate(first=Min("purchased_at")).values("first")
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
            first_bought=Subquery(first_bought, output_field=DateTimeField()),
            starts=F("window_start"),
        )
        .order_by()
    )


# GROUPING(day, reached) tells the grouping sets apart: 3 the (variant, holdout) totals, 1 first
# conversions per day of the window, 2 clients per number of window days reached.
TOTALS, BY_DAY, BY_REACHED = 3, 1, 2


def _grouped(campaign, days, now):
    """([(variant_id or None, is holdout, GroupStats)], {(variant_id, is holdout, day index): first
    conversions}, {(variant_id, is holdout, days reached): clients}): the per-delivery rows summed in SQL."""
    inner, params = delivery_outcomes(campaign, days, now).query.sql_with_params()
    # Summed around the per-row query, which is materialised so that each row's purchase look-ups are
    # computed once (PostgreSQL would otherwise inline the subqueries into each aggregate that reads them).
    # A day of the window is 24 hours from its start; the first conversion's day is capped at the
    # last day (a purchase at the window's very end); days reached count only measured rows.
    sql = (
        f"WITH outcome AS MATERIALIZED ({inner}) "
        "SELECT grp, holdout, GROUPING(day, reached), day, reached, COUNT(*), SUM(is_sent), "
        "SUM(is_unknown), SUM(is_delivered), SUM(is_opened), SUM(is_clicked), SUM(is_bounced), SUM(is_complained), "
        "SUM(is_unsubscribed), SUM(is_measured), COUNT(spent), SUM(is_open_window), SUM(spent), SUM(spent * spent) "
        "FROM (SELECT *, CASE WHEN holdout = 1 THEN NULL ELSE variant_id END AS grp, "
        "  CASE WHEN first_bought IS NOT NULL "  # LEAST and GREATEST skip NULLs: a row without one stays NULL
        "    THEN LEAST(%s, FLOOR(EXTRACT(EPOCH FROM first_bought - starts) / 86400))::int END AS day, "
        "  CASE WHEN starts IS NOT NULL "
        "    THEN LEAST(%s, GREATEST(0, CEIL(EXTRACT(EPOCH FROM %s - starts) / 86400)))::int END AS reached "
        "  FROM outcome) AS measured_rows "
        "GROUP BY GROUPING SETS ((grp, holdout), (grp, holdout, day), (grp, holdout, reached))"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        # JIT compilation costs more than it saves on this one-off query (seconds on 100,000 rows).
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, [*params, days - 1, days, now])
        rows = cursor.fetchall()
    groups, conversions, reached = [], {}, {}
    for variant_id, holdout, grouping, day, days_reached, *counts, revenue, revenue_sq in rows:
        if grouping == BY_DAY:
            if day is not None:
                conversions[(variant_id, bool(holdout), day)] = counts[0]
            continue
        if grouping == BY_REACHED:
            if days_reached is not None:
                reached[(variant_id, bool(holdout), days_reached)] = counts[0]
            continue
        stats = GroupStats("", **{name: int(value or 0) for name, value in zip(GroupStats.COUNTS, counts, strict=True)})
        stats.revenue = Decimal(str(revenue or 0)).quantize(Decimal("0.01"))
        stats.revenue_sq = float(revenue_sq or 0)
        groups.append((variant_id, bool(holdout), stats))
    return groups, conversions, reached


def campaign_results(campaign, days=None, now=None):
    days = attribution_days() if days is None else days
    now = now or timezone.now()
    names = dict(campaign.variants.values_list("pk", "name"))
    variants = {pk: GroupStats(_("Variant %(name)s") % {"name": name}, name=name) for pk, name in names.items()}
    # With variants, rows without one are those suppressed at launch (a variant is drawn only for the sent).
    unnamed = GroupStats(_("Not sent (suppressed)") if variants else _("Sent group"))
    holdout = GroupStats(_("Holdout"))
    grouped, conversions, reached = _grouped(campaign, days, now)
    for variant_id, is_holdout, stats in grouped:
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
    results.daily = daily_stats(_by_holdout(conversions), _by_holdout(reached), days)
    if holdout.measured:
        results.payoffs = [payoff(campaign, sent_group, holdout)]
        if len(variants) > 1:
            messages = sent_group.sent + sent_group.unknown
            results.payoffs += [payoff(campaign, g, holdout, share=(g.sent + g.unknown) / messages if messages else 0)
                                for g in results.variants if g.measured]
    if len(variants) > 1:
        named = [variants[pk] for pk in variants]
        results.ab = {
            "conversion": uplift.best_of([(g.name, g.conversions, g.measured) for g in named]),
            "click": uplift.best_of([(g.name, g.clicked, g.sent) for g in named]),
            "open": uplift.best_of([(g.name, g.opened, g.sent) for g in named]),
        }
    return results



def _by_holdout(counts):
    """{(variant, is holdout, key): n} summed over the variants: {(is holdout, key): n}."""
    out = {}
    for (_variant, holdout, key), n in counts.items():
        out[(holdout, key)] = out.get((holdout, key), 0) + n
    return out
