"""A client's recommended products as emails would show them now (recommendations/reading.py)."""

from crm.models import Client
from recommendations.reading import for_clients

MAX_LIMIT = 50


def client_recommendations(external_id, limit=None):
    """The client's list with the reasons, or None for an unknown client id."""
    client = Client.objects.filter(external_id=external_id).only("id", "external_id").first()
    if client is None:
        return None
    picks = for_clients([client.pk], limit)[client.pk]
    return {"client_id": client.external_id, "orders_until": picks.orders_until,
            "model": picks.model, "favourite_category": picks.favourite_category,
            "products": picks.products}
