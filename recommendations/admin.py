"""The recommender's page (Recommendations → Recommendations): how each night's candidate models did in
the back-test, which one was shipped, and which products are recommended most. Read-only, for whoever
may read the scores (the lists are scores of a kind: who is likely to buy what)."""

import io

from django.contrib import admin
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from crm import csvsafe
from crm.admin_denied import MissingPermission
from crm.admin_readonly import ReadOnlyAdmin

from . import report
from .models import Recommendation

PERMISSION = "segments.view_clientscore"


@admin.register(Recommendation)
class RecommendationAdmin(ReadOnlyAdmin):
    # The lists themselves are on each client's page; this app's page is the recommender's report.

    def has_module_permission(self, request):
        return request.user.has_perm(PERMISSION)

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(PERMISSION)

    def get_urls(self):
        return [
            path("", self.admin_site.admin_view(self.report_view), name="recommendations_recommendation_changelist"),
            path("backtest.csv", self.admin_site.admin_view(self.csv_view), name="recommendations_backtest_csv"),
        ]

    def _check(self, request):
        if not self.has_view_permission(request):
            raise MissingPermission(PERMISSION)

    def report_view(self, request):
        self._check(request)
        built = report.build()
        nights = [{"night": night, "rows": [
            {"name": name, "shipped": shipped, "clients": clients,
             "measures": [report.percent(figures.get(m)) for m in report.MEASURES]}
            for name, shipped, figures, clients in night.candidates]} for night in built.nights]
        context = {**self.admin_site.each_context(request), "title": _("The recommender"),
                   "opts": Recommendation._meta, "nights": nights, "warnings": built.warnings(),
                   "top_products": [(name, sku, report.percent(share)) for name, sku, share in built.top_products],
                   "dominant_share": report.percent(report.DOMINANT_SHARE),
                   "csv": reverse("admin:recommendations_backtest_csv")}
        return render(request, "admin/recommendations/report.html", context)

    def csv_view(self, request):
        self._check(request)
        out = io.StringIO()
        csvsafe.writer(out).writerows(report.build().csv_rows())
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="recommendations-backtest.csv"'
        return response
