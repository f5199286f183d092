"""The client's recommended products on the client page. Recommendations sit beside loyalty (neither
imports the other), so this module gives the section as a function and mailing's client admin, which
builds on both, puts it in the chain (mailing/admin_client.py)."""

from django.conf import settings
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext

from crm.money import format_money

from .models import LIST_LENGTH
from .reading import for_clients


def recommendations_html(client):
    """The list as an email would read it now (out of stock, excluded and bought since left out), with
    each reason in words, and when and by what it was computed."""
    picks = for_clients([client.pk], limit=LIST_LENGTH)[client.pk] if client.pk else None  # none on the add page
    if picks is None or picks.orders_until is None:
        return gettext("No recommendations yet: they come with the next night after the first order; until "
                       "then emails show the shop's popular products.")
    computed = gettext("computed from orders until %(date)s by %(model)s") % {
        "date": timezone.localtime(picks.orders_until).strftime("%Y-%m-%d %H:%M"), "model": picks.model}
    if not picks.products:
        left = gettext("Every product of this client's list is out of stock, excluded or bought since: emails "
                       "show none until the next night rewrites the list.")
        return format_html("<p>{}</p><p class='recommendations-computed'>{}</p>", left, computed)
    head = format_html("<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
                       gettext("product"), gettext("SKU"), gettext("category"), gettext("price"), gettext("why"))
    body = format_html_join(
        "", "<tr class='client-recommendation'><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        ((p["name"] or "—", p["sku"], p["category"] or "—", format_money(p["price"]), p["why"])
         for p in picks.products),
    )
    shown = settings.CRM_RECOMMENDED_PRODUCTS
    notes = [computed]
    if picks.favourite_category:
        notes.append(gettext("favourite category: %(category)s") % {"category": picks.favourite_category})
    if shown:
        notes.append(gettext("emails show the first %(n)d") % {"n": shown})
    return format_html("<table>{}{}</table><p class='recommendations-computed'>{}</p>", head, body,
                       "; ".join(notes))
