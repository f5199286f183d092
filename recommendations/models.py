"""Each client's recommended products, computed by the nightly run (recommendations/nightly.py) and read
by emails, the client page and the API (recommendations/reading.py): a row read, not a graph computed."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.models import Client

# Products stored per client, more than an email shows: reading drops what went out of stock since the night.
LIST_LENGTH = 10


class Reason(models.TextChoices):
    """Why a product is recommended; `about` names the product or category the reason refers to."""

    BOUGHT_WITH = "bought_with", _("bought with %(about)s")
    POPULAR_IN_CATEGORY = "popular_in_category", _("popular in %(about)s")
    SIMILAR_CLIENTS = "similar_clients", _("clients with similar purchases bought it")
    RESTOCK = "restock", _("time to restock")
    POPULAR = "popular", pgettext_lazy("recommendation reason", "popular now")


class Recommendation(models.Model):
    client = models.OneToOneField(Client, primary_key=True, on_delete=models.CASCADE,
                                  related_name="recommendation", verbose_name=_("client"))
    # Best first: [[sku, reason, about], ...], LIST_LENGTH of them at most.
    products = models.JSONField(_("products"), default=list)
    favourite_category = models.CharField(_("favourite category"), max_length=100, blank=True)
    model = models.CharField(_("model"), max_length=32)
    # The list knows the orders before this moment (the night's end); what the client bought since is
    # left out when the list is read, and makes the next night rewrite it.
    orders_until = models.DateTimeField(_("orders until"))

    class Meta:
        verbose_name = _("recommendation")
        verbose_name_plural = _("recommendations")

    def __str__(self):
        return str(self.client_id)
