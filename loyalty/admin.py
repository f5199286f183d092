from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.admin_denied import MissingPermission
from crm.models import Client
from segments.admin import ScoredClientAdmin
from segments.models import Segment

from . import analytics, ledger
from .context import loyalty_contexts
from .granting import REFUND_REASON
from .models import PointRule, PointsEntry, Tier


@admin.register(PointRule)
class PointRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "source", "activity_kind", "basis", "points", "daily_cap", "weekly_cap",
                    "expires_after_days", "streak_days", "starts_on", "is_active")
    list_filter = ("source", "is_active")
    list_editable = ("is_active",)
    fieldsets = (
        (None, {"fields": ("name", "source", "activity_kind", "points", "is_active", "starts_on")}),
        (_("Orders"), {"fields": ("basis", "amount_unit")}),
        (_("Streak bonus"), {"fields": ("streak_days",)}),
        (_("Caps and expiry"), {"fields": ("daily_cap", "weekly_cap", "expires_after_days")}),
    )


class TierForm(forms.ModelForm):
    class Meta:
        model = Tier
        fields = ("name", "slug", "rank", "min_points", "min_active_days", "window_days")

    def clean_slug(self):
        slug = self.cleaned_data["slug"]
        taken = Segment.objects.filter(slug=f"tier-{slug}").exclude(kind=Segment.Kind.TIER).first()
        if taken:
            raise ValidationError(_("The segment tier-%(slug)s exists already and is not a tier's: choose another "
                                    "slug."), params={"slug": slug})
        return slug


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    form = TierForm
    list_display = ("name", "rank", "slug", "min_points", "min_active_days", "window_days")
    prepopulated_fields = {"slug": ("name",)}


class EntryForm(forms.ModelForm):
    """Spending and manual adjustments: the only rows people add by hand."""

    kind = forms.ChoiceField(label=_("kind"), choices=[(PointsEntry.Kind.ADJUSTED, _("adjusted by hand")),
                                                      (PointsEntry.Kind.SPENT, _("spent"))])
    points = forms.IntegerField(label=_("points"), help_text=_(
        "Adjusted: positive adds, negative takes away. Spent: the number of points spent (positive)."))

    class Meta:
        model = PointsEntry
        fields = ("client", "kind", "points", "reason")

    def clean(self):
        data = super().clean()
        kind, points, client = data.get("kind"), data.get("points"), data.get("client")
        if kind == PointsEntry.Kind.ADJUSTED:
            ledger.check_adjustment(points, data.get("reason"))
        elif kind == PointsEntry.Kind.SPENT and client is not None:
            ledger.check_spend(client, points)
        return data


@admin.register(PointsEntry)
class PointsEntryAdmin(admin.ModelAdmin):
    """The ledger: read by everyone allowed to; rows are only ever added (spent, adjusted)."""

    form = EntryForm
    list_display = ("day", "client", "kind", "points", "rule", "source_shown", "reason_shown", "expires_on",
                    "created_by")
    list_filter = ("kind", "rule")
    search_fields = ("client__external_id",)
    raw_id_fields = ("client",)
    date_hierarchy = "day"
    list_select_related = ("client", "rule", "created_by")
    show_full_result_count = False

    @admin.display(description=_("source"))
    def source_shown(self, obj):
        return obj.source_shown

    @admin.display(description=_("reason"))
    def reason_shown(self, obj):
        return gettext(obj.reason) if obj.reason == REFUND_REASON else obj.reason

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("client", "kind", "points", "reason")
        return ("client", "kind", "points", "day", "expires_on", "rule", "source_shown", "reference", "reason",
                "created_at", "created_by")

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj) if obj is not None else ()

    def has_change_permission(self, request, obj=None):
        return False if obj is not None else super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # Through the ledger's own functions: a spend re-checks the balance under the client's row lock,
        # so two spends at once cannot overdraw (the form's check ran before the lock).
        # A spend is typed as a positive number of points and recorded negative.
        if obj.kind == PointsEntry.Kind.SPENT:
            saved = ledger.spend(obj.client, obj.points, obj.reason, user=request.user)
        else:
            saved = ledger.adjust(obj.client, obj.points, obj.reason, user=request.user)
        obj.pk, obj.points, obj.day = saved.pk, saved.points, saved.day
        obj.created_by, obj.created_at = saved.created_by, saved.created_at

    def get_urls(self):
        return [path("analytics/", self.admin_site.admin_view(self.analytics_view), name="loyalty_analytics"),
                *super().get_urls()]

    def analytics_view(self, request):
        if not self.has_view_permission(request):
            raise MissingPermission("loyalty.view_pointsentry")
        names, sizes = analytics.tier_sizes()
        context = {**self.admin_site.each_context(request), "title": gettext("Loyalty: points and tiers"),
                   "months": analytics.points_by_month(), "tier_names": names, "tier_sizes": sizes,
                   "by_tier": analytics.value_by_tier()}
        return render(request, "admin/loyalty/analytics.html", context)


class TierFilter(admin.SimpleListFilter):
    title = _("tier")
    parameter_name = "tier"

    def lookups(self, request, model_admin):
        return [(t.slug, t.name) for t in Tier.objects.order_by("-rank")] + [("-", _("no tier"))]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        return queryset.filter(score_tier="" if self.value() == "-" else self.value())


class LoyaltyClientAdmin(ScoredClientAdmin):
    """The client page and list (crm, then segments) with the client's points and tier.

    Points are the ledger's sum per client, read for the page's clients only unless the list is
    sorted by them (then for every listed client, through the ledger's client-led indexes)."""

    list_display = (*ScoredClientAdmin.list_display, "tier_shown", "points_shown")
    list_filter = (*ScoredClientAdmin.list_filter[:4], TierFilter, *ScoredClientAdmin.list_filter[4:])

    def get_queryset(self, request):
        balance = (PointsEntry.objects.filter(client=OuterRef("pk")).order_by().values("client")
                   .annotate(total=Sum("points")).values("total"))
        tier = Tier.objects.filter(slug=OuterRef("score_tier"))
        return super().get_queryset(request).annotate(points_now=Subquery(balance),
                                                      tier_rank=Subquery(tier.values("rank")[:1]),
                                                      tier_name=Subquery(tier.values("name")[:1]))

    @admin.display(description=_("tier"), ordering=Coalesce("tier_rank", -1))
    def tier_shown(self, obj):
        return obj.tier_name or obj.score_tier or "—"

    @admin.display(description=_("points"), ordering=Coalesce("points_now", 0))
    def points_shown(self, obj):
        return obj.points_now or 0

    def download_columns(self, request, contacts):
        return [*super().download_columns(request, contacts),
                ("tier", lambda c: c.score_tier or ""), ("points", lambda c: c.points_now or 0)]

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), "loyalty")

    def get_fieldsets(self, request, obj=None):
        return (*super().get_fieldsets(request, obj), (_("Loyalty"), {"fields": ("loyalty",)}))

    @admin.display(description=_("points and tier"))
    def loyalty(self, obj):
        values = loyalty_contexts([obj.pk]).get(obj.pk, {})  # what email templates see as {{ loyalty }}
        link = reverse("admin:loyalty_pointsentry_changelist") + f"?q={obj.external_id}"
        facts = [gettext("%(points)d points") % {"points": values.get("points", 0)},
                 gettext("tier: %(tier)s") % {"tier": values.get("tier", "-")}]
        if values.get("streak_days"):
            facts.append(gettext("streak: %(days)d days") % {"days": values["streak_days"]})
        if values.get("expiring_points"):
            facts.append(gettext("%(points)d points expire from %(day)s")
                         % {"points": values["expiring_points"], "day": values["expiring_on"]})
        return format_html("{} · <a href='{}'>{}</a>", " · ".join(facts), link, _("points ledger"))


admin.site.unregister(Client)
admin.site.register(Client, LoyaltyClientAdmin)
