"""Rule segments get their members when saved; the count endpoint; duplicating; the client list with scores."""

import csv
import io
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from crm import roles
from crm.models import AuditLog, Client
from nightly.pipeline import rebuild_segments
from segments.membership import evaluate_rule_segment
from segments.models import ClientScore, Segment, SegmentMembership

pytestmark = pytest.mark.django_db

CHAMPIONS = {"field": "rfm_segment", "op": "=", "value": "champions"}
AT_RISK = {"field": "rfm_segment", "op": "=", "value": "at-risk"}


@pytest.fixture
def scored(demo_shop):
    return rebuild_segments(demo_shop)


def members(segment):
    return set(SegmentMembership.objects.filter(segment=segment, left_at__isnull=True).values_list("client_id",
                                                                                                   flat=True))


def scored_ids(rule_value, run):
    return set(ClientScore.objects.filter(run=run, rfm_segment=rule_value).values_list("client_id", flat=True))


def add(admin_client, rule, slug="best", name="Best"):
    return admin_client.post(reverse("admin:segments_segment_add"), {
        "name": name, "slug": slug, "description": "", "is_active": "on", "rule": json.dumps(rule)}, follow=True)


def test_a_new_rule_segment_has_its_members_as_soon_as_it_is_saved(admin_client, scored):
    response = add(admin_client, CHAMPIONS)
    segment = Segment.objects.get(slug="best")
    expected = scored_ids("champions", scored)
    assert expected and members(segment) == expected and segment.size == len(expected)
    shown = [str(m) for m in response.context["messages"]]
    assert any(f"Best: {len(expected)} members now" in m for m in shown), shown
    entered = SegmentMembership.objects.filter(segment=segment)
    assert set(entered.values_list("entered_at", flat=True)) == {timezone.localdate()}
    assert set(entered.values_list("entered_run", flat=True)) == {None}  # no night moved them: no trigger fires


def test_a_changed_rule_moves_members_in_and_out_keeping_those_still_in(admin_client, scored):
    add(admin_client, {"any": [CHAMPIONS, AT_RISK]})
    segment = Segment.objects.get(slug="best")
    kept = SegmentMembership.objects.filter(segment=segment, client_id__in=scored_ids("champions", scored))
    kept_ids = set(kept.values_list("pk", flat=True))
    admin_client.post(reverse("admin:segments_segment_change", args=[segment.pk]), {
        "name": "Best", "slug": "best", "description": "", "is_active": "on", "rule": json.dumps(CHAMPIONS)})
    assert members(segment) == scored_ids("champions", scored)
    assert set(SegmentMembership.objects.filter(segment=segment, left_at__isnull=True)
               .values_list("pk", flat=True)) == kept_ids  # the same memberships, not closed and reopened
    left = SegmentMembership.objects.filter(segment=segment, left_at__isnull=False)
    assert set(left.values_list("client_id", flat=True)) == scored_ids("at-risk", scored)


def test_the_next_night_keeps_the_members_a_save_opened(admin_client, scored, demo_shop):
    add(admin_client, CHAMPIONS)
    segment = Segment.objects.get(slug="best")
    before = set(SegmentMembership.objects.filter(segment=segment).values_list("pk", "client_id"))
    night = rebuild_segments(demo_shop)
    after = set(SegmentMembership.objects.filter(segment=segment, left_at__isnull=True).values_list("pk", "client_id"))
    assert members(segment) == scored_ids("champions", night)
    assert before == after  # the night finds them open: nobody enters twice


def test_without_a_scoring_run_a_saved_segment_says_it_has_nobody_yet(admin_client):
    response = add(admin_client, CHAMPIONS)
    assert Segment.objects.get(slug="best").size == 0
    assert any("nothing has been scored" in str(m) for m in response.context["messages"])


def test_the_segment_page_shows_the_count_and_links_to_its_members(admin_client, scored):
    add(admin_client, CHAMPIONS)
    segment = Segment.objects.get(slug="best")
    page = admin_client.get(reverse("admin:segments_segment_change", args=[segment.pk])).content.decode()
    assert f"{segment.size} members now" in page
    assert f"{reverse('admin:crm_client_changelist')}?segment=best" in page


def test_the_count_endpoint_counts_a_rule_sent_by_get_or_post(admin_client, scored):
    expected = len(scored_ids("champions", scored))
    url = reverse("admin:segments_segment_count")
    assert admin_client.get(url, {"rule": json.dumps(CHAMPIONS)}).json() == {
        "count": expected, "as_of": scored.as_of.isoformat()}
    posted = admin_client.post(url, json.dumps({"rule": CHAMPIONS}), content_type="application/json")
    assert posted.json()["count"] == expected
    assert not Segment.objects.filter(rule=CHAMPIONS).exists()  # counted, not saved


def test_the_count_endpoint_names_the_wrong_condition(admin_client, scored):
    url = reverse("admin:segments_segment_count")
    bad = admin_client.post(url, json.dumps({"rule": {"all": [CHAMPIONS, {"field": "monetary", "op": ">",
                                                                          "value": "lots"}]}}),
                            content_type="application/json")
    assert bad.status_code == 400 and bad.json()["error"] == "condition 2: revenue needs a number, got 'lots'"
    assert admin_client.get(url, {"rule": "{nope"}).status_code == 400
    assert admin_client.post(url, "[]", content_type="application/json").status_code == 400


def test_the_count_endpoint_is_for_staff_who_may_see_segments(client, django_user_model, scored):
    url = reverse("admin:segments_segment_count")
    assert client.get(url, {"rule": json.dumps(CHAMPIONS)}).status_code == 302  # to the login page
    nobody = django_user_model.objects.create_user("nobody", password="x", is_staff=True)
    client.force_login(nobody)
    assert client.get(url, {"rule": json.dumps(CHAMPIONS)}).status_code == 403


def test_duplicating_makes_a_copy_with_its_members_at_once(admin_client, scored):
    add(admin_client, CHAMPIONS)
    original = Segment.objects.get(slug="best")
    for _ in range(2):
        admin_client.post(reverse("admin:segments_segment_changelist"),
                          {"action": "duplicate", "_selected_action": [original.pk]})
    copies = Segment.objects.filter(slug__startswith="best-copy").order_by("slug")
    assert [(c.slug, c.name, c.rule, c.kind) for c in copies] == [
        ("best-copy", "Best (copy)", CHAMPIONS, "rule"), ("best-copy-2", "Best (copy)", CHAMPIONS, "rule")]
    assert all(members(c) == members(original) and c.size == original.size for c in copies)


def test_a_nightly_segment_is_not_duplicated(admin_client, scored):
    champions = Segment.objects.get(slug="champions")
    response = admin_client.post(reverse("admin:segments_segment_changelist"),
                                 {"action": "duplicate", "_selected_action": [champions.pk]}, follow=True)
    assert not Segment.objects.filter(slug__contains="copy").exists()
    assert any("not duplicated" in str(m) for m in response.context["messages"])


def test_evaluating_an_inactive_segment_changes_nothing(scored):
    segment = Segment.objects.create(slug="off", name="Off", rule=CHAMPIONS, is_active=False)
    assert evaluate_rule_segment(segment) is None and not members(segment)


# --- The client list with scores -------------------------------------------------------------------

def listed(admin_client, **params):
    response = admin_client.get(reverse("admin:crm_client_changelist"), params)
    assert response.status_code == 200
    return response


def test_the_client_list_shows_score_columns_in_words(admin_client, scored):
    page = listed(admin_client).content.decode()
    for header in ("Churn risk", "Predicted value", "Last order", "Orders", "RFM segment", "Tier", "Points"):
        assert f">{header}</a>" in page  # a sortable column
    score = ClientScore.objects.filter(run=scored, rfm_segment="champions").first()
    row = listed(admin_client, q=Client.objects.get(pk=score.client_id).external_id).content.decode()
    assert "Champions" in row and "champions<" not in row  # the display name, not the slug
    assert f"{round(score.churn_risk * 100, 1)}%" in row


def test_the_client_list_sorts_by_churn_risk_with_the_unscored_last(admin_client, scored):
    column = list(listed(admin_client).context["cl"].list_display).index("churn_risk_shown")
    rows = listed(admin_client, o=f"-{column}").context["cl"].result_list
    risks = [c.score_churn_risk for c in rows]
    assert risks == sorted(risks, key=lambda r: -1 if r is None else r, reverse=True)
    top = ClientScore.objects.filter(run=scored).exclude(churn_risk=None).order_by("-churn_risk").first()
    assert risks[0] == top.churn_risk


def test_the_client_list_filters_by_churn_band_value_band_and_rfm_segment(admin_client, scored):
    high = listed(admin_client, churn_band="high").context["cl"]
    assert {c.score_churn_band for c in high.result_list} == {"high"}
    rfm = listed(admin_client, rfm="at-risk").context["cl"].result_list
    assert rfm and {c.score_rfm_segment for c in rfm} == {"at-risk"}
    values = {band: {c.pk for c in listed(admin_client, value_band=band).context["cl"].queryset}
              for band in ("high", "medium", "low", "none")}
    scored_ids = set(ClientScore.objects.filter(run=scored).values_list("client_id", flat=True))
    assert set().union(*values.values()) == scored_ids and sum(map(len, values.values())) == len(scored_ids)
    worth = dict(ClientScore.objects.filter(run=scored).values_list("client_id", "predicted_clv"))
    assert min(worth[c] for c in values["high"]) >= max(worth[c] for c in values["medium"])
    assert all(worth[c] == 0 for c in values["none"])


def test_the_client_list_of_a_segment_lists_its_current_members(admin_client, scored):
    add(admin_client, CHAMPIONS)
    shown = {c.pk for c in listed(admin_client, segment="best").context["cl"].queryset}
    assert shown == scored_ids("champions", scored)


# --- Downloads by role ------------------------------------------------------------------------------


def download(client, contacts=False, **params):
    if contacts:
        params["contacts"] = "1"
    response = client.get(reverse("admin:crm_client_download"), params)
    if response.status_code != 200:
        return response.status_code, None
    return 200, list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.mark.parametrize("role", [roles.MARKETING_MANAGER, roles.ANALYST])
def test_the_working_roles_download_ids_and_scores_but_no_contacts(login, role, scored):
    client = login(role)
    status, rows = download(client, rfm="champions")
    assert status == 200
    assert rows[0] == ["client_id", "rfm_segment", "churn_risk", "churn_band", "predicted_clv", "last_order",
                       "orders", "tier", "points"]
    assert "email" not in rows[0] and len(rows) - 1 == len(scored_ids("champions", scored))
    assert {r[1] for r in rows[1:]} == {"champions"}
    assert download(client, contacts=True, rfm="champions")[0] == 403
    page = client.get(reverse("admin:crm_client_changelist")).content.decode()
    assert "Download: ids and scores" in page and "Download with contact data" not in page
    assert "@example." not in page  # the list shows ids, names and scores, no email column
    entry = AuditLog.objects.get()
    assert (entry.target, entry.actor_name) == ("crm:clients-scores.csv", role.lower().replace(" ", "-"))
    assert "rfm=champions" in entry.detail["filters"]


def test_the_administrator_downloads_the_filtered_list_with_contacts_audited(login, scored):
    client = login(roles.ADMINISTRATOR)
    status, rows = download(client, contacts=True, segment="champions")
    assert status == 200 and rows[0][:5] == ["client_id", "first_name", "last_name", "email", "phone"]
    expected = Client.objects.filter(pk__in=scored_ids("champions", scored))
    assert {r[3] for r in rows[1:]} == set(expected.values_list("email", flat=True))
    entry = AuditLog.objects.get()
    assert (entry.action, entry.target, entry.actor_name) == ("download", "crm:clients-with-contacts.csv",
                                                             "administrator")
    assert entry.detail == {"filters": "segment=champions", "contacts": True}


def test_a_staff_user_without_a_role_downloads_nothing(client, django_user_model, scored):
    user = django_user_model.objects.create_user("reader", password="x", is_staff=True)
    client.force_login(user)
    assert download(client)[0] == 403
