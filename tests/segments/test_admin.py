import json

import pytest
from django.urls import reverse
from django.utils.html import escape

from nightly.pipeline import rebuild_segments
from segments.models import Segment

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(demo_shop):
    return rebuild_segments(demo_shop)


def test_the_dashboard_shows_the_rfm_grid_and_value_by_engagement(admin_client, scored):
    page = admin_client.get(reverse("admin:segments_dashboard")).content.decode()
    for slug in ("champions", "cant-lose-them", "lost", "new-customers"):
        assert f"?segment={slug}" in page
    assert "Value by engagement band" in page and "recency only" in page


def test_the_scores_csv_downloads_from_the_admin(admin_client, scored):
    response = admin_client.get(reverse("admin:segments_scores_csv"))
    body = b"".join(response.streaming_content).decode()
    assert body.startswith("client_id,recency_days,frequency,monetary,r,f,m,rfm_segment,churn_risk,")
    assert body.count("\n") == scored.counts["clients"] + 1


def test_the_live_count_counts_what_a_rule_selects_or_names_the_mistake(admin_client, scored):
    rule = {"field": "rfm_segment", "op": "=", "value": "champions"}
    response = admin_client.get(reverse("admin:segments_segment_count"), {"rule": json.dumps(rule)})
    assert response.json()["count"] == Segment.objects.get(slug="champions").size
    bad = admin_client.get(reverse("admin:segments_segment_count"), {"rule": '{"field": "nope"}'})
    assert bad.status_code == 400 and bad.json()["error"].startswith("condition 1: 'nope' is not a field")
    broken = admin_client.get(reverse("admin:segments_segment_count"), {"rule": '{"field": '})
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]


def test_a_rule_that_does_not_make_sense_is_refused_on_save(admin_client):
    response = admin_client.post(reverse("admin:segments_segment_add"), {
        "name": "Big", "slug": "big", "description": "", "is_active": "on",
        "rule": json.dumps({"field": "monetary", "op": ">", "value": "lots"})})
    assert response.status_code == 200 and "condition 1: revenue needs a number, got &#x27;lots&#x27;" in response.content.decode()
    assert not Segment.objects.filter(slug="big").exists()


def test_the_client_page_shows_scores_and_moves(admin_client, scored):
    from segments.models import SegmentMembership

    membership = SegmentMembership.objects.filter(segment__kind="rfm", left_at__isnull=True).select_related("client").first()
    page = admin_client.get(reverse("admin:crm_client_change", args=[membership.client_id])).content.decode()
    # The segment by its name, not its slug (segments/admin.py history_lines).
    assert f"entered {escape(membership.segment.display_name)}" in page and "churn risk" in page


def test_segment_members_are_listed_from_the_segment(admin_client, scored):
    segment = Segment.objects.get(slug="prospects")
    response = admin_client.get(reverse("admin:crm_client_changelist"), {"segment": "prospects"})
    assert len(response.context["cl"].result_list) == min(segment.size, 50)


def test_the_run_page_shows_the_back_test_and_the_migration(admin_client, scored):
    page = admin_client.get(reverse("admin:segments_scoringrun_change", args=[scored.pk])).content.decode()
    assert "churn risk: method" in page and "(new)" in page


def test_the_client_page_shows_the_visit_measures(admin_client, scored):
    from segments.models import ClientScore

    score = ClientScore.objects.filter(run=scored, visits_90__gt=0, visit_seconds__isnull=False).first()
    page = admin_client.get(reverse("admin:crm_client_change", args=[score.client_id])).content.decode()
    assert f"<th>visits 30 / 90 days</th><td>{score.visits_30} / {score.visits_90}</td>" in page
    for label in ("average time per visit", "bounce rate", "median days between visits", "visit-to-order conversion"):
        assert f"<th>{label}</th>" in page
    minutes, seconds = divmod(round(score.visit_seconds), 60)
    assert (f"{minutes} min {seconds} s" if minutes else f"{seconds} s") in page
