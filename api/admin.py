from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from .models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "scope", "is_active", "prefix", "created_at", "last_used_at"]
    list_filter = ["scope", "is_active"]
    search_fields = ["name"]
    fields = ["name", "scope", "is_active", "prefix", "created_at", "last_used_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    actions = ["deactivate"]

    def save_model(self, request, obj, form, change):
        if not change:
            # Kept on the request only for response_add: the plain token is never stored.
            request._api_token_secret = obj.new_secret()
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        # Shown on this page and nowhere else: not in a message (those go into a cookie or the
        # session), not in the log. Losing it means making a new token.
        context = {**self.admin_site.each_context(request), "opts": self.opts, "token": obj,
                   "secret": request._api_token_secret, "title": _("API token created")}
        return TemplateResponse(request, "admin/api/apitoken/token_created.html", context)

    @admin.action(description=_("Deactivate the selected tokens"), permissions=["change"])
    def deactivate(self, request, queryset):
        count = queryset.update(is_active=False)
        self.message_user(request, _("%(count)d tokens deactivated.") % {"count": count}, messages.SUCCESS)
