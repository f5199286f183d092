"""The client page's personal-data actions: export (JSON) and erase, each with a permission of its own and
recorded in the audit log. The page itself is built up by the apps below (crm, segments, loyalty, mailing)."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils.text import get_valid_filename
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from crm.models import Client
from journeys.admin import JourneysClientAdmin

from . import personal_data as privacy

# Erasing is one client at a time underneath (each recorded): more than this at once is refused.
ERASE_AT_ONCE = 100


class ClientAdmin(JourneysClientAdmin):
    actions = ["export_personal_data", "erase_personal_data"]

    def has_export_client_data_permission(self, request):
        return request.user.has_perm("crm.export_client_data")

    def has_erase_client_permission(self, request):
        return request.user.has_perm("crm.erase_client")

    @admin.action(description=_("Export personal data (JSON)"), permissions=["export_client_data"])
    def export_personal_data(self, request, queryset):
        clients = list(queryset[:2])
        if len(clients) != 1:
            self.message_user(request, _("Select exactly one client to export."), messages.ERROR)
            return None
        client = clients[0]
        response = HttpResponse(privacy.to_json(privacy.export_client(client, user=request.user)),
                                content_type="application/json; charset=utf-8")
        filename = get_valid_filename(f"client-{client.external_id}.json")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "private, no-store"
        return response

    @admin.action(description=_("Erase personal data (right to be forgotten)"), permissions=["erase_client"])
    def erase_personal_data(self, request, queryset):
        count = queryset.count()
        if count > ERASE_AT_ONCE:
            self.message_user(request, _("Select at most %(n)d clients to erase at once.") % {"n": ERASE_AT_ONCE},
                              messages.ERROR)
            return None
        if request.POST.get("confirm") != "yes":  # irreversible: ask first, as the delete action does
            return TemplateResponse(request, "admin/crm/client/erase_confirmation.html", {
                **self.admin_site.each_context(request), "title": _("Erase personal data?"),
                "opts": self.model._meta, "clients": queryset.order_by("pk"),
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            })
        for client in queryset.order_by("pk"):
            privacy.erase_client(client, user=request.user)
        self.message_user(request, ngettext("The personal data of %(n)d client was erased.",
                                            "The personal data of %(n)d clients was erased.", count) % {"n": count},
                          messages.SUCCESS)
        return None


admin.site.unregister(Client)
admin.site.register(Client, ClientAdmin)
