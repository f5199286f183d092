"""The campaign results page in the admin, and the mixin that links it from the campaign admin.

CampaignAdmin takes `CampaignResultsMixin` as a base: it adds the URL
/admin/mailing/campaign/<id>/results/ (and results/daily.csv, the daily chart's numbers), a
"results" column in the list, and a "Results" button on the change page. Viewing results needs only
the view permission on campaigns. The daily chart is drawn by the dashboards' script and Chart.js
(analytics/static, served from our own files), from the same JSON shape analytics/charts.py writes.
"""

import io

from django.conf import settings
from django.contrib import admin
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils import formats
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm import csvsafe
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
        daily = self.admin_site.admin_view(self.daily_csv_view)
        return [path("<int:object_id>/results/", view, name="mailing_campaign_results"),
                path("<int:object_id>/results/daily.csv", daily, name="mailing_campaign_results_daily"),
                *super().get_urls()]

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

    def daily_csv_view(self, request, object_id):
        campaign = get_object_or_404(Campaign, pk=object_id)
        if not self.has_view_permission(request, campaign):
            raise MissingPermission("mailing.view_campaign")
        response = HttpResponse(daily_csv(campaign_results(campaign).daily), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{campaign.slug}-daily-conversions.csv"'
        return response


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
        "verdict": verdict(results),
        "payoffs": [display_payoff(p) for p in results.payoffs],
        "daily": results.daily,
        "daily_rows": [[day_label(d.day), d.sent_conversions, d.sent_reached, format_percent(d.sent_rate),
                        d.holdout_conversions, d.holdout_reached, format_percent(d.holdout_rate)]
                       for d in results.daily],
        "daily_chart": daily_chart(results.daily),
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
        "revenue": format_money(group.revenue), "revenue_per_recipient": format_money(group.revenue_per_client),
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


def significance(value):
    """Every figure with an interval says in words whether it is significant (the interval excludes 0)."""
    return gettext("significant") if value.excludes_zero else gettext("not significant")


def _money_decimals(value):
    # Whole units once the figures run into thousands: cents there are noise.
    return 0 if max(abs(value.estimate), abs(value.low), abs(value.high)) >= 1000 else 2


def money_interval(value):
    """{"estimate", "range", "text", "significant", "label"} of an incremental revenue; None if not computed."""
    if value is None:
        return None
    decimals = _money_decimals(value)

    def show(x):
        return format_money(x, decimals=decimals, sign=True)

    return _shown(value, show(value.estimate), f"{show(value.low)} … {show(value.high)}")


def count_interval(value):
    """Incremental conversions: whole clients, a decimal below 10 (a fraction of a client still reads there)."""
    if value is None:
        return None
    decimals = 0 if max(abs(value.estimate), abs(value.low), abs(value.high)) >= 10 else 1

    def show(x):
        x = round(x, decimals)
        sign = "+" if x > 0 else ("-" if x < 0 else "")
        return sign + formats.number_format(abs(x), decimals, use_l10n=True, force_grouping=True)

    return _shown(value, show(value.estimate), f"{show(value.low)} … {show(value.high)}")


def ratio(x):
    """A return on spend: 3.1 -> "3.1×" ("3,1×" in Russian)."""
    sign = "-" if round(x, 1) < 0 else ""
    return gettext("%(ratio)s×") % {"ratio": sign + formats.number_format(abs(round(x, 1)), 1, use_l10n=True,
                                                                          force_grouping=True)}


def ratio_interval(value):
    if value is None:
        return None
    return _shown(value, ratio(value.estimate), f"{ratio(value.low)} … {ratio(value.high)}")


def _shown(value, estimate, bounds):
    return {"estimate": estimate, "range": bounds, "text": f"{estimate} ({bounds})",
            "significant": value.excludes_zero, "label": significance(value)}


def display_payoff(p):
    return {
        "label": p.group.label,
        "measured": p.group.measured,
        "revenue_per_recipient": format_money(p.revenue_per_recipient),
        "figures": [count_interval(p.conversions), money_interval(p.revenue)],
        "messages": p.messages,
        "cost": format_money(p.cost) if p.cost is not None else None,
        "return_on_spend": ratio_interval(p.return_on_spend),
    }


def verdict(results):
    """The page's first lines: did it pay? Each sentence says only what the intervals support."""
    lines = []
    p = results.payoff
    if p is None:
        lines.append(gettext("Whether it paid cannot be measured: the campaign has no holdout group."))
    elif p.revenue is None:
        lines.append(gettext("Too early to tell whether it paid: at least 2 clients are needed in the sent group "
                             "and 2 in the holdout."))
    else:
        revenue = money_interval(p.revenue)
        values = {"revenue": revenue["estimate"], "range": revenue["range"]}
        cost = format_money(p.cost, decimals=0 if p.cost >= 1000 else 2) if p.cost else None
        roi = p.return_on_spend
        if p.revenue.low > 0:
            if roi is None:
                lines.append(gettext("It paid: %(revenue)s incremental revenue (%(range)s). No cost entered, so no "
                                     "return on spend.") % values)
            elif roi.low > 0:
                lines.append(gettext("It paid: %(revenue)s incremental revenue (%(range)s), return %(roi)s on "
                                     "%(cost)s spent.") % {**values, "roi": ratio(roi.estimate), "cost": cost})
            elif roi.high < 0:
                lines.append(gettext("It brought %(revenue)s incremental revenue (%(range)s), less than the %(cost)s "
                                     "it cost: return %(roi)s.") % {**values, "roi": ratio(roi.estimate),
                                                                     "cost": cost})
            else:
                lines.append(gettext("It brought %(revenue)s incremental revenue (%(range)s); whether that covers the "
                                     "%(cost)s it cost could be chance: return %(roi)s (%(roi_range)s).")
                             % {**values, "cost": cost, **_roi_values(roi)})
        elif p.revenue.high < 0:
            lines.append(gettext("It lost revenue: %(revenue)s against the holdout (%(range)s).") % values)
        else:
            lines.append(gettext("Not shown to pay yet: the difference could be chance (incremental revenue "
                                 "%(revenue)s, somewhere from %(range)s).") % values)
            if p.conversions is not None and p.conversions.low > 0:
                conversions = count_interval(p.conversions)
                lines.append(gettext("More clients bought, though: %(conversions)s incremental conversions "
                                     "(%(range)s).") % {"conversions": conversions["estimate"],
                                                         "range": conversions["range"]})
    if results.total.open_windows:
        lines.append(gettext("Provisional: some attribution windows are still open, so these figures can "
                             "still change."))
    return lines


def _roi_values(roi):
    return {"roi": ratio(roi.estimate), "roi_range": f"{ratio(roi.low)} … {ratio(roi.high)}"}


def day_label(day):
    return gettext("day %(day)d") % {"day": day}


def daily_chart(daily):
    """What analytics/static/analytics/charts.js draws: rates in percent, one line per group."""
    def points(rates):
        return [None if r is None else round(r * 100, 2) for r in rates]

    return {
        "type": "line",
        "labels": [day_label(d.day) for d in daily],
        "datasets": [{"label": gettext("Sent group"), "data": points(d.sent_rate for d in daily)},
                     {"label": gettext("Holdout"), "data": points(d.holdout_rate for d in daily)}],
        "unit": "share",
        "currency": settings.CRM_CURRENCY,
    }


def daily_csv(daily):
    """The chart's numbers as bare values (rates in percent), one row a day, headers in the page's language."""
    out = io.StringIO()
    writer = csvsafe.writer(out)
    writer.writerow([gettext("day"), gettext("sent group: first conversions"), gettext("sent group: clients"),
                     gettext("sent group: conversion rate, %"), gettext("holdout: first conversions"),
                     gettext("holdout: clients"), gettext("holdout: conversion rate, %")])
    for d in daily:
        writer.writerow([d.day, d.sent_conversions, d.sent_reached, _percent(d.sent_rate),
                         d.holdout_conversions, d.holdout_reached, _percent(d.holdout_rate)])
    return out.getvalue()


def _percent(rate):
    return "" if rate is None else round(rate * 100, 2)
