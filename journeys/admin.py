"""Journeys in the admin: the list, the edit page with the diagram and its counts, actions (activate,
pause, stop, enter the segment now, export as JSON), the results page, and the client page's section.

An active journey's steps may be edited: saving publishes a new version, and clients already on their
way finish the version they entered (the page says so). A definition with a problem is refused, naming
the step.
"""

import json

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join, mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.admin_denied import MissingPermission
from crm.models import Client
from mailing.admin_client import MailingClientAdmin, when
from mailing.admin_results import count_interval, display_row, interval, money_interval

from . import entry, graph, publish, stats
from .definition import KIND_LABELS
from .models import Journey, JourneyError, Position, WebhookCall
from .transfer import export_journey


class JourneyForm(forms.ModelForm):
    class Meta:
        model = Journey
        fields = ("name", "slug", "entry", "entry_segment", "entry_event", "entry_activity_kind", "entry_date",
                  "entry_days", "exit_on_conversion", "exit_on_leaving_segment", "exit_on_unsubscribe", "reentry",
                  "reentry_days", "holdout_percent", "definition")

    def clean(self):
        cleaned = super().clean()
        journey = self.instance
        for name, value in cleaned.items():
            setattr(journey, name, value)
        if journey.state != Journey.State.DRAFT and (found := publish.problems(journey)):
            # A live journey's edit is published at once: it must run.
            raise forms.ValidationError(found)
        return cleaned


@admin.register(Journey)
class JourneyAdmin(admin.ModelAdmin):
    form = JourneyForm
    list_display = ("name", "slug", "state", "entry", "version_shown", "entered", "waiting", "results_link")
    list_filter = ("state", "entry")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("state", "version_shown", "diagram", "problems_now", "counts")
    fieldsets = [
        (None, {"fields": ("name", "slug", "state", "version_shown")}),
        (_("Entry"), {"fields": ("entry", "entry_segment", "entry_event", "entry_activity_kind", "entry_date",
                                 "entry_days")}),
        (_("Exit and re-entry"), {"fields": ("exit_on_conversion", "exit_on_leaving_segment", "exit_on_unsubscribe",
                                             "reentry", "reentry_days", "holdout_percent")}),
        (_("Steps"), {"fields": ("diagram", "counts", "definition", "problems_now"),
                      "description": _("Saving an active journey publishes its steps as a new version; clients "
                                       "already on their way finish the version they entered.")}),
    ]
    actions = ["activate_journeys", "pause_journeys", "stop_journeys", "enter_segment_now", "export_json"]

    def get_urls(self):
        view = self.admin_site.admin_view(self.results_view)
        return [path("<int:object_id>/results/", view, name="journeys_journey_results"), *super().get_urls()]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if version := publish.save_definition(obj):
            self.message_user(request, gettext("Published as version %(n)d; clients already on their way finish "
                                               "the version they entered.") % {"n": version.number})

    # --- columns and fields ---------------------------------------------------------------------

    @admin.display(description=_("live version"))
    def version_shown(self, obj):
        return obj.live_version.number if obj.live_version_id else "—"

    @admin.display(description=_("entered"))
    def entered(self, obj):
        return obj.positions.exclude(state=Position.State.HOLDOUT).count()

    @admin.display(description=_("waiting"))
    def waiting(self, obj):
        return obj.positions.filter(state__in=Position.LIVE_STATES).count()

    @admin.display(description=_("results"))
    def results_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:journeys_journey_results", args=[obj.pk]),
                           _("results"))

    @admin.display(description=_("diagram"))
    def diagram(self, obj):
        """The live version (or the draft) with, for the live version, who waits at and went through each step."""
        if obj.pk is None or not obj.definition:
            return "—"
        version = obj.live_version
        if version is not None:
            boxes, taken = stats.step_counts(obj, version)
            drawn = graph.svg(version.definition, boxes, taken)
            note = gettext("Version %(n)d, live.") % {"n": version.number}
            if version.definition != obj.definition:
                note += " " + gettext("The steps below differ: saving publishes them.")
        else:
            drawn, note = graph.svg(obj.definition), gettext("Draft: not published yet.")
        return format_html('<div class="journey-diagram">{}</div><p>{}</p>', mark_safe(drawn), note)  # noqa: S308

    @admin.display(description=_("problems"))
    def problems_now(self, obj):
        if obj.pk is None:
            return "—"
        found = publish.problems(obj)
        if not found:
            return gettext("None: the journey may be activated.")
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((p,) for p in found)))

    @admin.display(description=_("clients"))
    def counts(self, obj):
        if obj.pk is None:
            return "—"
        return format_html_join(" · ", "{}: {}", count_items(obj))

    # --- actions --------------------------------------------------------------------------------

    def _each(self, request, queryset, work, done_message):
        for journey in queryset:
            try:
                work(journey)
            except JourneyError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, done_message % {"name": journey.name})

    @admin.action(description=_("Activate (publish the steps)"), permissions=["change"])
    def activate_journeys(self, request, queryset):
        self._each(request, queryset, publish.activate, gettext("%(name)s is active."))

    @admin.action(description=_("Pause"), permissions=["change"])
    def pause_journeys(self, request, queryset):
        self._each(request, queryset, publish.pause, gettext("%(name)s is paused."))

    @admin.action(description=_("Stop (every client exits)"), permissions=["change"])
    def stop_journeys(self, request, queryset):
        self._each(request, queryset, publish.stop, gettext("%(name)s is stopped."))

    @admin.action(description=_("Enter the entry segment's members now"), permissions=["change"])
    def enter_segment_now(self, request, queryset):
        for journey in queryset:
            if journey.state != Journey.State.ACTIVE or journey.entry_segment_id is None:
                self.message_user(request, gettext("%(name)s: only an active journey with an entry segment takes "
                                                   "clients by hand.") % {"name": journey.name}, messages.ERROR)
                continue
            entered, held = entry.enter_segment_now(journey)
            self.message_user(request, gettext("%(name)s: %(n)d entered, %(h)d in the holdout.") % {
                "name": journey.name, "n": entered, "h": held})

    @admin.action(description=_("Export as JSON"), permissions=["view"])
    def export_json(self, request, queryset):
        data = [export_journey(j) for j in queryset.order_by("slug")]
        response = HttpResponse(json.dumps(data[0] if len(data) == 1 else data, indent=2, ensure_ascii=False),
                                content_type="application/json")
        name = data[0]["slug"] if len(data) == 1 else "journeys"
        response["Content-Disposition"] = f'attachment; filename="{name}.json"'
        return response

    # --- results --------------------------------------------------------------------------------

    def results_view(self, request, object_id):
        journey = get_object_or_404(Journey, pk=object_id)
        if not self.has_view_permission(request, journey):
            raise MissingPermission("journeys.view_journey")
        results = stats.journey_results(journey)
        return render(request, "admin/journeys/journey/results.html", {
            **self.admin_site.each_context(request), "title": _("Results: %(name)s") % {"name": journey.name},
            "journey": journey, "opts": Journey._meta, "results": results,
            "rows": [display_row(results.treated), display_row(results.holdout)],
            "conversion_uplift": interval(results.conversion_uplift, points=True),
            "revenue_uplift": interval(results.revenue_uplift),
            "incremental_revenue": money_interval(results.incremental_revenue),
            "incremental_conversions": count_interval(results.incremental_conversions),
            "counts": count_items(journey),
        })


@admin.register(WebhookCall)
class WebhookCallAdmin(admin.ModelAdmin):
    list_display = ("at", "url", "attempt", "status", "ok", "error")
    list_filter = ("ok",)
    readonly_fields = [f.name for f in WebhookCall._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class JourneysClientAdmin(MailingClientAdmin):
    """The client page's journeys: which the client is in, at which step, and how earlier ones ended."""

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), "journeys")

    def get_fieldsets(self, request, obj=None):
        return (*super().get_fieldsets(request, obj), (_("Journeys"), {"fields": ("journeys",)}))

    @admin.display(description=_("journeys"))
    def journeys(self, obj):
        rows = (Position.objects.filter(client=obj).select_related("journey", "version")
                .order_by("-entered_at", "-pk")[:20]) if obj.pk else []
        if not rows:
            return gettext("Not in any journey.")
        head = format_html("<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>", _("journey"),
                           _("version"), _("entered at"), _("where"), _("next step due"))
        body = format_html_join("", "<tr class='client-journey'><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td>"
                                    "<td>{}</td><td>{}</td></tr>",
                                ((reverse("admin:journeys_journey_change", args=[p.journey_id]), p.journey.name,
                                  p.version.number, when(p.entered_at), where(p), when(p.due_at)) for p in rows))
        return format_html("<table>{}{}</table>", head, body)


def count_items(journey):
    """[(label, n)]: entered, held out, waiting, done, converted, exited, failed."""
    c = stats.position_counts(journey)
    labels = dict(Position.State.choices) | dict(Position.Reason.choices) | {"entered": gettext("entered")}
    keys = ["entered", "holdout", "waiting", "running", "done", "converted", "exited", "failed"]
    return [(labels[k], c.get(k, 0)) for k in keys]


def where(position):
    """"waiting at 'offer' (email)", "exited: ordered (conversion)", "holdout group"."""
    if position.state in Position.LIVE_STATES:
        steps = {s["id"]: s for s in position.version.definition["steps"]}
        kind = steps.get(position.step, {}).get("kind", "")
        return gettext("waiting at %(step)s (%(kind)s)") % {"step": repr(position.step),
                                                            "kind": gettext(KIND_LABELS.get(kind, kind))}
    if position.reason and position.state != Position.State.HOLDOUT:
        return f"{position.get_state_display()}: {position.get_reason_display()}"
    return position.get_state_display()


admin.site.unregister(Client)
admin.site.register(Client, JourneysClientAdmin)
