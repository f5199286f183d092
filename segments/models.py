import datetime
import functools

from django.db import connection, models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.models import Client

from .reasons import describe


class ScoringRunQuerySet(models.QuerySet):
    def current(self):
        """The run whose scores readers see: the newest one that finished."""
        return self.filter(status=ScoringRun.Status.SUCCEEDED).order_by("-finished_at", "-id").first()


class ScoringRun(models.Model):
    """One nightly (or on-demand) scoring. Its scores become visible only when it succeeds."""

    class Status(models.TextChoices):
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")

    as_of = models.DateField(_("as of"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    metrics = models.JSONField(_("model metrics"), default=dict, blank=True)
    notes = models.JSONField(_("notes"), default=list, blank=True)
    stage_seconds = models.JSONField(_("seconds per stage"), default=dict, blank=True)
    migration = models.JSONField(_("RFM migration (from -> to -> clients)"), default=dict, blank=True)

    objects = ScoringRunQuerySet.as_manager()

    class Meta:
        verbose_name = _("scoring run")
        verbose_name_plural = _("scoring runs")
        ordering = ["-started_at"]
        # Two runs at once would race on memberships: the database refuses a second running row.
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=models.Q(status="running"), name="one_running_run"),
        ]

    def __str__(self):
        return f"{self.as_of} {self.get_status_display()}"


class ClientScoreQuerySet(models.QuerySet):
    def current(self):
        run = ScoringRun.objects.current()
        return self.filter(run=run) if run else self.none()

    def next_order_due(self, day, within_days):
        """Scores whose expected next order falls on `day` or up to `within_days` days after it: the
        audience of "N days before the next order is due" (a campaign's; a journey entry's alike)."""
        return self.filter(next_order_at__range=(day, day + datetime.timedelta(days=within_days)))


# Predicted value bands, by the share of the run's clients with a predicted value: the top fifth is
# "high", the next three tenths "medium", the rest "low"; clients with none (0) are in "none".
VALUE_BANDS = (("high", 0.8), ("medium", 0.5), ("low", 0.0))


@functools.lru_cache(maxsize=8)
def value_band_bounds(run_id):
    """{band: lowest predicted value in it} for a run (a finished run's scores never change: cached)."""
    quantiles = [q for _, q in VALUE_BANDS]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT percentile_disc(%s) WITHIN GROUP (ORDER BY predicted_clv) "
                       f"FROM {ClientScore._meta.db_table} WHERE run_id = %s AND predicted_clv > 0",
                       [quantiles, run_id])
        found = cursor.fetchone()[0] or [None] * len(quantiles)
    return {band: bound for (band, _), bound in zip(VALUE_BANDS, found, strict=True)}


class ClientScore(models.Model):
    """A client's scores from one run. Rows of unfinished or superseded runs are not read."""

    # No foreign key constraints in the database: each night writes a score row per client, and
    # PostgreSQL checked both keys row by row at each commit (a lookup and a row lock per key) for
    # ids the run itself read from those tables a minute earlier.
    # Django still cascades deletions of clients and runs (the only way product code deletes them).
    run = models.ForeignKey(ScoringRun, on_delete=models.CASCADE, related_name="scores", db_index=False,
                            db_constraint=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="scores", db_index=False,
                               db_constraint=False)
    recency_days = models.IntegerField(_("days since last order"), null=True)
    frequency = models.IntegerField(_("orders"), default=0)
    monetary = models.DecimalField(_("revenue"), max_digits=16, decimal_places=2, default=0)
    avg_order_value = models.DecimalField(_("average order"), max_digits=16, decimal_places=2, null=True)
    first_purchase_at = models.DateTimeField(_("first order"), null=True)
    last_purchase_at = models.DateTimeField(_("last order"), null=True)
    avg_days_between = models.FloatField(_("average days between orders"), null=True)
    r = models.SmallIntegerField("R", null=True)
    f = models.SmallIntegerField("F", null=True)
    m = models.SmallIntegerField("M", null=True)
    rfm_segment = models.CharField(_("RFM segment"), max_length=32, blank=True)
    churn_risk = models.FloatField(_("churn risk"), null=True)
    churn_band = models.CharField(_("churn band"), max_length=16, blank=True)
    predicted_clv = models.DecimalField(_("predicted value"), max_digits=16, decimal_places=2, default=0)
    next_order_at = models.DateField(_("expected next order"), null=True)
    activity_30 = models.IntegerField(_("activity, last 30 days"), default=0)
    activity_90 = models.IntegerField(_("activity, last 90 days"), default=0)
    days_since_activity = models.IntegerField(_("days since last activity"), null=True)
    engagement_score = models.FloatField(_("engagement score"), default=0)
    engagement_band = models.CharField(_("engagement band"), max_length=16, blank=True)
    # The loyalty tier's slug as of the run (loyalty/tiers.py), '' for none: segments `tier-<slug>`.
    tier = models.CharField(_("loyalty tier"), max_length=50, blank=True, default="")
    # Visits (segments/visits.py), as of the run: shares from 0 to 1, NULL where there is nothing to measure.
    visits_30 = models.IntegerField(_("visits, last 30 days"), default=0)
    visits_90 = models.IntegerField(_("visits, last 90 days"), default=0)
    visit_seconds = models.FloatField(_("average seconds per visit"), null=True)
    bounce_rate = models.FloatField(_("bounce rate"), null=True)
    visit_gap_days = models.FloatField(_("median days between visits"), null=True)
    visit_conversion = models.FloatField(_("visit-to-order conversion"), null=True)
    # Why (segments/reasons.py): the drivers' codes, comma-separated, main first, and the main one
    # alone (what rules test: "main reason = long gap").
    churn_reasons = models.CharField(_("churn risk drivers"), max_length=64, blank=True, default="")
    churn_reason = models.CharField(_("main reason for the churn risk"), max_length=16, blank=True, default="")
    value_reasons = models.CharField(_("predicted value drivers"), max_length=64, blank=True, default="")
    value_reason = models.CharField(_("main reason for the predicted value"), max_length=16, blank=True, default="")

    objects = ClientScoreQuerySet.as_manager()

    class Meta:
        verbose_name = _("client score")
        verbose_name_plural = _("client scores")
        # The scores CSV lists the shop's client ids with their scores: a download of its own (crm/roles.py).
        # A client list with scores and no contact data (the client list's download, segments/admin.py) is
        # the working roles' own; the list with contact data needs crm.export_client_data as well.
        permissions = [("export_scores", _("Can export client scores")),
                       ("download_members", _("Can download client lists with scores (no contact data)"))]
        # The unique (run, client) index is the only one: readers look scores up by run, or by run
        # and client; only the current run's rows (and the next one's, while it is written) are
        # kept, so an index leading with the client would serve nobody else. Each index costs every
        # night an insertion per client: a second one made the score writes markedly slower.
        constraints = [models.UniqueConstraint(fields=["run", "client"], name="one_score_per_client_per_run")]

    def __str__(self):
        return f"{self.client_id} @ run {self.run_id}"

    def reasons(self, kind):
        """The drivers of the churn risk ("churn") or predicted value ("value") in plain words, with
        the client's own figures: ["no order for 140 days; usually every 35", ...]."""
        return describe(getattr(self, f"{kind}_reasons"), self, self.run.metrics.get("reasons", {}))


class Segment(models.Model):
    class Kind(models.TextChoices):
        BUILTIN = "builtin", _("built in")
        RFM = "rfm", _("RFM")
        CHURN = "churn", _("churn risk")
        ENGAGEMENT = "engagement", _("engagement")
        TIER = "tier", _("loyalty tier")
        RULE = "rule", _("rule")
        # Filled by journeys' ad-audience steps (one client at a time); the night leaves them alone.
        JOURNEY = "journey", _("fed by journeys")

    slug = models.SlugField(_("slug"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.RULE)
    description = models.TextField(_("description"), blank=True)
    rule = models.JSONField(_("rule"), default=dict, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    size = models.IntegerField(_("clients"), default=0)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["kind", "slug"]

    def __str__(self):
        return self.display_name

    @property
    def display_name(self):
        """In the user's language: the nightly run's segments are named in English in the database and
        translated for display (segments/builtin.py); a rule segment's or a tier's name is the user's own."""
        return self.name if self.kind in (self.Kind.RULE, self.Kind.TIER, self.Kind.JOURNEY) else gettext(self.name)

    def duplicate(self):
        """A new rule segment "<name> (copy)" with the same rule and a free slug; no members until it is
        evaluated (segments.membership.evaluate_rule_segment)."""
        limit = self._meta.get_field("slug").max_length
        base = f"{self.slug[:limit - len('-copy-999')]}-copy"
        taken = set(Segment.objects.filter(slug__startswith=base).values_list("slug", flat=True))
        slug = next(s for s in (base, *(f"{base}-{n}" for n in range(2, 1000))) if s not in taken)
        suffix = gettext(" (copy)")
        name = self.name[:self._meta.get_field("name").max_length - len(suffix)] + suffix
        return Segment.objects.create(slug=slug, name=name, kind=self.Kind.RULE, description=self.description,
                                      rule=self.rule, is_active=self.is_active)


class SegmentMembership(models.Model):
    """A client's time in a segment: from the run that put them in to the run that took them out."""

    # No single-column indexes on segment and entered_run: the composite indexes below lead with them.
    # No foreign key constraints in the database, as on ClientScore: a night opens and closes
    # memberships by the hundred thousand (millions on the first), and PostgreSQL checked three keys
    # per row at commit for ids the night took from those very tables. Django cascades and nulls on
    # deletion.
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships", db_index=False,
                                db_constraint=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="memberships", db_constraint=False)
    entered_at = models.DateField(_("entered on"))
    left_at = models.DateField(_("left on"), null=True, blank=True)
    entered_run = models.ForeignKey(ScoringRun, on_delete=models.SET_NULL, null=True, related_name="+",
                                    db_index=False, db_constraint=False)
    # No index on left_run either: nothing looks memberships up by the run that closed them (a
    # night counts its closings as it writes them), and each index costs an entry per closed one.
    left_run = models.ForeignKey(ScoringRun, on_delete=models.SET_NULL, null=True, related_name="+",
                                 db_index=False, db_constraint=False)

    class Meta:
        verbose_name = _("segment membership")
        verbose_name_plural = _("segment memberships")
        constraints = [
            models.UniqueConstraint(fields=["segment", "client"], condition=models.Q(left_at__isnull=True),
                                    name="one_open_membership"),
        ]
        # A segment's current members are found through one_open_membership (partial on left_at IS
        # NULL, leading with the segment): an index on (segment, left_at) was the same again, built
        # on every first fill and grown with every membership.
        indexes = [models.Index(fields=["entered_run", "segment"], name="membership_entries")]

    def __str__(self):
        return f"{self.client_id} in {self.segment_id}"


class SegmentSize(models.Model):
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="sizes")
    run = models.ForeignKey(ScoringRun, on_delete=models.CASCADE, related_name="sizes")
    as_of = models.DateField(_("as of"))
    size = models.IntegerField(_("clients"))
    entered = models.IntegerField(_("entered"), default=0)
    left = models.IntegerField(_("left"), default=0)

    class Meta:
        verbose_name = _("segment size")
        verbose_name_plural = _("segment sizes")
        ordering = ["as_of"]
        constraints = [models.UniqueConstraint(fields=["segment", "run"], name="one_size_per_run")]

    def __str__(self):
        return f"{self.segment_id} on {self.as_of}: {self.size}"
