"""The analysts' CSV of current scores, streamed (bounded memory for any number of clients).

Columns are the shop's client id and scores: no name, email or phone, but the shop's id points at a
person, so a download is recorded in the audit log (segments/admin.py) like any personal data. The
client id comes from the shop's files, so cells are escaped against spreadsheet formulas (crm.csvsafe).
"""

from django.db import connection

from core.sql import table
from crm import csvsafe
from crm.models import Client

from .models import ClientScore, ScoringRun, Segment, SegmentMembership

HEADER = ["client_id", "recency_days", "frequency", "monetary", "r", "f", "m", "rfm_segment", "churn_risk",
          "churn_band", "predicted_clv", "segments"]


def _stream(sql, params):
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(10_000):
            yield from rows


def rows():
    """Yield the header, then one row per client of the current run, ordered by our client id.

    Erased clients are left out: their anonymous rows count in totals, not in files about people."""
    yield HEADER
    run = ScoringRun.objects.current()
    if run is None:
        return
    scores, memberships = table(ClientScore), table(SegmentMembership)
    score_rows = _stream(
        f"SELECT cs.client_id, c.external_id, cs.recency_days, cs.frequency, cs.monetary, cs.r, cs.f, cs.m, "
        f"cs.rfm_segment, cs.churn_risk, cs.churn_band, cs.predicted_clv "
        f"FROM {scores} cs JOIN {table(Client)} c ON c.id = cs.client_id WHERE cs.run_id = %s AND c.erased_at IS NULL "
        f"ORDER BY cs.client_id",
        [run.pk])
    member_rows = _stream(
        f"SELECT m.client_id, s.slug FROM {memberships} m JOIN {table(Segment)} s ON s.id = m.segment_id "
        f"WHERE m.left_at IS NULL ORDER BY m.client_id, s.slug", [])
    pending = next(member_rows, None)
    for pk, external_id, recency, frequency, monetary, r, f, m, segment, risk, band, clv in score_rows:
        slugs = []
        while pending is not None and pending[0] <= pk:
            if pending[0] == pk:
                slugs.append(pending[1])
            pending = next(member_rows, None)
        buyer = frequency > 0
        yield [
            external_id,
            recency if buyer else "",
            frequency if buyer else "",
            f"{monetary:.2f}" if buyer else "",
            r or "", f or "", m or "",
            segment,
            f"{risk:.6f}" if risk is not None else "",
            band,
            f"{clv:.2f}" if buyer else "",
            ";".join(slugs),
        ]


ENGAGEMENT_HEADER = ["client_id", "engagement_score", "engagement_band", "visits_30", "visits_90", "visit_seconds",
                     "bounce_rate", "visit_gap_days", "visit_conversion", "monetary", "predicted_clv"]


def engagement_rows():
    """The visit measures beside revenue so far and predicted value, one row per client of the current
    run: the scores CSV keeps its columns (scripts read it by position), these go in a file of their own."""
    yield ENGAGEMENT_HEADER
    run = ScoringRun.objects.current()
    if run is None:
        return
    def number(value, digits):
        return "" if value is None else f"{value:.{digits}f}"

    for (external_id, score, band, v30, v90, seconds, bounce, gap, conversion, monetary, clv) in _stream(
            f"SELECT c.external_id, cs.engagement_score, cs.engagement_band, cs.visits_30, cs.visits_90, "
            f"cs.visit_seconds, cs.bounce_rate, cs.visit_gap_days, cs.visit_conversion, cs.monetary, cs.predicted_clv "
            f"FROM {table(ClientScore)} cs JOIN {table(Client)} c ON c.id = cs.client_id "
            f"WHERE cs.run_id = %s AND c.erased_at IS NULL ORDER BY cs.client_id", [run.pk]):
        yield [external_id, f"{score:.2f}", band, v30, v90, number(seconds, 1), number(bounce, 4), number(gap, 2),
               number(conversion, 4), f"{monetary:.2f}", f"{clv:.2f}"]


def write_csv(stream, rows=rows):
    writer = csvsafe.writer(stream, lineterminator="\n")
    for row in rows():
        writer.writerow(row)
