"""Analytics in the admin: the dashboards (Analytics → Dashboards) and marketing spend.

The dashboard pages are views of DashboardAdmin (a model without a table): seeing them needs the
permission analytics.view_dashboard and staff status. They read the newest snapshot (precompute.py)
and never the big tables.
"""

from django import forms
from django.contrib import admin, messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from crm.admin_denied import MissingPermission
from crm.admin_readonly import ReadOnlyAdmin
from crm.money import format_money

from . import reports
from .models import Dashboard, MarketingSpend, Snapshot
from .spend_import import import_spend


@admin.register(Dashboard)
class DashboardAdmin(ReadOnlyAdmin):  # no rows: the dashboards' pages hang on it

    def get_urls(self):
        def page(name):
            return self.admin_site.admin_view(lambda request: self.page_view(request, name))

        return [
            path("", page("overview"), name="analytics_dashboard_changelist"),
            path("retention/", page("retention"), name="analytics_retention"),
            path("ltv/", page("ltv"), name="analytics_ltv"),
            path("engagement/", page("engagement"), name="analytics_engagement"),
            path("surveys/", page("surveys"), name="analytics_surveys"),
            path("campaigns/", page("campaigns"), name="analytics_campaigns"),
            path("csv/<slug:key>/", self.admin_site.admin_view(self.csv_view), name="analytics_csv"),
        ]

    def _check(self, request):
        if not self.has_view_permission(request):
            raise MissingPermission("analytics.view_dashboard")

    def page_view(self, request, name):
        self._check(request)
        title, functions = reports.PAGES[name]
        snapshot = Snapshot.objects.latest_one()
        context = {**self.admin_site.each_context(request), "title": title, "opts": Dashboard._meta,
                   "snapshot": snapshot, "page": name,
                   "tabs": [(key, t, reverse(TAB_URLS[key])) for key, (t, _f) in reports.PAGES.items()]}
        if request.user.has_perm("loyalty.view_pointsentry"):  # retention and LTV by tier, beside these pages
            context["tabs"].append(("loyalty", _("Loyalty tiers"), reverse("admin:loyalty_analytics")))
        if snapshot:
            period = reports.choose_period(snapshot.data, request.GET.get("from"), request.GET.get("to"))
            report = reports.Report(snapshot, period)
            query = f"?from={report.months[0]}&to={report.months[-1]}"
            charts = [function(report) for function in functions]
            context.update(
                period=period, report=report, months=snapshot.data["months"], query=query,
                period_from=report.months[0], period_to=report.months[-1],
                kpis=report.kpis() if name == "overview" else None,
                definitions=report.definitions() if name == "overview" else None,
                charts=[{"chart": c, "table": c.table(), "data": c.chart_data(), "script_id": f"chart-data-{c.key}",
                         "csv": reverse("admin:analytics_csv", args=[c.key]) + query} for c in charts])
        return render(request, "admin/analytics/dashboard.html", context)

    def csv_view(self, request, key):
        self._check(request)
        function = reports.CSV_CHARTS.get(key)
        snapshot = Snapshot.objects.latest_one()
        if function is None or snapshot is None:
            raise Http404
        period = reports.choose_period(snapshot.data, request.GET.get("from"), request.GET.get("to"))
        chart = function(reports.Report(snapshot, period))
        response = HttpResponse(chart.csv(), content_type="text/csv; charset=utf-8")
        months = snapshot.data["months"]
        response["Content-Disposition"] = (f'attachment; filename="{key}-{months[period.first]}-'
                                           f'{months[period.last]}.csv"')
        return response


TAB_URLS = {"overview": "admin:analytics_dashboard_changelist", "retention": "admin:analytics_retention",
            "ltv": "admin:analytics_ltv", "engagement": "admin:analytics_engagement",
            "surveys": "admin:analytics_surveys", "campaigns": "admin:analytics_campaigns"}


class SpendImportForm(forms.Form):
    file = forms.FileField(label=_("CSV file"), help_text=_("Columns: channel, month (YYYY-MM), amount."))


@admin.register(MarketingSpend)
class MarketingSpendAdmin(admin.ModelAdmin):
    list_display = ("month_label", "channel", "amount_shown", "note", "updated_at")
    list_filter = ("channel",)
    search_fields = ("channel",)
    date_hierarchy = "month"
    change_list_template = "admin/analytics/marketingspend/change_list.html"

    @admin.display(description=_("month"), ordering="month")
    def month_label(self, obj):
        return f"{obj.month:%Y-%m}"

    @admin.display(description=_("amount"), ordering="amount")
    def amount_shown(self, obj):
        return format_money(obj.amount)  # in the shop's currency, as the user's language writes it

    def get_urls(self):
        return [path("import/", self.admin_site.admin_view(self.import_view), name="analytics_marketingspend_import"),
                *super().get_urls()]

    def import_view(self, request):
        if not self.has_add_permission(request):
            raise MissingPermission("analytics.add_marketingspend")
        if not self.has_change_permission(request):
            raise MissingPermission("analytics.change_marketingspend")
        form = SpendImportForm(request.POST or None, request.FILES or None)
        errors = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            report = import_spend(upload.name, upload.read())
            if report.ok:
                messages.success(request, _("%(file)s: %(created)d added, %(updated)d updated, %(unchanged)d "
                                            "unchanged.") % {"file": report.file, "created": report.created,
                                                             "updated": report.updated,
                                                             "unchanged": report.unchanged})
                return redirect("admin:analytics_marketingspend_changelist")
            errors = report.errors
        context = {**self.admin_site.each_context(request), "title": _("Import marketing spend"),
                   "opts": MarketingSpend._meta, "form": form, "errors": errors[:50],
                   "more_errors": max(0, len(errors) - 50)}
        return render(request, "admin/analytics/marketingspend/import.html", context)
