"""Point rules, tiers and the points ledger.

The ledger is append-only: a row is never changed or deleted (a mistake is put right by an
adjustment row with a reason), and a client's balance is the sum of their rows. Rows written by the
nightly run and the API carry a natural key (source, ref, rule; unique per client), so granting twice for the
same activity, order, streak day or expiry date writes nothing the second time.
"""

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.sql import EPOCH_DATE
from crm.models import Client

# One message for a constraint and for clean(): clean() repeats the check only to put the error on
# its field (Django reports a failed CheckConstraint for the whole form, away from the field).
NEGATIVE_CAP = _("A cap cannot be negative: leave it empty for no cap, or 0 to grant nothing.")
AMOUNT_NOT_POSITIVE = _("The amount must be more than 0.")


class PointRule(models.Model):
    class Source(models.TextChoices):
        ACTIVITY = "activity", _("activity of a kind")
        PURCHASE = "purchase", _("completed order")
        STREAK = "streak", _("streak bonus")

    class Basis(models.TextChoices):
        PER_EVENT = "per_event", _("per activity event or per order")
        PER_AMOUNT = "per_amount", _("per amount spent")

    name = models.CharField(_("name"), max_length=100)
    source = models.CharField(_("earned for"), max_length=16, choices=Source.choices, default=Source.ACTIVITY)
    activity_kind = models.CharField(
        _("activity kind"), max_length=64, blank=True,
        help_text=_("The activity's kind, e.g. login or lesson_completed. For a streak: the kind that counts "
                    "(empty: any activity)."))
    basis = models.CharField(_("basis"), max_length=16, choices=Basis.choices, default=Basis.PER_EVENT,
                             help_text=_("Orders only: a fixed number per order, or per amount spent."))
    points = models.PositiveIntegerField(_("points"))
    amount_unit = models.DecimalField(
        _("per amount"), max_digits=12, decimal_places=2, default=1,
        help_text=_("Per amount spent: `points` for every this much money (rounded down)."))
    streak_days = models.PositiveSmallIntegerField(
        _("streak days"), null=True, blank=True,
        help_text=_("Streak bonus: granted on every this many consecutive days with activity (7: on the 7th, "
                    "14th, ... day in a row)."))
    daily_cap = models.IntegerField(_("daily cap"), null=True, blank=True,
                                    help_text=_("Most points a client earns by this rule in a day (empty: no cap)."))
    weekly_cap = models.IntegerField(
        _("weekly cap"), null=True, blank=True,
        help_text=_("Most points a client earns by this rule in a week, Monday to Sunday (empty: no cap)."))
    expires_after_days = models.PositiveIntegerField(
        _("expire after days"), null=True, blank=True,
        help_text=_("Points earned by this rule expire this many days after the day they were earned "
                    "(empty: never)."))
    starts_on = models.DateField(
        _("counts from"), default=timezone.localdate,
        help_text=_("Activity and orders before this day earn nothing by this rule."))
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("point rule")
        verbose_name_plural = _("point rules")
        ordering = ["source", "activity_kind", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(daily_cap__gte=0) | Q(daily_cap__isnull=True),
                                   name="loyalty_daily_cap_not_negative", violation_error_message=NEGATIVE_CAP),
            models.CheckConstraint(condition=Q(weekly_cap__gte=0) | Q(weekly_cap__isnull=True),
                                   name="loyalty_weekly_cap_not_negative", violation_error_message=NEGATIVE_CAP),
            models.CheckConstraint(condition=Q(amount_unit__gt=0), name="loyalty_amount_unit_positive",
                                   violation_error_message=AMOUNT_NOT_POSITIVE),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        errors = {}
        for field in ("daily_cap", "weekly_cap"):
            if (value := getattr(self, field)) is not None and value < 0:
                errors[field] = NEGATIVE_CAP
        if self.source == self.Source.ACTIVITY and not self.activity_kind.strip():
            errors["activity_kind"] = _("Name the activity kind this rule rewards, e.g. login.")
        if self.source == self.Source.STREAK and (self.streak_days or 0) < 2:
            errors["streak_days"] = _("A streak is at least 2 consecutive days.")
        if self.source == self.Source.PURCHASE and self.basis == self.Basis.PER_AMOUNT and not (
                self.amount_unit and self.amount_unit > 0):
            errors["amount_unit"] = AMOUNT_NOT_POSITIVE
        if errors:
            raise ValidationError(errors)


class Tier(models.Model):
    """A level of the programme. A client is in the highest-ranked tier whose thresholds they meet
    over its rolling window, as of each nightly run; each tier has a segment `tier-<slug>`."""

    name = models.CharField(_("name"), max_length=50)
    slug = models.SlugField(_("slug"), max_length=44, unique=True,
                            help_text=_("Names the segment tier-<slug>, which campaigns can trigger on."))
    rank = models.PositiveSmallIntegerField(_("rank"), unique=True,
                                            help_text=_("Higher ranks are better tiers: Bronze 1, Silver 2, Gold 3."))
    min_points = models.IntegerField(_("points at least"), default=0,
                                     help_text=_("Points earned (net of adjustments) in the window."))
    min_active_days = models.IntegerField(_("active days at least"), default=0,
                                          help_text=_("Days with any activity in the window."))
    window_days = models.PositiveIntegerField(_("window, days"), default=365,
                                              help_text=_("The rolling window ending on the night's as-of day."))

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["rank"]
        constraints = [
            models.CheckConstraint(condition=Q(min_points__gte=0) & Q(min_active_days__gte=0),
                                   name="loyalty_tier_thresholds_not_negative",
                                   violation_error_message=_("Thresholds cannot be negative.")),
            models.CheckConstraint(condition=Q(window_days__gte=1), name="loyalty_tier_window_positive",
                                   violation_error_message=_("The window is at least 1 day.")),
        ]

    def __str__(self):
        return self.name

    @property
    def segment_slug(self):
        return f"tier-{self.slug}"


class PointsEntryQuerySet(models.QuerySet):
    def balance(self, client):
        return self.filter(client=client).aggregate(total=Sum("points"))["total"] or 0


class PointsEntry(models.Model):
    class Kind(models.TextChoices):
        EARNED = "earned", _("earned")
        EXPIRED = "expired", _("expired")
        SPENT = "spent", _("spent")
        ADJUSTED = "adjusted", _("adjusted by hand")

    class Source(models.TextChoices):
        ACTIVITY = "a", _("activity")  # ref: the activity's id
        ORDER = "p", _("order")  # ref: the purchase's id
        STREAK = "s", _("streak")  # ref: the day, as days since 1970-01-01
        EXPIRY = "x", _("expiry")  # ref: the day
        REFUND = "r", _("refunded order")  # ref: the purchase's id
        BY_HAND = "", _("by hand")

    # No foreign key constraints in the database: the nightly run inserts rows in bulk from rows
    # that exist, and PostgreSQL would check each (at commit) one by one, which took longer than
    # the granting itself. Django still cascades a client's deletion and protects a used rule.
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="points", verbose_name=_("client"),
                               db_index=False, db_constraint=False)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    points = models.IntegerField(_("points"), help_text=_("Positive adds to the balance, negative takes away."))
    day = models.DateField(_("day"), help_text=_("The day the points count for (the activity's day)."))
    expires_on = models.DateField(_("expires on"), null=True, blank=True)
    rule = models.ForeignKey(PointRule, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                             verbose_name=_("rule"), db_index=False, db_constraint=False)
    # The natural key of an automatic row (source, ref, rule), unique per client: granting again finds it.
    source = models.CharField(_("source"), max_length=1, choices=Source.choices, blank=True, default="")
    ref = models.BigIntegerField(_("source id"), null=True, blank=True)
    # A shop's own id for a spending (e.g. its redemption id): the same one is recorded once.
    reference = models.CharField(_("reference"), max_length=64, null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("by"))

    objects = PointsEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("points ledger entry")
        verbose_name_plural = _("points ledger")
        ordering = ["-day", "-id"]
        # The natural keys' indexes lead with the client: they also serve a client's balance.
        constraints = [
            models.UniqueConstraint(fields=["client", "source", "ref", "rule"],
                                    condition=Q(ref__isnull=False, rule__isnull=False), name="loyalty_entry_once"),
            models.UniqueConstraint(fields=["client", "source", "ref"],
                                    condition=Q(ref__isnull=False, rule__isnull=True),
                                    name="loyalty_ruleless_entry_once"),
            models.UniqueConstraint(fields=["client", "reference"], condition=Q(reference__isnull=False),
                                    name="loyalty_reference_once"),
            models.CheckConstraint(condition=~Q(kind="adjusted", reason=""), name="loyalty_adjustment_has_reason",
                                   violation_error_message=_("A manual adjustment needs a reason.")),
        ]
        indexes = [models.Index(fields=["client", "day"], name="loyalty_entry_client_day")]

    def __str__(self):
        return f"{self.client_id} {self.points:+d} {self.kind} {self.day}"

    def save(self, *args, **kwargs):
        if self.pk is not None:  # append-only: a correction is a new row
            raise ValueError("points ledger entries are never changed; record an adjustment instead")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("points ledger entries are never deleted; record an adjustment instead")

    @property
    def source_shown(self):
        if self.ref is None:
            return self.get_source_display()
        if self.source in (self.Source.STREAK, self.Source.EXPIRY):
            return f"{self.get_source_display()} {EPOCH_DATE + dt.timedelta(days=self.ref)}"
        return f"{self.get_source_display()} #{self.ref}"


class ExpiryProgress(models.Model):
    """How far the nightly run has expired points: expiry dates up to `through` are done, and lots
    recorded after `checked_at` (a rule reaching into the past, a late import) are looked at again."""

    through = models.DateField(null=True)
    checked_at = models.DateTimeField(null=True)

    class Meta:
        verbose_name = _("points expiry progress")
        verbose_name_plural = _("points expiry progress")

    def __str__(self):
        return f"through {self.through}"
