import json

from django import forms
from django.contrib import admin
from django.http import JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm import audit, csvsafe
from crm.admin import ClientAdmin
from crm.admin_denied import MissingPermission
from crm.models import Client
from crm.money import format_money, format_percent

from . import dashboard, export, notes
from .builtin import band_name, description_for, segment_name
from .models import ClientScore, ScoringRun, Segment, SegmentMembership, count_matching
from .rules import RuleError, to_q
from .widgets import RuleBuilder


class SegmentFilter(admin.SimpleListFilter):
    """Clients currently in a segment (the link from a segment's page to its members)."""

    title = _("segment")
    parameter_name = "segment"

    def lookups(self, request, model_admin):
        return [(s.slug, s.display_name) for s in Segment.objects.filter(is_active=True)]

    def queryset(self, request, queryset):
        if self.value():
            members = SegmentMembership.objects.filter(segment__slug=self.value(), left_at__isnull=True)
            return queryset.filter(id__in=members.values("client_id"))
        return queryset


class ScoredClientAdmin(ClientAdmin):
    """The client page with the client's current scores and where they moved between segments."""

    list_filter = (SegmentFilter, *ClientAdmin.list_filter)

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), "scores", "segment_history")

    def get_fieldsets(self, request, obj=None):
        extra = (_("Scores and segments"), {"fields": ("scores", "segment_history")})
        return (*super().get_fieldsets(request, obj), extra)

    @admin.display(description=_("current scores"))
    def scores(self, obj):
        score = ClientScore.objects.current().filter(client=obj).first()
        if score is None:
            return _("not scored yet")
        segment = segment_name(score.rfm_segment) if score.rfm_segment else _("prospect")
        fields = [("RFM", f"{score.r or '-'}{score.f or '-'}{score.m or '-'} {segment}"),
                  (_("orders"), score.frequency), (_("revenue"), format_money(score.monetary)),
                  (_("days since last order"), score.recency_days),
                  (_("churn risk"), f"{format_percent(score.churn_risk)} ({band_name(score.churn_band)})"
                   if score.churn_risk is not None else "-"),
                  (_("predicted value"), format_money(score.predicted_clv)),
                  (_("expected next order"), score.next_order_at or "-"),
                  (_("engagement"), f"{score.engagement_score:.0f} ({band_name(score.engagement_band)})"),
                  (_("activity 30 / 90 days"), f"{score.activity_30} / {score.activity_90}")]
        return format_html("<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", fields))

    @admin.display(description=_("segment history"))
    def segment_history(self, obj):
        memberships = (SegmentMembership.objects.filter(client=obj).select_related("segment")
                       .order_by("-entered_at", "segment__slug")[:50])
        lines = format_html_join("", "<li>{}</li>", ((line,) for line in history_lines(memberships)))
        return format_html("<ul>{}</ul>", lines)


def history_lines(memberships):
    """'20 Nov 2026: moved from Loyal to At risk' for RFM moves; entered / left for the others. Segments by
    their names in the user's language (a slug is for the system), dates as the language writes them."""
    memberships = list(memberships)
    rfm_left = {s.left_at: s.segment for s in memberships if s.segment.kind == Segment.Kind.RFM and s.left_at}
    lines = []
    for s in memberships:
        values = {"date": date_format(s.entered_at), "segment": s.segment.display_name}
        if s.segment.kind == Segment.Kind.RFM and s.entered_at in rfm_left:
            lines.append(gettext("%(date)s: moved from %(old)s to %(new)s") % {
                "date": values["date"], "old": rfm_left[s.entered_at].display_name, "new": values["segment"]})
        elif s.left_at:
            lines.append(gettext("%(date)s: entered %(segment)s, left %(left)s") % {
                **values, "left": date_format(s.left_at)})
        else:
            lines.append(gettext("%(date)s: entered %(segment)s") % values)
    return lines


admin.site.unregister(Client)
admin.site.register(Client, ScoredClientAdmin)


class SegmentForm(forms.ModelForm):
    class Meta:
        model = Segment
        fields = ["name", "slug", "description", "rule", "is_active"]
        widgets = {"rule": RuleBuilder(count_hint=_("in the last night's scores"))}
        help_texts = {"rule": _("Pick a field, an operator and a value; groups combine their conditions with AND "
                                "or OR. The advanced view shows the rule as it is stored (JSON).")}

    def clean_rule(self):
        rule = self.cleaned_data["rule"]
        if self.instance.kind != Segment.Kind.RULE and self.instance.pk:
            return self.instance.rule
        try:
            to_q(rule)
        except RuleError as exc:
            raise forms.ValidationError(str(exc)) from None
        return rule


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = ("display_name", "slug", "kind", "size", "is_active", "members_link")
    list_filter = ("kind", "is_active")
    search_fields = ("slug", "name")
    readonly_fields = ("kind", "size", "size_history")

    def get_readonly_fields(self, request, obj=None):
        if obj and obj.kind != Segment.Kind.RULE:
            return (*self.readonly_fields, "slug", "rule", "builtin_description")  # kept by the nightly run
        return self.readonly_fields

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if obj and obj.kind != Segment.Kind.RULE:  # the nightly run's own text, shown in the user's language
            return ["builtin_description" if name == "description" else name for name in fields]
        return fields

    @admin.display(description=_("name"), ordering="name")
    def display_name(self, obj):
        return obj.display_name

    @admin.display(description=_("description"))
    def builtin_description(self, obj):
        return description_for(obj.slug) or obj.description

    def has_delete_permission(self, request, obj=None):
        return obj is None or obj.kind == Segment.Kind.RULE

    @admin.display(description=_("members"))
    def members_link(self, obj):
        return format_html("<a href='{}?segment={}'>{}</a>", reverse("admin:crm_client_changelist"), obj.slug,
                           _("clients"))

    @admin.display(description=_("size over time"))
    def size_history(self, obj):
        sizes = list(obj.sizes.order_by("-as_of")[:60])[::-1]
        if not sizes:
            return "-"
        peak = max(s.size for s in sizes) or 1
        bars = format_html_join("", "<div title='{}: {}' style='display:inline-block;width:6px;margin-right:1px;"
                                    "background:#417690;height:{}px'></div>",
                                ((s.as_of, s.size, max(1, int(60 * s.size / peak))) for s in sizes))
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>+{}</td><td>-{}</td></tr>",
                                ((s.as_of, s.size, s.entered, s.left) for s in sizes[::-1][:15]))
        return format_html("<div style='height:62px;display:flex;align-items:flex-end'>{}</div>"
                           "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{}</table>",
                           bars, _("as of"), _("clients"), _("entered"), _("left"), rows)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.kind = Segment.Kind.RULE
        super().save_model(request, obj, form, change)

    def get_urls(self):
        return [path("count/", self.admin_site.admin_view(self.count_view), name="segments_segment_count"),
                *super().get_urls()]

    def count_view(self, request):
        """The live count beside a rule being edited: GET ?rule=<JSON> -> {"count": N} clients matching in
        the current scores, or 400 {"error": "..."} naming the wrong condition."""
        if not self.has_view_permission(request):
            raise MissingPermission("segments.view_segment")
        try:
            count = count_matching(json.loads(request.GET.get("rule") or "{}"))
        except json.JSONDecodeError as exc:
            return JsonResponse({"error": gettext("The rule is not valid JSON: %(error)s") % {"error": exc}},
                                status=400)
        except RuleError as exc:
            return JsonResponse({"error": str(exc)}, status=400)
        return JsonResponse({"count": count})


@admin.register(ScoringRun)
class ScoringRunAdmin(admin.ModelAdmin):
    list_display = ("as_of", "status", "started_at", "finished_at", "clients", "churn_auc", "value_mae")
    list_filter = ("status",)
    # Every figure through segments/notes.py: named, and written as the reader's language writes numbers.
    readonly_fields = ("as_of", "status", "started_at", "finished_at", "error", "counts_shown", "model_report",
                       "notes_shown", "stages_shown", "migration_matrix")
    exclude = ("metrics", "migration", "counts", "notes", "stage_seconds")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("clients"))
    def clients(self, obj):
        count = obj.counts.get("clients")
        return "-" if count is None else notes.number(count, 0)

    @admin.display(description=_("churn AUC (recency only)"))
    def churn_auc(self, obj):
        c = obj.metrics.get("churn", {})
        if c.get("auc") is None:
            return notes.metric_value("method", c.get("method", "-"))
        return f"{notes.number(c['auc'], 3)} ({notes.number(c.get('baseline_auc'), 3)})"

    @admin.display(description=_("value MAE (BG/NBD)"))
    def value_mae(self, obj):
        v = obj.metrics.get("value", {})
        if v.get("mae") is None:
            return notes.metric_value("method", v.get("method", "-"))
        if v.get("baseline_mae") is None:
            return notes.number(v["mae"], 0)
        return f"{notes.number(v['mae'], 0)} ({notes.number(v['baseline_mae'], 0)})"

    @admin.display(description=_("models and back-test"))
    def model_report(self, obj):
        rows = [(f"{part}: {name}", value) for part, name, value in notes.metric_rows(obj.metrics)]
        return format_html("<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows))

    @admin.display(description=_("notes"))
    def notes_shown(self, obj):
        return format_html_join("", "<p>{}</p>", ((notes.render(note),) for note in obj.notes or ())) or "-"

    @admin.display(description=_("counts"))
    def counts_shown(self, obj):
        rows = [(notes.COUNTS.get(key, key), notes.number(value, 0)) for key, value in (obj.counts or {}).items()
                if isinstance(value, int)]
        return format_html("<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows))

    @admin.display(description=_("seconds per stage"))
    def stages_shown(self, obj):
        rows = [(notes.STAGES.get(key, key), notes.number(value, 2))
                for key, value in (obj.stage_seconds or {}).items()]
        return format_html("<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows))

    @admin.display(description=_("RFM migration, from (rows) to (columns)"))
    def migration_matrix(self, obj):
        return migration_table(obj.migration)

    def get_urls(self):
        return [
            path("dashboard/", self.admin_site.admin_view(dashboard_view), name="segments_dashboard"),
            path("scores.csv", self.admin_site.admin_view(scores_csv_view), name="segments_scores_csv"),
            *super().get_urls(),
        ]


def migration_table(migration):
    if not migration:
        return "-"
    targets = sorted({t for row in migration.values() for t in row})
    header = format_html_join("", "<th>{}</th>", ((segment_name(t) if t else _("(none)"),) for t in targets))
    body = format_html_join(
        "", "<tr><th>{}</th>{}</tr>",
        ((segment_name(source) if source else _("(new)"),
          format_html_join("", "<td>{}</td>", ((notes.number(row[t], 0) if t in row else "",) for t in targets)))
         for source, row in sorted(migration.items())))
    return format_html("<table><tr><th></th>{}</tr>{}</table>", header, body)


def dashboard_view(request):
    if not request.user.has_perm("segments.view_clientscore"):
        raise MissingPermission("segments.view_clientscore")
    run = ScoringRun.objects.current()
    context = {**admin.site.each_context(request), "title": _("Scores and segments"), "run": run,
               "grid": dashboard.rfm_grid(), "engagement": dashboard.value_by_engagement(),
               "segments": Segment.objects.filter(is_active=True).order_by("kind", "-size"),
               "migration": migration_table(run.migration) if run else "-",
               "notes": [notes.render(note) for note in run.notes] if run else [],
               "methods": {part: notes.metric_value("method", (run.metrics.get(part) or {}).get("method", "-"))
                           for part in ("churn", "value")} if run else {},
               "last_runs": ScoringRun.objects.all()[:5]}
    return render(request, "admin/segments/dashboard.html", context)


class _Echo:
    def write(self, value):
        return value


def scores_csv_view(request):
    if not request.user.has_perm("segments.export_scores"):
        raise MissingPermission("segments.export_scores")
    # The shop's client ids with their scores: personal data, so the download is recorded.
    run = ScoringRun.objects.current()
    audit.record_download("segments:scores.csv", request.user, run=run.pk if run else None)
    writer = csvsafe.writer(_Echo(), lineterminator="\n")
    response = StreamingHttpResponse((writer.writerow(row) for row in export.rows()), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="scores.csv"'
    return response
