"""A client's scores from the nightly run readers see, and the segments the client is in now."""

from crm.models import Client
from segments.models import ClientScore, ScoringRun, SegmentMembership


def client_scores(external_id):
    """The client's current scores and segments, or None for an unknown client id."""
    client = Client.objects.filter(external_id=external_id).only("id", "external_id").first()
    if client is None:
        return None
    run = ScoringRun.objects.current()
    score = ClientScore.objects.filter(run=run, client=client).first() if run else None
    segments = (
        SegmentMembership.objects.filter(client=client, left_at__isnull=True)
        .order_by("segment__slug")
        .values("segment__slug", "segment__name", "entered_at")
    )
    return {
        "client_id": client.external_id,
        "run": run and {"id": run.pk, "as_of": run.as_of, "finished_at": run.finished_at},
        "scores": score,
        "segments": [{"slug": s["segment__slug"], "name": s["segment__name"], "since": s["entered_at"]}
                     for s in segments],
    }
