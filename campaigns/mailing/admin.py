"""Admin for email campaigns. Registered by `from .mailing import admin as mailing_admin` in campaigns/admin.py."""

from django.contrib import admin, messages
from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _

from .models import Campaign, Delivery, EmailTemplate, EmailTemplateVersion, Suppression
from .sending import CampaignError, launch_campaign


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
class EmailTemplateAdmin(admin.ModelAdmin):
    # The model form runs EmailTemplate.clean(): a template that does not compile is refused with the error.
    list_display = ("name", "subject", "version", "updated_at")
    search_fields = ("name", "subject")
    readonly_fields = ("version",)
    inlines = [EmailTemplateVersionInline]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "state", "template", "holdout_percent", "launched_at", "finished_at",
                    "deliveries_sent", "deliveries_total")
    list_filter = ("state",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("segments", "exclude_segments")
    readonly_fields = ("state", "launched_at", "finished_at")
    actions = ["launch"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            _total=Count("deliveries"), _sent=Count("deliveries", filter=Q(deliveries__state=Delivery.State.SENT)))

    @admin.display(description=_("sent"), ordering="_sent")
    def deliveries_sent(self, obj):
        return obj._sent

    @admin.display(description=_("recipients"), ordering="_total")
    def deliveries_total(self, obj):
        return obj._total

    @admin.action(description=_("Launch"), permissions=["change"])
    def launch(self, request, queryset):
        for campaign in queryset:
            try:
                result = launch_campaign(campaign)
            except CampaignError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            self.message_user(request, _("%(slug)s: %(created)d new deliveries, %(pending)d queued in %(batches)d "
                                         "batches, %(suppressed)d suppressed.") % {
                "slug": campaign.slug, **result.__dict__}, messages.SUCCESS)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("campaign", "client", "email", "occurrence", "state", "reason", "sent_at")
    list_filter = ("state", "reason", "campaign")
    search_fields = ("email", "client__external_id", "message_id")
    list_select_related = ("campaign", "client")
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
