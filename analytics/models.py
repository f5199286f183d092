from django.db import models
from django.utils.translation import gettext_lazy as _

from segments.models import ScoringRun


class Dashboard(models.Model):
    """No table: the admin's "Analytics → Dashboards" entry and the permission to see the pages
    (analytics.view_dashboard, the only permission of this model)."""

    class Meta:
        managed = False
        default_permissions = ("view",)
        verbose_name = _("dashboard")
        verbose_name_plural = _("dashboards")

    def __str__(self):
        return str(self._meta.verbose_name)


class SnapshotQuerySet(models.QuerySet):
    def latest_one(self):
        return self.select_related("run").order_by("-run__finished_at", "-id").first()


class Snapshot(models.Model):
    """The dashboards' heavy tables, computed once after a nightly run succeeded (precompute.py).

    `data` is plain JSON: monthly aggregates and month-range matrices (so any period of whole months
    is answered without touching purchases), cohorts, LTV groups, the RFM grid, survey counts and
    campaign results. Pages read the newest snapshot only.
    """

    run = models.OneToOneField(ScoringRun, on_delete=models.CASCADE, related_name="analytics_snapshot",
                               verbose_name=_("scoring run"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    seconds = models.FloatField(_("seconds to compute"), default=0)
    data = models.JSONField(_("data"), default=dict)

    objects = SnapshotQuerySet.as_manager()

    class Meta:
        verbose_name = _("dashboard snapshot")
        verbose_name_plural = _("dashboard snapshots")

    def __str__(self):
        return f"{self.run.as_of} ({self.seconds:.1f} s)"


class MarketingSpend(models.Model):
    """Money spent on acquiring clients through one channel in one month: the CAC's numerator."""

    channel = models.CharField(
        _("acquisition channel"), max_length=64,
        help_text=_("As in the clients' acquisition channel, e.g. google-ads, meta, organic."))
    month = models.DateField(_("month"), help_text=_("Any day of the month; stored as its first day."))
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2,
                                 help_text=_("In the shop's currency."))
    note = models.CharField(_("note"), max_length=200, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("marketing spend")
        verbose_name_plural = _("marketing spend")
        ordering = ["-month", "channel"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "month"], name="one_spend_per_channel_month"),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="spend_not_negative"),
        ]

    def __str__(self):
        return f"{self.channel} {self.month:%Y-%m}: {self.amount}"

    def save(self, *args, **kwargs):
        self.month = self.month.replace(day=1)
        super().save(*args, **kwargs)


# --- The snapshot's history by month (history.py) ------------------------------------------------
# Kept between nights so that a night recomputes only the months whose orders or activity changed.
# Plain integers for clients, no foreign key: an erased client's rows must outlive it until the
# next snapshot notices that its months changed.

class ClientMonth(models.Model):
    """One client's completed orders in one month (as of the last snapshot), with its neighbours:
    the previous and next month the client ordered in and their first such month."""

    client_id = models.BigIntegerField()
    month = models.IntegerField()  # months.index_of
    orders = models.IntegerField()
    # Whole numbers, so that sums over any set of rows, in any order, come out exactly the same.
    cents = models.BigIntegerField()
    first_at = models.BigIntegerField()  # microseconds since 1970 of the month's first and last order
    last_at = models.BigIntegerField()
    channel = models.CharField(max_length=64)  # the client's acquisition channel
    prev_month = models.IntegerField(null=True)
    prev_last_at = models.BigIntegerField(null=True)
    next_month = models.IntegerField(null=True)
    first_month = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["month"], name="client_month_month"),
                   models.Index(fields=["client_id", "month"], name="client_month_client")]

    def __str__(self):
        return f"{self.client_id} {self.month}"


class ActiveMonth(models.Model):
    """A month in which a client ordered or had an activity event, with the previous such month."""

    client_id = models.BigIntegerField()
    month = models.IntegerField()
    ordered = models.BooleanField()
    visited = models.BooleanField()
    prev_month = models.IntegerField(null=True)

    class Meta:
        indexes = [models.Index(fields=["month"], name="active_month_month"),
                   models.Index(fields=["client_id", "month"], name="active_month_client")]

    def __str__(self):
        return f"{self.client_id} {self.month}"


class MonthPiece(models.Model):
    """A month's share of the snapshot (small GROUP BYs over its ClientMonth and ActiveMonth rows),
    with the fingerprints of its orders and activity that tell the next night whether it changed."""

    month = models.IntegerField(unique=True)
    orders_print = models.JSONField(default=list)
    activity_print = models.JSONField(default=list)
    data = models.JSONField(default=dict)
    computed_at = models.DateTimeField()

    def __str__(self):
        return str(self.month)


class HistoryMark(models.Model):
    """One row: when the history was last brought up to date (clients updated since then are
    checked for a changed acquisition channel)."""

    checked_at = models.DateTimeField()

    def __str__(self):
        return str(self.checked_at)
