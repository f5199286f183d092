"""The rule builder offers what the rule language accepts, by the codes the scores store and the
names people read; the forms that use it refuse a wrong rule naming the condition."""

import json

import pytest
from django.urls import reverse
from django.utils import translation

from crm.models import Client
from segments import rules
from segments.models import Segment
from segments.widgets import builder_config

pytestmark = pytest.mark.django_db

SAMPLES = {"number": 1, "percent": 0.5, "money": 100, "text": "x", "bool": True, "date": "2026-01-31"}


def sample(field, op):
    if op == "is empty" or field["kind"] == "bool":
        return True
    if op.endswith("days ago"):
        return 30
    value = field["choices"][0][0] if field["kind"] == "choice" else SAMPLES[field["kind"]]
    return [value] if op in ("in", "not in") else value


def test_every_field_and_operator_the_builder_offers_is_accepted_by_the_rule_language():
    Segment.objects.create(slug="tier-gold", name="Gold", kind=Segment.Kind.TIER)
    Client.objects.create(external_id="1", country="RU", acquisition_channel="instagram")
    config = builder_config("")
    assert {f["name"] for f in config["fields"]} == set(rules.FIELDS)
    for field in config["fields"]:
        for op, _label in config["operators"][field["kind"]]:
            rules.to_q({"field": field["name"], "op": op, "value": sample(field, op)})


def test_lists_hold_the_stored_codes_with_names_in_the_users_language():
    Segment.objects.create(slug="tier-gold", name="Gold", kind=Segment.Kind.TIER)
    Client.objects.create(external_id="1", country="RU", acquisition_channel="instagram")
    Client.objects.create(external_id="2", country="KZ", acquisition_channel="instagram")
    with translation.override("ru"):
        fields = {f["name"]: f for f in builder_config("")["fields"]}
    assert ("at-risk", "Под угрозой ухода") in [tuple(c) for c in fields["rfm_segment"]["choices"]]
    assert [c[0] for c in fields["churn_band"]["choices"]] == ["high", "medium", "low"]
    assert fields["tier"]["choices"] == [("gold", "Gold")]
    assert [c[0] for c in fields["country"]["choices"]] == ["KZ", "RU"]
    assert fields["acquisition_channel"]["choices"] == [("instagram", "instagram")]
    assert fields["churn_risk"]["kind"] == "percent" and fields["predicted_clv"]["kind"] == "money"
    assert fields["last_purchase_at"]["kind"] == "date" and fields["churn_risk"]["label"] == "риск оттока"


def test_both_admin_forms_show_the_builder_over_the_json(admin_client):
    for url in (reverse("admin:segments_segment_add"), "/admin/mailing/campaign/add/"):
        page = admin_client.get(url).content.decode()
        assert 'class="rule-builder"' in page and "segments/rule-builder.js" in page
        assert reverse("admin:segments_segment_count") in page


def test_the_segment_form_refuses_the_bands_slug_naming_the_condition_and_the_choices(admin_client):
    rule = {"all": [{"field": "churn_risk", "op": ">", "value": 0.6},
                    {"field": "churn_band", "op": "=", "value": "churn-high"}]}
    response = admin_client.post(reverse("admin:segments_segment_add"), {
        "name": "Leaving", "slug": "leaving", "description": "", "is_active": "on", "rule": json.dumps(rule)})
    assert ("condition 2: churn band must be one of high, medium, low (got &#x27;churn-high&#x27;)"
            in response.content.decode())
    assert not Segment.objects.filter(slug="leaving").exists()


def test_the_segment_form_refuses_a_percent_typed_as_a_share(admin_client):
    response = admin_client.post(reverse("admin:segments_segment_add"), {
        "name": "Leaving", "slug": "leaving", "description": "", "is_active": "on",
        "rule": json.dumps({"field": "churn_risk", "op": ">", "value": 66})})
    assert "condition 1: churn risk is a share from 0 to 1 (0.66 means 66%), got 66" in response.content.decode()
