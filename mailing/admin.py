"""Admin for email campaigns."""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from segments.widgets import RuleBuilder

from . import (
    admin_client,  # noqa: F401  the client page's emails: registers the client admin's mailing layer
    lifecycle,
)
from .admin_launch import CampaignLaunchMixin  # launch confirmation page, its URL, and the launch's progress
from .admin_preview import TemplatePreviewMixin  # preview for a client and test send, its URL and button
from .admin_results import CampaignResultsMixin  # results page, its URL and links
from .models import Campaign, CampaignError, CampaignVariant, Delivery, EmailTemplate, EmailTemplateVersion, Suppression
from .tasks import QueueUnavailable


class EmailTemplateVersionInline(admin.TabularInline):
    model = EmailTemplateVersion
    fields = ("number", "subject", "content_hash", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(EmailTemplate)
class EmailTemplateAdmin(TemplatePreviewMixin, admin.ModelAdmin):
    # The model form runs EmailTemplate.clean(): a template that does not compile is refused with the error.
    list_display = ("name", "subject", "version", "updated_at")
    search_fields = ("name", "subject")
    readonly_fields = ("version",)
    inlines = [EmailTemplateVersionInline]
    actions = ["duplicate"]

    @admin.action(description=_("Duplicate"), permissions=["add"])
    def duplicate(self, request, queryset):
        for template in queryset:
            copy = template.duplicate()
            self.message_user(request, _("%(name)s: copied as %(copy)s.") % {"name": template.name,
                                                                            "copy": copy.name}, messages.SUCCESS)


class CampaignForm(forms.ModelForm):
    """Checks that the schedule can work: cron parses, send_at for once, trigger and re-entry days for
    triggered, conditions in the segments' rule format, and (with the inline) variant splits."""

    class Meta:
        model = Campaign
        fields = ("name", "slug", "template", "from_email", "segments", "exclude_segments", "conditions",
                  "holdout_percent", "schedule", "send_at", "cron", "trigger_segment", "due_days", "reentry",
                  "reentry_days",
                  "cost_per_message", "cost_per_campaign")
        widgets = {"conditions": RuleBuilder(count_hint=_("these conditions alone, before the segments"))}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A triggered campaign's audience is who entered its trigger segment; audience segments are optional there.
        if "segments" in self.fields:
            self.fields["segments"].required = False
            self.fields["segments"].help_text = _("Required unless the campaign is triggered or sent before the "
                                                  "next order is due; there they narrow its clients further.")

    def clean(self):
        cleaned = super().clean()
        campaign = Campaign(**{name: cleaned.get(name) for name in (
            "schedule", "send_at", "cron", "due_days", "reentry", "reentry_days", "conditions") if name in cleaned})
        campaign.pk = self.instance.pk
        campaign.trigger_segment = cleaned.get("trigger_segment")
        # Variants are checked by their inline formset, which sees the rows being edited.
        # A time already past is refused only where it is being set: a sent campaign keeps its old one.
        # (Compared to the second: the form shows no fractions of one, so an unmoved time looks changed.)
        old, new = self.instance.send_at, cleaned.get("send_at")
        moved = new is not None and (old is None or abs(new - old) >= timedelta(seconds=1))
        setting_time = moved or "schedule" in self.changed_data
        errors = campaign.setup_errors(variant_weights=[], has_segments=bool(cleaned.get("segments")),
                                       now=timezone.now() if setting_time else None)
        for field, message in errors.items():
            self.add_error(field if field in self.fields else None, message)
        return cleaned


class VariantFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        weights = [form.cleaned_data["weight"] for form in self.forms
                   if form.cleaned_data and not form.cleaned_data.get("DELETE") and form.cleaned_data.get("weight")]
        if weights and sum(weights) != 100:
            raise forms.ValidationError(_("The A/B variants' splits add up to %(total)d%%; they must add up to "
                                          "100%%.") % {"total": sum(weights)})


class CampaignVariantInline(admin.TabularInline):
    model = CampaignVariant
    formset = VariantFormSet
    fields = ("name", "weight", "subject", "template")
    extra = 0


@admin.register(Campaign)
class CampaignAdmin(CampaignLaunchMixin, CampaignResultsMixin, admin.ModelAdmin):
    form = CampaignForm
    list_display = ("name", "slug", "state_now", "schedule", "template", "holdout_percent", "launched_at",
                    "finished_at", "deliveries_sent", "deliveries_total")
    list_filter = ("state", "schedule")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("segments", "exclude_segments")
    readonly_fields = ("state_now", "launched_at", "finished_at", "periodic_task", "reach_now", "launch_progress",
                       "delivery_counts")
    inlines = [CampaignVariantInline]
    fieldsets = [
        (None, {"fields": ("name", "slug", "template", "from_email", "state_now")}),
        (_("Audience"), {"fields": ("segments", "exclude_segments", "conditions", "holdout_percent", "reach_now")}),
        (_("When"), {"fields": ("schedule", "send_at", "cron", "periodic_task", "trigger_segment", "due_days",
                                "reentry", "reentry_days"),
                     "description": _("Times are in the shop's time zone. A draft never sends by itself: use "
                                      "the Schedule action to make a scheduled campaign active.")}),
        (_("Cost"), {"fields": (("cost_per_message", "cost_per_campaign"),),
                     "description": _("Optional: the results page then shows the return on spend.")}),
        (_("Deliveries"), {"fields": ("launch_progress", "launched_at", "finished_at", "delivery_counts")}),
    ]
    actions = ["launch", "duplicate", "schedule_campaigns", "pause_campaigns", "resume_campaigns", "cancel_campaigns"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            _total=Count("deliveries"), _sent=Count("deliveries", filter=Q(deliveries__state=Delivery.State.SENT)))

    @admin.display(description=_("state"), ordering="state")
    def state_now(self, obj):
        if obj.waiting_for_worker():
            # Nothing has worked on it for a while: no worker, or the task queue is down (docs/campaigns.md).
            return _("%(state)s: waiting for a worker") % {"state": obj.get_state_display()}
        return obj.get_state_display()

    @admin.display(description=_("sent"), ordering="_sent")
    def deliveries_sent(self, obj):
        return obj._sent

    @admin.display(description=_("recipients"), ordering="_total")
    def deliveries_total(self, obj):
        return obj._total

    @admin.display(description=_("deliveries by state and reason"))
    def delivery_counts(self, obj):
        rows = list(Delivery.objects.filter(campaign=obj).values("state", "reason").annotate(n=Count("pk"))
                    .order_by("state", "reason"))
        if not rows:
            return _("none yet")
        states, reasons = dict(Delivery.State.choices), dict(Delivery.Reason.choices)
        return format_html("<table><tr><th>{}</th><th>{}</th><th>{}</th></tr>{}</table>",
                           _("state"), _("reason"), _("deliveries"), format_html_join(
                               "", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                               ((states.get(r["state"], r["state"]), reasons.get(r["reason"], r["reason"]), r["n"])
                                for r in rows)))

    @admin.action(description=_("Launch…"), permissions=["change"])
    def launch(self, request, queryset):
        # Nothing is sent from the list: the confirmation page shows whom it reaches first.
        if queryset.count() != 1:
            self.message_user(request, _("Launch: select one campaign; each launch is confirmed on its own page."),
                              messages.ERROR)
            return None
        return redirect(reverse("admin:mailing_campaign_launch", args=[queryset.get().pk]))

    @admin.action(description=_("Duplicate"), permissions=["add"])
    def duplicate(self, request, queryset):
        for campaign in queryset:
            copy = campaign.duplicate()
            self.message_user(request, _("%(name)s: copied as %(copy)s (%(slug)s), a draft.") % {
                "name": campaign.name, "copy": copy.name, "slug": copy.slug}, messages.SUCCESS)

    def _each(self, request, queryset, step, describe):
        """step(campaign) for each campaign; describe(campaign, outcome) is the success message."""
        for campaign in queryset:
            try:
                outcome = step(campaign)
            except CampaignError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            except QueueUnavailable as exc:
                self.message_user(request, f"{campaign.slug}: {exc}", messages.WARNING)
                continue
            self.message_user(request, describe(campaign, outcome), messages.SUCCESS)

    @admin.action(description=_("Schedule (make active)"), permissions=["change"])
    def schedule_campaigns(self, request, queryset):
        self._each(request, queryset, lifecycle.schedule,
                   lambda campaign, _outcome: _("%(slug)s is scheduled.") % {"slug": campaign.slug})

    @admin.action(description=_("Pause"), permissions=["change"])
    def pause_campaigns(self, request, queryset):
        self._each(request, queryset, lifecycle.pause, lambda campaign, _outcome: _(
            "%(slug)s is paused; pending deliveries wait.") % {"slug": campaign.slug})

    @admin.action(description=_("Resume"), permissions=["change"])
    def resume_campaigns(self, request, queryset):
        # lifecycle.resume and cancel return (campaign, how many deliveries they queued or closed).
        self._each(request, queryset, lifecycle.resume, lambda campaign, outcome: _(
            "%(slug)s resumed: %(count)d pending deliveries queued.") % {"slug": campaign.slug, "count": outcome[1]})

    @admin.action(description=_("Cancel"), permissions=["change"])
    def cancel_campaigns(self, request, queryset):
        self._each(request, queryset, lifecycle.cancel, lambda campaign, outcome: _(
            "%(slug)s is cancelled: %(count)d pending deliveries closed (suppressed, cancelled).")
            % {"slug": campaign.slug, "count": outcome[1]})


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("campaign", "client", "email", "occurrence", "variant", "state", "reason", "not_before", "sent_at")
    list_filter = ("state", "reason", "campaign")
    search_fields = ("email", "client__external_id", "message_id")
    list_select_related = ("campaign", "client", "variant")
    raw_id_fields = ("client",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    # Adding an address here keeps it out of every future send.
    list_display = ("email", "reason", "note", "created_at")
    list_filter = ("reason",)
    search_fields = ("email",)
