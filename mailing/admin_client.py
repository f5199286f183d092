"""The client page's emails: the mailing layer of the client admin (crm, segments, loyalty, then this;
privacy builds on it). Lists the latest messages the client got, or was meant to get, and how each ended.
It also puts in the recommended products: recommendations is loyalty's peer, so it cannot subclass the
loyalty layer; it gives its section as a function and this layer, above both, adds it."""

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.models import Client
from loyalty.admin import LoyaltyClientAdmin
from recommendations.admin_client import recommendations_html

RECENT = 20


def when(moment):
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "—"


def delivery_state(delivery):
    """"sent", "outcome unknown", "suppressed: holdout group": the state, and why where there is a reason."""
    state = delivery.get_state_display()
    return f"{state}: {delivery.get_reason_display()}" if delivery.reason else state


class MailingClientAdmin(LoyaltyClientAdmin):
    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), "recommended_products", "emails")

    def get_fieldsets(self, request, obj=None):
        return (*super().get_fieldsets(request, obj),
                (_("Recommendations"), {"fields": ("recommended_products",)}),
                (_("Emails"), {"fields": ("emails",)}))

    @admin.display(description=_("recommended products"))
    def recommended_products(self, obj):
        return recommendations_html(obj)

    @admin.display(description=_("latest emails"))
    def emails(self, obj):
        rows = obj.deliveries.select_related("campaign").order_by("-created_at", "-pk")[:RECENT]
        if not rows:
            return gettext("No email campaign has reached this client yet.")
        head = format_html("<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
                           _("campaign"), _("sent at"), _("subject"), _("opened"), _("clicked"), _("state"))
        body = format_html_join(
            "", "<tr class='client-email'><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                "<td>{}</td></tr>",
            ((reverse("admin:mailing_campaign_change", args=[d.campaign_id]), d.campaign.name, when(d.sent_at),
              d.subject or "—", when(d.opened_at or d.clicked_at), when(d.clicked_at), delivery_state(d))
             for d in rows),
        )
        link = reverse("admin:mailing_delivery_changelist") + f"?client__id__exact={obj.pk}"
        return format_html("<table>{}{}</table><a href='{}'>{}</a>", head, body, link, _("all emails"))


admin.site.unregister(Client)
admin.site.register(Client, MailingClientAdmin)
