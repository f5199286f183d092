import datetime as dt
import json

from django import forms
from django.contrib import admin, messages
from django.db.models import (
    CharField,
    DateField,
    DateTimeField,
    DecimalField,
    F,
    FilteredRelation,
    FloatField,
    IntegerField,
    Q,
    Value,
)
from django.db.models.functions import Coalesce
from django.http import JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from crm import audit, csvsafe
from crm.admin import ClientAdmin
from crm.admin_denied import MissingPermission
from crm.models import Client
from crm.money import EMPTY, format_money, format_percent

from . import dashboard, export, model_report, notes
from .builtin import band_name, description_for, segment_name
from .membership import count_rule, evaluate_rule_segment
from .models import ClientScore, ScoringRun, Segment, SegmentMembership, value_band_bounds
from .rfm import SEGMENT_NAMES
from .rules import RuleError, to_q
from .widgets import RuleBuilder

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


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


class ChurnBandFilter(admin.SimpleListFilter):
    title = _("churn band")
    parameter_name = "churn_band"

    def lookups(self, request, model_admin):
        return [(band, band_name(band)) for band in ("high", "medium", "low")]

    def queryset(self, request, queryset):
        return queryset.filter(score_churn_band=self.value()) if self.value() else queryset


class ValueBandFilter(admin.SimpleListFilter):
    """Predicted value by share of the scored clients (segments.models.VALUE_BANDS)."""

    title = _("predicted value")
    parameter_name = "value_band"

    def lookups(self, request, model_admin):
        return [("high", _("high (top 20%)")), ("medium", _("medium (next 30%)")), ("low", _("low (the rest)")),
                ("none", _("none"))]

    def queryset(self, request, queryset):
        value = self.value()
        run = ScoringRun.objects.current()
        if not value or run is None:
            return queryset
        if value == "none":
            return queryset.filter(Q(score_predicted_clv=0) | Q(score_predicted_clv__isnull=True))
        bounds = value_band_bounds(run.pk)
        higher = {"high": None, "medium": bounds["high"], "low": bounds["medium"]}[value]
        lowest = bounds[value] if value != "low" else None
        if bounds[value] is None:  # nobody has a predicted value yet
            return queryset.none()
        queryset = queryset.filter(score_predicted_clv__gt=0)
        if lowest is not None:
            queryset = queryset.filter(score_predicted_clv__gte=lowest)
        if higher is not None:
            queryset = queryset.filter(score_predicted_clv__lt=higher)
        return queryset


class RfmSegmentFilter(admin.SimpleListFilter):
    title = _("RFM segment")
    parameter_name = "rfm"

    def lookups(self, request, model_admin):
        return [(slug, segment_name(slug)) for slug in SEGMENT_NAMES]

    def queryset(self, request, queryset):
        return queryset.filter(score_rfm_segment=self.value()) if self.value() else queryset


# The current run's score columns the client list shows and sorts by, annotated as score_<column>.
SCORE_COLUMNS = ("churn_risk", "churn_band", "predicted_clv", "last_purchase_at", "next_order_at", "frequency",
                 "rfm_segment", "tier")
NO_SCORE = {"churn_risk": FloatField(), "churn_band": CharField(), "predicted_clv": DecimalField(),
            "last_purchase_at": DateTimeField(), "next_order_at": DateField(), "frequency": IntegerField(),
            "rfm_segment": CharField(), "tier": CharField()}


class ScoredClientAdmin(ClientAdmin):
    """The client page and list with the client's current scores and where they moved between segments.

    The list's score columns come from one outer join to the current run's score rows (by the unique
    (run, client) index); a page of 50 reads 50 of them unless it is sorted or filtered by a score.
    The list is counted as crm's (EstimatedCountPaginator): capped, never the whole table."""

    # The id and name to know who it is; contacts, country and consent are on the client's page (and
    # filters): the score columns need the room at 1440 pixels, and the list is for choosing by value.
    list_display = ("external_id", "full_name", "churn_risk_shown",
                    "predicted_value", "last_order", "next_order", "orders", "rfm_segment_shown")
    list_filter = (SegmentFilter, ChurnBandFilter, ValueBandFilter, RfmSegmentFilter, *ClientAdmin.list_filter)
    change_list_template = "admin/crm/client/change_list.html"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        run = ScoringRun.objects.current()
        if run is None:
            return queryset.annotate(**{f"score_{c}": Value(None, output_field=f) for c, f in NO_SCORE.items()})
        queryset = queryset.annotate(current_score=FilteredRelation("scores", condition=Q(scores__run_id=run.pk)))
        return queryset.annotate(**{f"score_{c}": F(f"current_score__{c}") for c in SCORE_COLUMNS})

    @admin.display(description=_("full name"), ordering="last_name")
    def full_name(self, obj):
        return " ".join(part for part in (obj.first_name, obj.last_name) if part) or EMPTY

    # Sorting: clients without scores (new since the night, or prospects without orders) go last
    # when sorted from high to low, which is how a marketer reads these columns.
    @admin.display(description=_("churn risk"), ordering=Coalesce("score_churn_risk", -1.0))
    def churn_risk_shown(self, obj):
        return format_percent(obj.score_churn_risk)

    @admin.display(description=_("predicted value"), ordering=Coalesce("score_predicted_clv", Value(-1)))
    def predicted_value(self, obj):
        return format_money(obj.score_predicted_clv, decimals=0)

    @admin.display(description=_("last order"), ordering=Coalesce("score_last_purchase_at",
                                                                   Value(EPOCH, output_field=DateTimeField())))
    def last_order(self, obj):
        return date_format(timezone.localtime(obj.score_last_purchase_at).date(), "SHORT_DATE_FORMAT") \
            if obj.score_last_purchase_at else EMPTY

    # Soonest first; clients with no expected next order (lapsed, prospects) last.
    @admin.display(description=_("next order due"),
                   ordering=Coalesce("score_next_order_at", Value(dt.date.max, output_field=DateField())))
    def next_order(self, obj):
        return date_format(obj.score_next_order_at, "SHORT_DATE_FORMAT") if obj.score_next_order_at else EMPTY

    @admin.display(description=_("orders"), ordering=Coalesce("score_frequency", -1))
    def orders(self, obj):
        return EMPTY if obj.score_frequency is None else obj.score_frequency

    @admin.display(description=_("RFM segment"), ordering="score_rfm_segment")
    def rfm_segment_shown(self, obj):
        return segment_name(obj.score_rfm_segment) if obj.score_rfm_segment else EMPTY

    # --- Download of the list as shown (its filters, search and order) ----------------------------

    def has_download_members_permission(self, request):
        return request.user.has_perm("segments.download_members")

    def has_download_contacts_permission(self, request):
        return self.has_download_members_permission(request) and request.user.has_perm("crm.export_client_data")

    def download_columns(self, request, contacts):
        """[(header, value of a listed client)]; later layers (loyalty) add theirs."""
        columns = [("client_id", lambda c: c.external_id)]
        if contacts:
            columns += [("first_name", lambda c: c.first_name), ("last_name", lambda c: c.last_name),
                        ("email", lambda c: c.email), ("phone", lambda c: c.phone)]
        return columns + [
            ("rfm_segment", lambda c: c.score_rfm_segment or ""),
            ("churn_risk", lambda c: "" if c.score_churn_risk is None else round(c.score_churn_risk, 4)),
            ("churn_band", lambda c: c.score_churn_band or ""),
            ("predicted_clv", lambda c: "" if c.score_predicted_clv is None else c.score_predicted_clv),
            ("last_order", lambda c: c.score_last_purchase_at.date().isoformat() if c.score_last_purchase_at else ""),
            ("orders", lambda c: "" if c.score_frequency is None else c.score_frequency),
        ]

    def download_view(self, request):
        contacts = request.GET.get("contacts") == "1"
        allowed = (self.has_download_contacts_permission if contacts else self.has_download_members_permission)
        if not allowed(request):
            raise MissingPermission("crm.export_client_data" if contacts else "segments.download_members")
        params = request.GET.copy()
        params.pop("contacts", None)
        request.GET = params  # the list's own parameters: the same filters, search and order as on screen
        changelist = self.get_changelist_instance(request)
        # Erased clients are left out: their anonymous rows count in totals, not in files about people.
        clients = changelist.get_queryset(request).filter(erased_at__isnull=True)
        columns = self.download_columns(request, contacts)
        name = "clients-with-contacts.csv" if contacts else "clients-scores.csv"
        # Client ids point at people: every download is recorded, with the list's filters.
        audit.record_download(f"crm:{name}", request.user, filters=params.urlencode(), contacts=contacts)
        writer = csvsafe.writer(_Echo(), lineterminator="\n")

        def lines():
            yield writer.writerow([header for header, _ in columns])
            for client in clients.iterator(chunk_size=2000):
                yield writer.writerow([value(client) for _, value in columns])

        response = StreamingHttpResponse(lines(), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["Cache-Control"] = "private, no-store"
        return response

    def get_urls(self):
        return [path("download/", self.admin_site.admin_view(self.download_view), name="crm_client_download"),
                *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        query = request.GET.urlencode()
        extra_context = {**(extra_context or {}),
                         "download_query": query,
                         "may_download": self.has_download_members_permission(request),
                         "may_download_contacts": self.has_download_contacts_permission(request)}
        return super().changelist_view(request, extra_context)

    # --- The client page ----------------------------------------------------------------------------

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
                  (_("activity 30 / 90 days"), f"{score.activity_30} / {score.activity_90}"),
                  (_("visits 30 / 90 days"), f"{score.visits_30} / {score.visits_90}"),
                  (_("average time per visit"), _seconds(score.visit_seconds)),
                  (_("bounce rate"), format_percent(score.bounce_rate)),
                  (_("median days between visits"), _number(score.visit_gap_days)),
                  (_("visit-to-order conversion"), format_percent(score.visit_conversion)),
                  (_("why this churn risk"), "; ".join(score.reasons("churn")) or "-"),
                  (_("why this predicted value"), "; ".join(score.reasons("value")) or "-")]
        return format_html("<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", fields))

    @admin.display(description=_("segment history"))
    def segment_history(self, obj):
        memberships = (SegmentMembership.objects.filter(client=obj).select_related("segment")
                       .order_by("-entered_at", "segment__slug")[:50])
        lines = format_html_join("", "<li>{}</li>", ((line,) for line in history_lines(memberships)))
        return format_html("<ul>{}</ul>", lines)


def _number(value):
    return EMPTY if value is None else number_format(round(value, 1), 1, use_l10n=True)


def _seconds(value):
    """Seconds as the page reads them: '95 s' or '4 min 10 s'."""
    if value is None:
        return EMPTY
    minutes, seconds = divmod(round(value), 60)
    if not minutes:
        return gettext("%(seconds)d s") % {"seconds": seconds}
    return gettext("%(minutes)d min %(seconds)d s") % {"minutes": minutes, "seconds": seconds}


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
    readonly_fields = ("kind", "members_now", "size_history")
    actions = ["duplicate"]

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

    @admin.display(description=_("members"))
    def members_now(self, obj):
        if obj.pk is None:
            return _("Counted when you save.")
        link = format_html("<a href='{}?segment={}'>{}</a>", reverse("admin:crm_client_changelist"), obj.slug,
                           _("show the members with their scores"))
        return format_html("<strong>{}</strong> · {}", members_now_text(obj.size), link)

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
        self.evaluate(request, obj)

    def evaluate(self, request, segment):
        """Members at once rather than after the next night (segments.membership.evaluate_rule_segment)."""
        size = evaluate_rule_segment(segment)
        if size is None:
            return
        segment.size = size
        run = ScoringRun.objects.current()
        if run is None:
            self.message_user(request, gettext("%(segment)s: no members yet: nothing has been scored (run the "
                                               "scoring first).") % {"segment": segment.display_name},
                              messages.WARNING)
            return
        self.message_user(request, gettext("%(segment)s: %(members)s (by the scores of %(as_of)s and the clients' "
                                           "current details).") % {
            "segment": segment.display_name, "members": members_now_text(size),
            "as_of": date_format(run.as_of, "SHORT_DATE_FORMAT")}, messages.SUCCESS)

    @admin.action(description=_("Duplicate the selected rule segments"), permissions=["add"])
    def duplicate(self, request, queryset):
        """A copy of each rule segment, "<name> (copy)" with a free slug and the same rule, evaluated at once."""
        for segment in queryset.order_by("slug"):
            if segment.kind != Segment.Kind.RULE:
                self.message_user(request, gettext("%(segment)s is kept by the nightly run and has no rule to copy: "
                                                   "not duplicated.") % {"segment": segment.display_name},
                                  messages.WARNING)
                continue
            copy = segment.duplicate()
            self.log_addition(request, copy, [{"added": {}}])
            self.evaluate(request, copy)
        return None

    def get_urls(self):
        return [path("count/", self.admin_site.admin_view(self.count_view), name="segments_segment_count"),
                *super().get_urls()]

    def count_view(self, request):
        """How many clients a rule (not saved) selects now: for the live count next to a rule being edited.

        GET ?rule=<the rule as JSON>, or POST a JSON body {"rule": <the rule>} (with the CSRF token header).
        200 {"count": n, "as_of": "YYYY-MM-DD" or null}; 400 {"error": "<the wrong part named>"}; 403 without
        the permission to view segments. Shape documented in docs/scoring.md.
        """
        if not self.has_view_permission(request):
            raise MissingPermission("segments.view_segment")
        try:
            if request.method == "POST":
                body = json.loads(request.body or b"{}")
                if not isinstance(body, dict) or "rule" not in body:
                    return JsonResponse({"error": gettext('Send {"rule": ...} as the JSON body.')}, status=400)
                rule = body["rule"]
            else:
                rule = json.loads(request.GET.get("rule") or "{}")
            count = count_rule(rule)
        except json.JSONDecodeError as exc:
            return JsonResponse({"error": gettext("The rule is not valid JSON: %(error)s") % {"error": exc}},
                                status=400)
        except RuleError as exc:
            return JsonResponse({"error": str(exc)}, status=400)
        run = ScoringRun.objects.current()
        return JsonResponse({"count": count, "as_of": run.as_of.isoformat() if run else None})


def members_now_text(size):
    """ "1,234 members now", the number grouped as the user's language groups it."""
    return ngettext("%(n)s member now", "%(n)s members now", size) % {
        "n": number_format(size, use_l10n=True, force_grouping=True)}


@admin.register(ScoringRun)
class ScoringRunAdmin(admin.ModelAdmin):
    list_display = ("as_of", "status", "started_at", "finished_at", "clients", "churn_auc", "value_mae")
    list_filter = ("status",)
    # Every figure through segments/notes.py: named, and written as the reader's language writes numbers.
    readonly_fields = ("as_of", "status", "started_at", "finished_at", "error", "quality_warning", "counts_shown",
                       "models_compared", "reliability", "model_report", "notes_shown", "stages_shown",
                       "migration_matrix")
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

    @admin.display(description=_("quality"))
    def quality_warning(self, obj):
        before = (ScoringRun.objects.filter(status=ScoringRun.Status.SUCCEEDED, as_of__lt=obj.as_of)
                  .order_by("-as_of", "-finished_at")[:model_report.PREVIOUS_NIGHTS])
        falls = model_report.quality_falls(obj, list(before))
        if not falls:
            return _("no model did noticeably worse than on the previous nights")
        return format_html('<ul class="messagelist"><li class="warning">{}</li></ul>', format_html_join(
            "", "{}<br>", ((fall,) for fall in [gettext("Quality fell:"), *falls])))

    @admin.display(description=_("every model and baseline, back-tested"))
    def models_compared(self, obj):
        return (model_report.churn_table(obj.metrics) + model_report.value_table(obj.metrics)) or "-"

    @admin.display(description=_("reliability: predicted and observed churn by band"))
    def reliability(self, obj):
        return model_report.reliability_svg(obj.metrics) or "-"

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
