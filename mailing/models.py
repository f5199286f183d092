"""Email templates (versioned), campaigns, one delivery row per recipient, address suppressions.

The campaign's and the delivery's states, and the rules for moving between them, are here and
nowhere else: `Campaign.refusal` / `may_launch()`, `may_schedule()`, ... answer "may this campaign
...?", and the querysets carry the set-based transitions (`CampaignQuerySet.finish`,
`DeliveryQuerySet.interrupt`, ...). The workflows that use them (launch, sending, repair,
lifecycle, scheduling) add the side effects: queueing, the beat entry, logging.

    campaign: draft --schedule--> scheduled --(send_at / cron / trigger fires)--> sending --> done
                                                                        (recurring, triggered: back to scheduled)
              scheduled, sending --pause--> paused --resume--> sending (or scheduled: nothing pending)
              anything but done/cancelled --cancel--> cancelled
    delivery: pending --claim--> sending --> sent | failed; pending --> suppressed (with a reason)
"""

import hashlib
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.models import Client
from segments.models import Segment
from segments.rules import RuleError, to_q

from .timing import parse_cron

__all__ = ["EmailTemplate", "EmailTemplateVersion", "Campaign", "CampaignVariant", "Delivery", "DeliveryEvent",
           "Suppression", "CampaignError"]


class CampaignError(Exception):
    """A campaign that cannot be launched, scheduled, paused, ... as asked; the message is for the user."""


class EmailTemplate(models.Model):
    """What an email says, in the Django template language. Every change of content is a new version."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    subject = models.CharField(_("subject"), max_length=255)
    preheader = models.CharField(_("preheader"), max_length=255, blank=True,
                                 help_text=_("The preview line mail clients show after the subject."))
    html_body = models.TextField(_("HTML body"))
    text_body = models.TextField(_("text body"), blank=True,
                                 help_text=_("Left empty, it is generated from the HTML body."))
    version = models.PositiveIntegerField(_("version"), default=0, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("email template")
        verbose_name_plural = _("email templates")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        # The version row and the template change together, so a delivery's version always exists.
        with transaction.atomic():
            super().save(*args, **kwargs)
            self.snapshot()

    def clean(self):
        from .templating import template_errors

        errors = template_errors(self.content())
        if errors:
            raise ValidationError(errors)

    def content(self):
        return {"subject": self.subject, "preheader": self.preheader, "html_body": self.html_body,
                "text_body": self.text_body}

    def snapshot(self):
        """The current version, created when the content changed since the last one."""
        digest = content_hash(self.content())
        latest = self.versions.order_by("-number").first()
        if latest and latest.content_hash == digest:
            return latest
        number = (latest.number if latest else 0) + 1
        version = self.versions.create(number=number, content_hash=digest, **self.content())
        EmailTemplate.objects.filter(pk=self.pk).update(version=number)
        self.version = number
        return version

    def current_version(self):
        return self.versions.order_by("-number").first() or self.snapshot()

    def duplicate(self):
        """A new template "<name> (copy)" whose first version is this one's current content."""
        version = self.current_version()
        name = unique_value(EmailTemplate.objects, "name", gettext("%(name)s (copy)") % {"name": self.name},
                            self._meta.get_field("name").max_length, " ")
        return EmailTemplate.objects.create(name=name, subject=version.subject, preheader=version.preheader,
                                            html_body=version.html_body, text_body=version.text_body)


def unique_value(queryset, field, wanted, max_length, separator):
    """`wanted` (cut to fit), or with " 2", " 3" ... (or "-2" ...: `separator`) appended: the first that
    no row of `queryset` has in `field`."""
    taken = set(queryset.filter(**{f"{field}__startswith": wanted[:max_length - 8]}).values_list(field, flat=True))
    candidate, n = wanted[:max_length], 1
    while candidate in taken:
        n += 1
        tail = f"{separator}{n}"
        candidate = wanted[:max_length - len(tail)] + tail
    return candidate


def content_hash(content):
    raw = "\x1f".join(content[key] for key in ("subject", "preheader", "html_body", "text_body"))
    return hashlib.sha256(raw.encode()).hexdigest()


class EmailTemplateVersion(models.Model):
    """A frozen copy of a template as it was at some point: deliveries point here, never to the template."""

    template = models.ForeignKey(EmailTemplate, on_delete=models.CASCADE, related_name="versions",
                                 verbose_name=_("template"))
    number = models.PositiveIntegerField(_("version"))
    content_hash = models.CharField(_("content hash"), max_length=64)
    subject = models.CharField(_("subject"), max_length=255)
    preheader = models.CharField(_("preheader"), max_length=255, blank=True)
    html_body = models.TextField(_("HTML body"))
    text_body = models.TextField(_("text body"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("email template version")
        verbose_name_plural = _("email template versions")
        ordering = ["template", "-number"]
        constraints = [models.UniqueConstraint(fields=["template", "number"], name="one_template_version_number")]

    def __str__(self):
        return f"{self.template_id} v{self.number}"


class CampaignQuerySet(models.QuerySet):
    def sending(self):
        return self.filter(state=Campaign.State.SENDING)

    def due(self, now):
        """One-off campaigns, scheduled, whose `send_at` has passed."""
        return self.filter(schedule=Campaign.Schedule.ONCE, state=Campaign.State.SCHEDULED, send_at__lte=now)

    def triggered(self):
        """The campaigns each successful night fires: on entering a segment, or before a next order is due."""
        return self.filter(Q(schedule=Campaign.Schedule.TRIGGERED, trigger_segment__isnull=False)
                           | Q(schedule=Campaign.Schedule.NEXT_ORDER_DUE, due_days__isnull=False))

    def finishable(self):
        """Sending campaigns none of whose deliveries is pending or sending. A journey's email step is
        never finished: it stays sending while its journey may write rows for it at any moment."""
        return self.sending().exclude(schedule=Campaign.Schedule.JOURNEY).exclude(
            Exists(Delivery.objects.filter(campaign=OuterRef("pk")).busy()))

    def start_sending(self):
        """-> sending: launched now unless launched before, no longer finished. Returns how many moved."""
        return self.update(state=Campaign.State.SENDING, launched_at=Coalesce(F("launched_at"), timezone.now()),
                           finished_at=None)

    def finish(self):
        """The finishable campaigns among these: done, or, for a campaign that sends again (recurring or
        triggered), back to scheduled until its next occurrence. Returns how many moved."""
        now = timezone.now()
        again = self.finishable().filter(schedule__in=Campaign.REPEATING).update(
            state=Campaign.State.SCHEDULED, finished_at=now)
        return again + self.finishable().update(state=Campaign.State.DONE, finished_at=now)

    def cancel(self):
        """-> cancelled, with every pending delivery closed as suppressed/cancelled (nobody was emailed,
        by decision, like the holdout, not by a failure). Returns the number of deliveries closed.

        The caller holds the campaigns' row locks. A sender claims only rows of a sending campaign, so
        after the update no new claim can race these rows; each pending row ends here exactly once
        (conditional on `pending`); the rows of a chunk being sent at that moment are finished by
        their sender (`sending.give_back`).
        """
        ids = list(self.values_list("pk", flat=True))
        Campaign.objects.filter(pk__in=ids).update(state=Campaign.State.CANCELLED, finished_at=timezone.now())
        return Delivery.objects.filter(campaign_id__in=ids).pending().suppress(Delivery.Reason.CANCELLED)


class Campaign(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", _("draft")
        SCHEDULED = "scheduled", _("scheduled")
        SENDING = "sending", _("sending")
        PAUSED = "paused", _("paused")
        DONE = "done", _("done")
        CANCELLED = "cancelled", _("cancelled")

    class Schedule(models.TextChoices):
        MANUAL = "manual", _("when launched")
        ONCE = "once", _("once, at a date and time")
        RECURRING = "recurring", _("recurring (cron)")
        TRIGGERED = "triggered", _("when a client enters a segment")
        # A journey's email step (journeys/): always sending, each client's row written by the journey.
        JOURNEY = "journey", _("by a journey's email step")
        NEXT_ORDER_DUE = "next_order_due", _("N days before a client's next order is due")

    class Reentry(models.TextChoices):
        ONCE = "once", _("once per client")
        AFTER_DAYS = "after_days", _("again after N days")

    # Launched by hand: draft and scheduled start a send; sending again only queues what is still
    # pending (safe to repeat).
    LAUNCHABLE = (State.DRAFT, State.SCHEDULED, State.SENDING)
    # Active: fires on its own (send_at, cron, trigger); may be paused; its beat entry is enabled.
    ACTIVE = (State.SCHEDULED, State.SENDING)
    # Launched by a schedule or a trigger: a paused campaign records the occurrence's deliveries and
    # sends them at resume (a recurring one skips its runs while paused: see scheduling).
    FIRING_STATES = (State.SCHEDULED, State.SENDING, State.PAUSED)
    # Sends again: back to scheduled, not done, once an occurrence is sent.
    REPEATING = (Schedule.RECURRING, Schedule.TRIGGERED, Schedule.NEXT_ORDER_DUE)
    # Fired by each successful nightly run (mailing/triggers.py); audience segments optional.
    NIGHTLY = (Schedule.TRIGGERED, Schedule.NEXT_ORDER_DUE)

    slug = models.SlugField(_("slug"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    template = models.ForeignKey(EmailTemplate, on_delete=models.PROTECT, related_name="campaigns",
                                 verbose_name=_("template"))
    from_email = models.CharField(_("from"), max_length=254, blank=True,
                                  help_text=_("Empty: DEFAULT_FROM_EMAIL."))
    segments = models.ManyToManyField(Segment, related_name="+", verbose_name=_("audience segments"))
    exclude_segments = models.ManyToManyField(Segment, related_name="+", blank=True,
                                              verbose_name=_("exclusion segments"))
    conditions = models.JSONField(
        _("extra conditions"), default=dict, blank=True,
        help_text=_("Optional: the same rule format as segments; applied on top of the audience segments."))
    holdout_percent = models.PositiveSmallIntegerField(
        _("holdout, %"), default=0, validators=[MinValueValidator(0), MaxValueValidator(50)],
        help_text=_("A random share of the audience that is recorded but not sent, to measure uplift."))
    # What the campaign cost, for its return on spend (results page); empty: not known.
    cost_per_message = models.DecimalField(
        _("cost per message"), max_digits=12, decimal_places=4, null=True, blank=True,
        validators=[MinValueValidator(0)],
        help_text=_("Optional, in the shop's currency: what sending one message costs (the email service's "
                    "price). Counted for every message sent or possibly sent (outcome unknown)."))
    cost_per_campaign = models.DecimalField(
        _("cost per campaign"), max_digits=14, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(0)],
        help_text=_("Optional, in the shop's currency: the fixed cost of the campaign (design, copy, "
                    "discounts paid for). With the cost per message it gives the return on spend."))
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.DRAFT)
    # When it sends: now (manual launch), once at send_at, on a cron schedule, or when a client enters
    # trigger_segment in a nightly run.
    schedule = models.CharField(_("when"), max_length=16, choices=Schedule.choices, default=Schedule.MANUAL)
    send_at = models.DateTimeField(_("send at"), null=True, blank=True)
    cron = models.CharField(_("cron schedule"), max_length=100, blank=True,
                            help_text=_("minute hour day-of-month month day-of-week, in TIME_ZONE, e.g. 0 10 1 * *"))
    periodic_task = models.OneToOneField("django_celery_beat.PeriodicTask", on_delete=models.SET_NULL, null=True,
                                         blank=True, editable=False, related_name="+")
    trigger_segment = models.ForeignKey(Segment, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                        verbose_name=_("trigger: entering segment"))
    # Next order due: the night emails the clients whose expected next order (ClientScore.next_order_at)
    # falls within this many days from the day after its as-of date.
    due_days = models.PositiveIntegerField(
        _("days before the next order is due"), null=True, blank=True,
        help_text=_("For 'N days before a client's next order is due': clients whose expected next order is at "
                    "most this many days away (0: due today)."))
    reentry = models.CharField(_("re-entry"), max_length=16, choices=Reentry.choices, default=Reentry.ONCE)
    reentry_days = models.PositiveIntegerField(_("again after, days"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    launched_at = models.DateTimeField(_("launched at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    objects = CampaignQuerySet.as_manager()

    class Meta:
        verbose_name = _("email campaign")
        verbose_name_plural = _("email campaigns")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(holdout_percent__lte=50), name="campaign_holdout_at_most_50"),
        ]

    def __str__(self):
        return self.name

    def cost(self, messages, share=1):
        """What sending `messages` cost, with `share` (0..1) of the fixed cost; None when no cost is entered.

        A part of the campaign (an A/B variant) carries the fixed cost in proportion to its messages.
        """
        if self.cost_per_message is None and self.cost_per_campaign is None:
            return None
        total = (self.cost_per_message or 0) * messages + (self.cost_per_campaign or 0) * Decimal(str(share))
        return Decimal(total).quantize(Decimal("0.01"))

    @property
    def sender(self):
        return self.from_email or settings.DEFAULT_FROM_EMAIL

    def manual_occurrence(self, now=None):
        """The occurrence a launch by hand writes: "once" for a campaign sent once; for a recurring campaign
        the local date, so a launch by hand sends at most once a day next to the cron's own occurrences."""
        if self.schedule == Campaign.Schedule.RECURRING:
            return f"{timezone.localdate(now or timezone.now()).isoformat()} manual"
        return "once"

    def setup_errors(self, variant_weights=None, has_segments=None, now=None):
        """{field: message} when the campaign's schedule, audience or variants cannot work.

        Used by the admin form and before a campaign is scheduled or fires. variant_weights: the weights
        of its variants (None: read them from the database); has_segments: whether it has audience
        segments (None: read). now: given where a person sets the schedule (the form, "schedule"), so a
        one-off time already past is refused; not when it fires, since by then its time has come.
        """
        errors = {}
        schedule = self.schedule
        if schedule == Campaign.Schedule.ONCE and self.send_at is None:
            errors["send_at"] = gettext("A campaign sent once at a date and time needs 'send at'.")
        elif schedule == Campaign.Schedule.ONCE and now is not None and self.send_at < now:
            errors["send_at"] = gettext("'Send at' is in the past; choose a date and time from now on.")
        if schedule == Campaign.Schedule.RECURRING:
            try:
                parse_cron(self.cron)
            except ValueError as exc:
                errors["cron"] = gettext("Cron schedule %(cron)s: %(error)s.") % {"cron": repr(self.cron), "error": exc}
        if schedule == Campaign.Schedule.TRIGGERED and self.trigger_segment_id is None:
            errors["trigger_segment"] = gettext("A triggered campaign needs the segment whose entrants it emails.")
        if schedule == Campaign.Schedule.NEXT_ORDER_DUE and self.due_days is None:
            errors["due_days"] = gettext("A campaign sent before the next order is due needs the number of days "
                                         "before it (0 or more).")
        if schedule in Campaign.NIGHTLY:
            if self.reentry == Campaign.Reentry.AFTER_DAYS and not self.reentry_days:
                errors["reentry_days"] = gettext("Re-entry 'again after N days' needs the number of days (at least 1).")
        else:
            if has_segments is None:
                has_segments = self.pk is not None and self.segments.exists()
            if not has_segments:
                errors["segments"] = gettext("Choose at least one audience segment.")
        if self.conditions:
            try:
                to_q(self.conditions)
            except RuleError as exc:
                errors["conditions"] = str(exc)
        if variant_weights is None:
            variant_weights = list(self.variants.values_list("weight", flat=True)) if self.pk else []
        if variant_weights and sum(variant_weights) != 100:
            errors["variants"] = gettext("The A/B variants' splits add up to %(total)s%%, not 100%%.") % {
                "total": sum(variant_weights)}
        return errors

    def duplicate(self):
        """A draft "<name> (copy)" with a unique slug and the same settings, segments, conditions and
        variants; nothing of its sending (state, dates, deliveries, beat entry) is copied."""
        fields = ("template", "from_email", "conditions", "holdout_percent", "schedule", "send_at", "cron",
                  "trigger_segment", "reentry", "reentry_days")
        slug_length = self._meta.get_field("slug").max_length
        with transaction.atomic():
            copy = Campaign.objects.create(
                name=(gettext("%(name)s (copy)") % {"name": self.name})[:self._meta.get_field("name").max_length],
                slug=unique_value(Campaign.objects, "slug", f"{self.slug[:slug_length - 5]}-copy", slug_length, "-"),
                **{name: getattr(self, name) for name in fields})
            copy.segments.set(self.segments.all())
            copy.exclude_segments.set(self.exclude_segments.all())
            CampaignVariant.objects.bulk_create(
                CampaignVariant(campaign=copy, name=v.name, template_id=v.template_id, subject=v.subject,
                                weight=v.weight) for v in self.variants.all())
        return copy

    # --- May this campaign ...? ------------------------------------------------------------------

    def refusal(self, action):
        """Why this campaign may not `action` now, as a message for the user; "" when it may.

        action: "launch" (by hand), "schedule", "pause", "resume" or "cancel". A launch by a schedule
        or a trigger asks `may_fire` instead, then `setup_refusal("launch")`.
        """
        return {"launch": self._launch_refusal, "schedule": self._schedule_refusal, "pause": self._pause_refusal,
                "resume": self._resume_refusal, "cancel": self._cancel_refusal}[action]()

    def ensure_may(self, action):
        """Raise CampaignError (its message for the user) unless the campaign may `action` now."""
        message = self.refusal(action)
        if message:
            raise CampaignError(message)

    def may_launch(self):
        return not self.refusal("launch")

    def may_schedule(self):
        return not self.refusal("schedule")

    def may_pause(self):
        return not self.refusal("pause")

    def may_resume(self):
        return not self.refusal("resume")

    def may_cancel(self):
        return not self.refusal("cancel")

    def may_fire(self, states=None):
        """Whether a schedule or a trigger may launch an occurrence now (states: those it fires in)."""
        return self.state in (states or Campaign.FIRING_STATES)

    def may_finish(self):
        """Whether it is sending with nothing left pending or in flight (`CampaignQuerySet.finish`)."""
        return Campaign.objects.filter(pk=self.pk).finishable().exists()

    def waiting_for_worker(self, now=None):
        """Sending, with deliveries due, none held by a live task and none finished for a lease period:
        nothing is working on it (no worker, or the task queue unreachable). Repair queues it again
        once the queue is back (`repair`)."""
        if self.state != Campaign.State.SENDING:
            return False
        now = now or timezone.now()
        quiet = now - timedelta(seconds=settings.CRM_CAMPAIGN_LEASE_SECONDS)
        rows = Delivery.objects.filter(campaign=self)
        return (rows.pending().filter(Q(not_before__isnull=True) | Q(not_before__lte=now)).exists()
                and not rows.live(now).exists() and not rows.filter(finished_at__gte=quiet).exists())

    def setup_refusal(self, action):
        """The refusal for a campaign whose setup cannot work (`setup_errors`); "" when it can."""
        errors = self.setup_errors(now=timezone.now() if action == "schedule" else None)
        if not errors:
            return ""
        listed = "; ".join(f"{field}: {message}" for field, message in errors.items())
        values = {"slug": repr(self.slug), "errors": listed}
        if action == "schedule":
            return gettext("Campaign %(slug)s cannot be scheduled: %(errors)s") % values
        return gettext("Campaign %(slug)s cannot be launched: %(errors)s") % values

    def _launch_refusal(self):
        slug = repr(self.slug)
        if self.schedule == Campaign.Schedule.JOURNEY:
            return self._journey_refusal()
        if self.state == Campaign.State.PAUSED:
            return gettext("Campaign %(slug)s is paused; resume it to send what is pending.") % {"slug": slug}
        if self.state not in Campaign.LAUNCHABLE:
            return gettext(
                "Campaign %(slug)s is %(state)s; only a draft or scheduled campaign can be launched (or a sending "
                "one, to queue what is still pending).") % {"slug": slug, "state": self.get_state_display()}
        if self.schedule == Campaign.Schedule.RECURRING and self.state == Campaign.State.DRAFT:
            # After a run a recurring campaign waits for its next one: launching a draft would quietly activate it.
            return gettext("Campaign %(slug)s is a recurring draft: use Schedule to make it active; Launch "
                           "then sends an extra occurrence now.") % {"slug": slug}
        if self.schedule == Campaign.Schedule.NEXT_ORDER_DUE:
            return gettext(
                "Campaign %(slug)s is sent by the nightly run to clients whose next order is due within %(days)s "
                "days. Use the Schedule action to make it active.") % {"slug": slug, "days": self.due_days}
        if self.schedule == Campaign.Schedule.TRIGGERED:
            segment = repr(self.trigger_segment.slug if self.trigger_segment_id else gettext("its trigger segment"))
            return gettext(
                "Campaign %(slug)s is triggered: it emails clients when they enter %(segment)s in the nightly run. "
                "Use the Schedule action to make it active.") % {"slug": slug, "segment": segment}
        return self.setup_refusal("launch")

    def empty_audience_refusal(self, members, reasons):
        """Why a launch by hand that would email nobody is refused, for the user: the step where the
        audience ran out. members: clients now in its audience segments; reasons: {Delivery.Reason:
        clients} of the audience left after the exclusions and conditions (none of them reachable)."""
        values = {"slug": repr(self.slug), "n": sum(reasons.values()), "members": members,
                  "segments": ", ".join(s.display_name for s in self.segments.order_by("slug"))}
        if not members:
            why = gettext("its audience segments (%(segments)s) have no members now") % values
        elif not reasons:
            why = gettext("all members of its audience segments (%(members)d) are left out by its exclusion "
                          "segments or extra conditions") % values
        elif set(reasons) == {Delivery.Reason.NO_CONSENT}:
            why = gettext("none of its clients (%(n)d) has email consent") % values
        else:
            labels = dict(Delivery.Reason.choices)
            listed = ", ".join(f"{labels.get(reason, reason)}: {count}" for reason, count in
                               sorted(reasons.items(), key=lambda item: (-item[1], item[0])))
            why = gettext("none of its clients (%(n)d) may be emailed: %(reasons)s") % {**values, "reasons": listed}
        return gettext("Campaign %(slug)s has nobody to email: %(why)s. Nothing was sent or recorded; launch it "
                       "again once it has recipients.") % {"slug": values["slug"], "why": why}

    def _schedule_refusal(self):
        slug = repr(self.slug)
        if self.schedule == Campaign.Schedule.JOURNEY:
            return self._journey_refusal()
        if self.schedule == Campaign.Schedule.MANUAL:
            return gettext("Campaign %(slug)s is sent when launched; use Launch.") % {"slug": slug}
        if self.state != Campaign.State.DRAFT:
            return gettext("Campaign %(slug)s is %(state)s; only a draft can be scheduled.") % {
                "slug": slug, "state": self.get_state_display()}
        return self.setup_refusal("schedule")

    def _journey_refusal(self):
        """A journey's email step is sent, paused and stopped with its journey (journeys/), not by hand."""
        return gettext("Campaign %(slug)s is a journey's email step: its journey sends it; pause or stop the "
                       "journey instead.") % {"slug": repr(self.slug)}

    def _pause_refusal(self):
        if self.schedule == Campaign.Schedule.JOURNEY:
            return self._journey_refusal()
        if self.state in Campaign.ACTIVE:
            return ""
        return gettext("Campaign %(slug)s is %(state)s; only a scheduled or sending campaign can be paused.") % {
            "slug": repr(self.slug), "state": self.get_state_display()}

    def _resume_refusal(self):
        if self.state == Campaign.State.PAUSED:
            return ""
        return gettext("Campaign %(slug)s is %(state)s, not paused.") % {
            "slug": repr(self.slug), "state": self.get_state_display()}

    def _cancel_refusal(self):
        if self.schedule == Campaign.Schedule.JOURNEY:
            return self._journey_refusal()
        if self.state in (Campaign.State.DONE, Campaign.State.CANCELLED):
            return f"Campaign {self.slug!r} is {self.get_state_display()} already."
        return ""


class CampaignVariant(models.Model):
    """An A/B variant: another template and/or subject for a share of the sent audience."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="variants",
                                 verbose_name=_("campaign"))
    name = models.CharField(_("name"), max_length=32, help_text=_("e.g. A, B"))
    template = models.ForeignKey(EmailTemplate, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                 verbose_name=_("template"), help_text=_("Empty: the campaign's template."))
    subject = models.CharField(_("subject"), max_length=255, blank=True,
                               help_text=_("Empty: the template's subject. Django template language."))
    weight = models.PositiveSmallIntegerField(_("split, %"), validators=[MinValueValidator(1), MaxValueValidator(100)])

    class Meta:
        verbose_name = _("A/B variant")
        verbose_name_plural = _("A/B variants")
        ordering = ["campaign", "name"]
        constraints = [models.UniqueConstraint(fields=["campaign", "name"], name="one_variant_name_per_campaign")]

    def __str__(self):
        return f"{self.campaign_id}/{self.name}"

    def clean(self):
        # The subject replaces the template's when sending: checked as a template's subject is.
        from .templating import template_errors

        if self.subject and (errors := template_errors({"subject": self.subject})):
            raise ValidationError(errors)


class DeliveryQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(state=Delivery.State.PENDING)

    def busy(self):
        """Not final yet: pending, or being sent."""
        return self.filter(state__in=Delivery.BUSY_STATES)

    def claimable(self):
        """Pending rows whose campaign is sending: the only rows a sender may claim.

        The campaign's state as EXISTS, not a join: in a conditional UPDATE with a join Django moves
        every condition into an `id IN (subquery)` and PostgreSQL would no longer re-check
        `state = 'pending'` on a row another transaction just changed. (`sending._claim` states the
        same condition in SQL.)
        """
        return self.pending().filter(
            Exists(Campaign.objects.filter(pk=OuterRef("campaign_id"), state=Campaign.State.SENDING)))

    def claimed_by(self, claim_token):
        """Rows in `sending` that the task with this claim token claimed."""
        return self.filter(state=Delivery.State.SENDING, claim_token=claim_token)

    def leased_by(self, claim_token):
        """Rows not final yet that the task with this claim token holds (its batch, see `sending`)."""
        return self.busy().filter(claim_token=claim_token)

    def lease(self, claim_token, seconds):
        """Hold these rows for the task with this token for `seconds` more (its heartbeat renews it)."""
        return self.update(claim_token=claim_token, lease_until=timezone.now() + timedelta(seconds=seconds))

    def live(self, now=None):
        """Rows not final yet held by a task whose lease has not run out: a live task has them."""
        return self.busy().filter(lease_until__gte=now or timezone.now())

    def abandoned(self, now=None):
        """Rows not final yet whose task let its lease run out: the worker died (see repair)."""
        return self.busy().filter(lease_until__lt=now or timezone.now())

    def stalled(self, cutoff):
        """Pending rows no task holds, written before `cutoff` and due before it: their task should have
        run by then."""
        return self.pending().filter(lease_until__isnull=True, created_at__lt=cutoff).filter(
            Q(not_before__isnull=True) | Q(not_before__lt=cutoff))

    def close(self, state, reason):
        """-> a final state with its reason. Returns how many rows moved."""
        return self.update(state=state, reason=reason, finished_at=timezone.now())

    def suppress(self, reason):
        return self.close(Delivery.State.SUPPRESSED, reason)

    def interrupt(self):
        """Rows left in `sending`: the message may or may not have gone out, so never resent: outcome
        unknown (at most once), until the ESP's webhooks tell (`tracking.reconcile`)."""
        return self.close(Delivery.State.UNKNOWN, Delivery.Reason.INTERRUPTED)

    def give_back(self):
        """Claimed rows never handed to the ESP: pending again, the claim's attempt undone. The task's
        lease stays: it will try them again (or, if it is ending, repair takes them when it runs out)."""
        return self.update(state=Delivery.State.PENDING, claimed_at=None, attempts=F("attempts") - 1)

    def release(self):
        """Pending rows of a dead task: no task holds them any more, ready to be queued again."""
        return self.pending().update(claim_token="", lease_until=None)


class Delivery(models.Model):
    """One recipient of one occurrence of a campaign. Sent at most once; always ends in a final state."""

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        SUPPRESSED = "suppressed", _("suppressed")
        # The worker stopped between handing the message over and recording it: it may have gone out.
        # Never resent; the ESP's webhooks turn it into sent or failed when they name it.
        UNKNOWN = "unknown", _("outcome unknown")

    class Reason(models.TextChoices):
        # Why a recipient got no email (suppressed) ...
        NO_CONSENT = "no_consent", _("no email consent")
        UNSUBSCRIBED = "unsubscribed", _("unsubscribed")
        ERASED = "erased", _("erased")
        NO_EMAIL = "no_email", _("no email address")
        BOUNCED = "bounced", _("address bounced")
        COMPLAINED = "complained", _("complained")
        SUPPRESSED_ADDRESS = "suppressed_address", _("address suppressed")
        HOLDOUT = "holdout", _("holdout group")
        FREQUENCY_CAP = "frequency_cap", _("frequency cap reached")
        CANCELLED = "cancelled", _("campaign cancelled before sending")
        # ... or why sending failed.
        REJECTED = "rejected", _("rejected by the email service")
        RENDER_ERROR = "render_error", _("template could not be rendered")
        GAVE_UP = "gave_up", _("temporary errors, retries exhausted")
        INTERRUPTED = "interrupted", _("worker stopped while sending; not resent")

    FINAL_STATES = (State.SENT, State.FAILED, State.SUPPRESSED, State.UNKNOWN)
    BUSY_STATES = (State.PENDING, State.SENDING)

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="deliveries",
                                 verbose_name=_("campaign"), db_index=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("client"))
    # "once" for a manual launch; later a date for recurring campaigns or a run id for triggered ones.
    occurrence = models.CharField(_("occurrence"), max_length=64, default="once")
    email = models.CharField(_("email"), max_length=254, blank=True)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.PENDING)
    reason = models.CharField(_("reason"), max_length=32, choices=Reason.choices, blank=True)
    error = models.TextField(_("error"), blank=True)
    variant = models.ForeignKey(CampaignVariant, on_delete=models.PROTECT, null=True, blank=True,
                                related_name="deliveries", verbose_name=_("variant"))
    template_version = models.ForeignKey(EmailTemplateVersion, on_delete=models.PROTECT, related_name="deliveries",
                                         null=True, blank=True, verbose_name=_("template version"))
    subject = models.CharField(_("subject as sent"), max_length=998, blank=True)
    message_id = models.CharField(_("ESP message id"), max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # Which task holds the row: the Celery task id, which stays the same when a task is redelivered or
    # retried. A batch task takes its rows when it starts and keeps them while `lease_until` is ahead
    # (its heartbeat renews it); repair takes over the rows of a task whose lease ran out.
    claim_token = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(_("held by its task until"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # Quiet hours: a pending row is not sent before this moment (delayed, not dropped).
    not_before = models.DateTimeField(_("not before"), null=True, blank=True)
    # Tracking, from the ESP's webhooks: the first time each happened.
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    opened_at = models.DateTimeField(_("opened at"), null=True, blank=True)
    clicked_at = models.DateTimeField(_("clicked at"), null=True, blank=True)
    bounced_at = models.DateTimeField(_("bounced at"), null=True, blank=True)
    complained_at = models.DateTimeField(_("complained at"), null=True, blank=True)
    unsubscribed_at = models.DateTimeField(_("unsubscribed at"), null=True, blank=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "client", "occurrence"], name="one_delivery_per_occurrence"),
        ]
        indexes = [
            models.Index(fields=["campaign", "state"], name="delivery_campaign_state"),
            # Repair, every few seconds: rows not final yet whose task's lease ran out, or no task holds.
            models.Index(fields=["lease_until"], name="delivery_busy_lease",
                         condition=Q(state__in=["pending", "sending"])),
            # The frequency cap counts a client's recent sends across campaigns.
            models.Index(fields=["client", "sent_at"], name="delivery_client_sent"),
            # Webhooks find the delivery by the ESP's message id.
            models.Index(fields=["message_id"], name="delivery_message_id"),
        ]

    def __str__(self):
        return f"{self.campaign_id}/{self.client_id}/{self.occurrence}: {self.state}"


class DeliveryEvent(models.Model):
    """One tracking event from the ESP, kept as received; a repeated event (same ESP event id) is ignored."""

    class Kind(models.TextChoices):
        DELIVERED = "delivered", _("delivered")
        OPENED = "opened", _("opened")
        CLICKED = "clicked", _("clicked")
        BOUNCED = "bounced", _("bounced")
        COMPLAINED = "complained", _("complained")
        UNSUBSCRIBED = "unsubscribed", _("unsubscribed")
        OTHER = "other", _("other")

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, null=True, blank=True, related_name="events",
                                 verbose_name=_("delivery"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    esp_event = models.CharField(_("ESP event type"), max_length=32, blank=True)
    # Deduplication key: the ESP's event id, or a digest of message id + event + time when it has none.
    event_key = models.CharField(_("event id"), max_length=255, unique=True)
    message_id = models.CharField(_("ESP message id"), max_length=255, blank=True)
    recipient = models.CharField(_("recipient"), max_length=254, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"))
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)

    class Meta:
        verbose_name = _("delivery event")
        verbose_name_plural = _("delivery events")
        ordering = ["-occurred_at"]

    def __str__(self):
        return f"{self.kind} {self.message_id}"


class Suppression(models.Model):
    """An address that gets no marketing email, whoever it belongs to (webhooks add bounces and complaints)."""

    class Reason(models.TextChoices):
        BOUNCE = "bounce", _("hard bounce")
        COMPLAINT = "complaint", _("spam complaint")
        UNSUBSCRIBE = "unsubscribe", _("unsubscribed")
        MANUAL = "manual", _("added by hand")

    # Delivery reason recorded for a recipient whose address is suppressed.
    DELIVERY_REASON = {
        Reason.BOUNCE: Delivery.Reason.BOUNCED,
        Reason.COMPLAINT: Delivery.Reason.COMPLAINED,
        Reason.UNSUBSCRIBE: Delivery.Reason.UNSUBSCRIBED,
        Reason.MANUAL: Delivery.Reason.SUPPRESSED_ADDRESS,
    }

    email = models.CharField(_("email"), max_length=254, unique=True, help_text=_("Stored in lower case."))
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices, default=Reason.MANUAL)
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("suppressed address")
        verbose_name_plural = _("suppressed addresses")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.email} ({self.reason})"

    def save(self, *args, **kwargs):
        self.email = normalize_email(self.email)
        super().save(*args, **kwargs)


def normalize_email(address):
    return (address or "").strip().lower()
