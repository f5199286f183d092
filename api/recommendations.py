"""A client's recommended products as emails would show them now (recommendations/reading.py)."""

from crm.models import Client
from recommendations.models import Recommendation
from recommendations.reading import for_clients

MAX_LIMIT = 50


def client_recommendations(external_id, limit=None):
    """The client's list with the reasons, or None for an unknown client id."""
    client = Client.objects.filter(external_id=external_id).only("id", "external_id").first()
    if client is None:
        return None
    stored = Recommendation.objects.filter(client=client).only("model", "orders_until").first()
    picks = for_clients([client.pk], limit)[client.pk]
    return {"client_id": client.external_id, "orders_until": stored and stored.orders_until,
            "model": stored and stored.model, "favourite_category": picks.favourite_category,
            "products": picks.products}
