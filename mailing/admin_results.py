"""The campaign results page in the admin, and the mixin that links it from the campaign admin.

CampaignAdmin takes `CampaignResultsMixin` as a base: it adds the URL
/admin/mailing/campaign/<id>/results/, a "results" column in the list, and a "Results" button
on the change page. Viewing results needs only the view permission on campaigns.
"""

from django.contrib import admin
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils import formats
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.admin_denied import MissingPermission
from crm.money import format_money, format_percent

from .models import Campaign
from .results import DEFINITIONS, campaign_results

AB_METRICS = {"conversion": _("conversion rate"), "click": _("click rate"), "open": _("open rate")}


class CampaignResultsMixin:
    # Adds the Results button to the change page's object tools (the template extends the stock one).
    change_form_template = "admin/mailing/campaign/change_form_results.html"

    def get_urls(self):
        view = self.admin_site.admin_view(self.results_view)
        return [path("<int:object_id>/results/", view, name="mailing_campaign_results"), *super().get_urls()]

    def get_list_display(self, request):
        return [*super().get_list_display(request), "results_link"]

    @admin.display(description=_("results"))
    def results_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:mailing_campaign_results", args=[obj.pk]),
                           _("results"))

    def results_view(self, request, object_id):
        campaign = get_object_or_404(Campaign, pk=object_id)
        if not self.has_view_permission(request, campaign):
            raise MissingPermission("mailing.view_campaign")
        return render_results(request, campaign, self.admin_site.each_context(request))


def render_results(request, campaign, site_context):
    results = campaign_results(campaign)
    definitions = [(term, str(text).format(days=results.attribution_days)) for term, text in DEFINITIONS]
    context = {
        **site_context,
        "title": _("Results: %(name)s") % {"name": campaign.name},
        "campaign": campaign,
        "opts": Campaign._meta,
        "results": results,
        "rows": [display_row(group) for group in results.rows],
        "conversion_uplift": interval(results.conversion_uplift, points=True),
        "revenue_uplift": interval(results.revenue_uplift),
        "ab": [{"metric": AB_METRICS[key], "winner": c.winner, "runner_up": c.runner_up,
                "p_value": p_value(c.test), "significant": c.significant}
               for key, c in results.ab.items()],
        "definitions": definitions,
    }
    return render(request, "admin/mailing/campaign/results.html", context)


def p_value(test):
    if test is None:
        return None
    return "< 0.001" if test.p_value < 0.001 else f"{test.p_value:.3f}"


def display_row(group):
    return {
        "label": group.label, "audience": group.audience, "sent": group.sent, "unknown": group.unknown,
        "delivered": group.delivered,
        "open_rate": format_percent(group.open_rate), "click_rate": format_percent(group.click_rate),
        "bounced": group.bounced, "complained": group.complained, "unsubscribed": group.unsubscribed,
        "measured": group.measured,
        "conversions": group.conversions, "conversion_rate": format_percent(group.conversion_rate),
        "revenue": format_money(group.revenue), "revenue_per_client": format_money(group.revenue_per_client),
        "open_windows": group.open_windows,
    }


def interval(value, points=False):
    """"+1.20 pp (-0.30 … +2.70)" for a rate difference, "+RUB 12.30 (-RUB 3.10 … +RUB 27.70)" for money
    (crm/money.py: "+12,30 ₽" in Russian); None if not computed."""
    if value is None:
        return None

    def show(x):
        if not points:
            return format_money(x, sign=True)
        sign = "+" if x >= 0 else "-"
        return sign + formats.number_format(round(abs(x) * 100, 2), 2, use_l10n=True)

    unit = " " + gettext("pp") if points else ""  # percentage points
    return {"text": f"{show(value.estimate)}{unit} ({show(value.low)} … {show(value.high)})",
            "significant": value.excludes_zero}
