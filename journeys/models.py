"""Journeys, their published versions, each client's position in one, and each step done.

    journey:  draft --activate--> active --pause--> paused --resume--> active; any --stop--> stopped
    version:  published once, never changed; editing an active journey publishes the next one, and a
              client finishes the version they entered.
    position: waiting (due_at: when its step is done) --claimed--> running --> waiting | done | exited
              (with a reason) | failed (with a reason); holdout: drawn at entry, never gets a step.
    step run: one row per (position, number of the step in its path): the step was done, its outcome the branch.
"""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.models import Client
from mailing.models import Campaign, Delivery
from segments.models import Segment


class JourneyError(Exception):
    """A journey that may not be activated, paused, ... as asked; the message is for the user."""


class JourneyQuerySet(models.QuerySet):
    def active(self):
        return self.filter(state=Journey.State.ACTIVE, live_version__isnull=False)


class Journey(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", _("draft")
        ACTIVE = "active", _("active")
        PAUSED = "paused", _("paused")
        STOPPED = "stopped", _("stopped")

    class Entry(models.TextChoices):
        SEGMENT = "segment", _("on entering a segment")
        EVENT = "event", _("on an event")
        DATE = "date", _("on a date")
        MANUAL = "manual", _("by hand, for a segment")

    class Event(models.TextChoices):
        ORDER = "order", _("an order")
        FIRST_ORDER = "first_order", _("a first order")
        ACTIVITY = "activity", _("an activity of a kind")

    class DateKind(models.TextChoices):
        NEXT_ORDER = "next_order", _("N days before the predicted next order")
        POINTS_EXPIRE = "points_expire", _("N days before loyalty points expire")
        BIRTHDAY = "birthday", _("N days before a birthday")

    class Reentry(models.TextChoices):
        NEVER = "never", _("never")
        AFTER_DAYS = "after_days", _("again after N days")

    slug = models.SlugField(_("slug"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.DRAFT)
    # The steps being edited; published as a new version on activation and on each save while active.
    definition = models.JSONField(_("steps"), default=dict, blank=True,
                                  help_text=_("The steps as JSON (see docs/journeys.md)."))
    live_version = models.ForeignKey("JourneyVersion", on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="+", verbose_name=_("live version"), editable=False)
    entry = models.CharField(_("entry"), max_length=16, choices=Entry.choices, default=Entry.SEGMENT)
    entry_segment = models.ForeignKey(Segment, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                      verbose_name=_("entry segment"))
    entry_event = models.CharField(_("entry event"), max_length=16, choices=Event.choices, blank=True)
    entry_activity_kind = models.CharField(_("activity kind"), max_length=64, blank=True)
    entry_date = models.CharField(_("entry date"), max_length=16, choices=DateKind.choices, blank=True)
    entry_days = models.PositiveSmallIntegerField(_("days before"), default=0)
    exit_on_conversion = models.BooleanField(_("exit on an order"), default=False)
    exit_on_leaving_segment = models.BooleanField(_("exit on leaving the entry segment"), default=False)
    exit_on_unsubscribe = models.BooleanField(_("exit on unsubscribing"), default=True)
    reentry = models.CharField(_("re-entry"), max_length=16, choices=Reentry.choices, default=Reentry.NEVER)
    reentry_days = models.PositiveIntegerField(_("again after, days"), null=True, blank=True)
    holdout_percent = models.PositiveSmallIntegerField(
        _("holdout, %"), default=0, validators=[MinValueValidator(0), MaxValueValidator(50)],
        help_text=_("A random share of the entrants that never gets any step, to measure the journey's uplift."))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    activated_at = models.DateTimeField(_("activated at"), null=True, blank=True)

    objects = JourneyQuerySet.as_manager()

    class Meta:
        verbose_name = _("journey")
        verbose_name_plural = _("journeys")
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=Q(holdout_percent__lte=50), name="journey_holdout_at_most_50")]

    def __str__(self):
        return self.name

    def entry_errors(self):
        """{field: message} when the entry or the re-entry rule cannot work."""
        errors = {}
        if self.entry in (self.Entry.SEGMENT, self.Entry.MANUAL) and self.entry_segment_id is None:
            errors["entry_segment"] = gettext("This entry needs its segment.")
        if self.exit_on_leaving_segment and self.entry_segment_id is None:
            errors["exit_on_leaving_segment"] = gettext("Exit on leaving the segment needs the entry segment.")
        if self.entry == self.Entry.EVENT and not self.entry_event:
            errors["entry_event"] = gettext("An entry on an event needs the event.")
        if self.entry_event == self.Event.ACTIVITY and not self.entry_activity_kind:
            errors["entry_activity_kind"] = gettext("An entry on an activity needs the activity's kind.")
        if self.entry == self.Entry.DATE and not self.entry_date:
            errors["entry_date"] = gettext("An entry on a date needs which date.")
        if self.reentry == self.Reentry.AFTER_DAYS and not self.reentry_days:
            errors["reentry_days"] = gettext("Re-entry 'again after N days' needs the number of days (at least 1).")
        return errors

    def clean(self):
        if errors := self.entry_errors():
            raise ValidationError(errors)


class JourneyVersion(models.Model):
    """A published definition: frozen. Positions point here, so a client finishes what they entered."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="versions",
                                verbose_name=_("journey"))
    number = models.PositiveIntegerField(_("version"))
    definition = models.JSONField(_("steps"))
    published_at = models.DateTimeField(_("published at"), auto_now_add=True)

    class Meta:
        verbose_name = _("journey version")
        verbose_name_plural = _("journey versions")
        ordering = ["journey", "-number"]
        constraints = [models.UniqueConstraint(fields=["journey", "number"], name="one_journey_version_number")]

    def __str__(self):
        return f"{self.journey_id} v{self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise JourneyError(gettext("A published journey version is never changed; publish a new one."))
        super().save(*args, **kwargs)


class JourneyEmail(models.Model):
    """The campaign that sends one email step of one version: mailing's deliveries, sending, consent,
    frequency cap, quiet hours, tracking and results, for the journey's emails too."""

    version = models.ForeignKey(JourneyVersion, on_delete=models.CASCADE, related_name="emails")
    step = models.CharField(_("step"), max_length=64)
    campaign = models.OneToOneField(Campaign, on_delete=models.PROTECT, related_name="journey_email")

    class Meta:
        verbose_name = _("journey email step")
        verbose_name_plural = _("journey email steps")
        constraints = [models.UniqueConstraint(fields=["version", "step"], name="one_campaign_per_email_step")]

    def __str__(self):
        return f"{self.version} {self.step}"


class PositionQuerySet(models.QuerySet):
    def live(self):
        return self.filter(state__in=Position.LIVE_STATES)

    def due(self, now):
        return self.filter(state=Position.State.WAITING, due_at__lte=now)

    def abandoned(self, now):
        """Claimed by a scheduler pass whose lease ran out: its worker died mid-step."""
        return self.filter(state=Position.State.RUNNING, lease_until__lt=now)


class Position(models.Model):
    """Where one client is in one journey version: the step done next, and when."""

    class State(models.TextChoices):
        WAITING = "waiting", _("waiting")
        RUNNING = "running", _("running a step")
        DONE = "done", _("finished")
        EXITED = "exited", _("exited")
        FAILED = "failed", _("failed")
        HOLDOUT = "holdout", _("holdout group")

    class Reason(models.TextChoices):
        END = "end", _("reached the end")
        EXIT_STEP = "exit_step", _("an exit step")
        CONVERTED = "converted", _("ordered (conversion)")
        LEFT_SEGMENT = "left_segment", _("left the entry segment")
        UNSUBSCRIBED = "unsubscribed", _("unsubscribed or erased")
        STOPPED = "stopped", _("the journey was stopped")
        WEBHOOK_FAILED = "webhook_failed", _("webhook failed")
        HOLDOUT = "holdout", _("holdout group")

    LIVE_STATES = (State.WAITING, State.RUNNING)

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="positions",
                                verbose_name=_("journey"))
    version = models.ForeignKey(JourneyVersion, on_delete=models.PROTECT, related_name="positions",
                                verbose_name=_("version"))
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="journey_positions",
                               verbose_name=_("client"))
    # What put the client in: a run, a day, an order; the same key never enters twice.
    entry_key = models.CharField(_("entered by"), max_length=64)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.WAITING)
    reason = models.CharField(_("reason"), max_length=32, choices=Reason.choices, blank=True)
    error = models.TextField(_("error"), blank=True)
    step = models.CharField(_("step"), max_length=64, blank=True)
    due_at = models.DateTimeField(_("due at"), null=True, blank=True)
    # Waiting for an event: since when it counts.
    waiting_since = models.DateTimeField(_("waiting since"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts at this step"), default=0)
    steps_done = models.PositiveIntegerField(_("steps done"), default=0)
    claim_token = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(_("held by its pass until"), null=True, blank=True)
    entered_at = models.DateTimeField(_("entered at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    objects = PositionQuerySet.as_manager()

    class Meta:
        verbose_name = _("journey position")
        verbose_name_plural = _("journey positions")
        constraints = [
            models.UniqueConstraint(fields=["journey", "client", "entry_key"], name="one_entry_per_key"),
            models.UniqueConstraint(fields=["journey", "client"], condition=Q(state__in=["waiting", "running"]),
                                    name="one_live_position_per_journey"),
        ]
        indexes = [
            # The scheduler's pass reads only due rows: its cost follows them, not the waiting ones.
            models.Index(fields=["due_at"], name="position_due", condition=Q(state="waiting")),
            models.Index(fields=["lease_until"], name="position_running", condition=Q(state="running")),
            models.Index(fields=["client", "state"], name="position_client"),
            models.Index(fields=["journey", "state", "step"], name="position_step"),
        ]

    def __str__(self):
        return f"{self.journey_id}/{self.client_id}: {self.state} {self.step}"


class StepRun(models.Model):
    """A step done for a position: at most once per (position, number in its path), written in the same
    transaction as the step's effect and the position's move (a webhook's call excepted: see webhooks)."""

    position = models.ForeignKey(Position, on_delete=models.CASCADE, related_name="runs")
    step = models.CharField(_("step"), max_length=64)
    # The number of the step in this position's path (1, 2, ...): a step visited again in a loop is a new row.
    seq = models.PositiveIntegerField(_("number in the path"))
    # The branch taken ("next", "yes", "no", "happened", "timed_out", "50%", "failed"), or the exit.
    outcome = models.CharField(_("outcome"), max_length=32)
    done_at = models.DateTimeField(_("done at"), default=timezone.now)
    delivery = models.ForeignKey(Delivery, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    detail = models.JSONField(_("detail"), default=dict, blank=True)

    class Meta:
        verbose_name = _("journey step done")
        verbose_name_plural = _("journey steps done")
        constraints = [models.UniqueConstraint(fields=["position", "seq"], name="one_run_per_position_step")]

    def __str__(self):
        return f"{self.position_id} #{self.seq} {self.step}: {self.outcome}"


class WebhookCall(models.Model):
    """One attempt at a webhook step's call, kept with its answer (or the error)."""

    position = models.ForeignKey(Position, on_delete=models.CASCADE, related_name="webhook_calls")
    step = models.CharField(_("step"), max_length=64)
    attempt = models.PositiveSmallIntegerField(_("attempt"))
    url = models.CharField(_("URL"), max_length=500)
    status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    ok = models.BooleanField(_("succeeded"), default=False)
    response = models.TextField(_("response"), blank=True)
    error = models.TextField(_("error"), blank=True)
    seconds = models.FloatField(_("seconds"), default=0)
    at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook call")
        verbose_name_plural = _("webhook calls")
        ordering = ["-at"]

    def __str__(self):
        return f"{self.url} #{self.attempt}: {self.status or self.error[:40]}"


def lease(seconds):
    return timezone.now() + timedelta(seconds=seconds)
