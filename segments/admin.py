import json

from django import forms
from django.contrib import admin
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm import audit, csvsafe
from crm.admin import ClientAdmin
from crm.models import Client
from crm.money import format_money, format_percent

from . import dashboard, export
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
    """'2026-11-20: moved from loyal to at-risk' for RFM moves; entered / left for the others (by slug)."""
    memberships = list(memberships)
    rfm_left = {s.left_at: s.segment.slug for s in memberships if s.segment.kind == Segment.Kind.RFM and s.left_at}
    lines = []
    for s in memberships:
        if s.segment.kind == Segment.Kind.RFM and s.entered_at in rfm_left:
            lines.append(gettext("%(date)s: moved from %(old)s to %(new)s") % {
                "date": s.entered_at, "old": rfm_left[s.entered_at], "new": s.segment.slug})
        elif s.left_at:
            lines.append(gettext("%(date)s: entered %(segment)s, left %(left)s") % {
                "date": s.entered_at, "segment": s.segment.slug, "left": s.left_at})
        else:
            lines.append(gettext("%(date)s: entered %(segment)s") % {
                "date": s.entered_at, "segment": s.segment.slug})
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
            raise PermissionDenied
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
    readonly_fields = ("as_of", "status", "started_at", "finished_at", "error", "counts", "model_report", "notes",
                       "stage_seconds", "migration_matrix")
    exclude = ("metrics", "migration")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("clients"))
    def clients(self, obj):
        return obj.counts.get("clients")

    @admin.display(description=_("churn AUC (recency only)"))
    def churn_auc(self, obj):
        c = obj.metrics.get("churn", {})
        return f"{c['auc']:.3f} ({c['baseline_auc']:.3f})" if c.get("auc") is not None else c.get("method", "-")

    @admin.display(description=_("value MAE (BG/NBD)"))
    def value_mae(self, obj):
        v = obj.metrics.get("value", {})
        if v.get("mae") is None:
            return v.get("method", "-")
        return f"{v['mae']:.0f} ({v['baseline_mae']:.0f})" if v.get("baseline_mae") is not None else f"{v['mae']:.0f}"

    @admin.display(description=_("models and back-test"))
    def model_report(self, obj):
        rows = [(f"{part}: {key}", value) for part in ("churn", "value")
                for key, value in obj.metrics.get(part, {}).items()]
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
    header = format_html_join("", "<th>{}</th>", ((t or _("(none)"),) for t in targets))
    body = format_html_join(
        "", "<tr><th>{}</th>{}</tr>",
        ((source or _("(new)"),
          format_html_join("", "<td>{}</td>", ((row.get(t, ""),) for t in targets)))
         for source, row in sorted(migration.items())))
    return format_html("<table><tr><th></th>{}</tr>{}</table>", header, body)


@permission_required("segments.view_clientscore", raise_exception=True)
def dashboard_view(request):
    run = ScoringRun.objects.current()
    context = {**admin.site.each_context(request), "title": _("Scores and segments"), "run": run,
               "grid": dashboard.rfm_grid(), "engagement": dashboard.value_by_engagement(),
               "segments": Segment.objects.filter(is_active=True).order_by("kind", "-size"),
               "migration": migration_table(run.migration) if run else "-",
               "last_runs": ScoringRun.objects.all()[:5]}
    return render(request, "admin/segments/dashboard.html", context)


class _Echo:
    def write(self, value):
        return value


@permission_required("segments.export_scores", raise_exception=True)
def scores_csv_view(request):
    # The shop's client ids with their scores: personal data, so the download is recorded.
    run = ScoringRun.objects.current()
    audit.record_download("segments:scores.csv", request.user, run=run.pk if run else None)
    writer = csvsafe.writer(_Echo(), lineterminator="\n")
    response = StreamingHttpResponse((writer.writerow(row) for row in export.rows()), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="scores.csv"'
    return response
