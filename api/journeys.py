"""Journeys and a client's positions in them, for the API (read only)."""

from crm.models import Client
from journeys.models import Journey, Position
from journeys.stats import position_counts


def journeys():
    return [{"slug": j.slug, "name": j.name, "state": j.state, "entry": j.entry,
             "version": j.live_version.number if j.live_version_id else None,
             "holdout_percent": j.holdout_percent, "clients": position_counts(j)}
            for j in Journey.objects.select_related("live_version").order_by("slug")]


def client_positions(external_id):
    """The client's positions, newest first, or None for an unknown client id."""
    client = Client.objects.filter(external_id=external_id).only("id", "external_id").first()
    if client is None:
        return None
    rows = Position.objects.filter(client=client).select_related("journey", "version").order_by("-entered_at", "-pk")
    return {"client_id": client.external_id, "journeys": [
        {"journey": p.journey.slug, "version": p.version.number, "state": p.state, "reason": p.reason,
         "step": p.step or None, "due_at": p.due_at, "entered_at": p.entered_at, "finished_at": p.finished_at,
         "steps_done": p.steps_done} for p in rows]}
