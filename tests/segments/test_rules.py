import datetime as dt

import pytest

from crm.models import Client
from segments.models import ClientScore, ScoringRun
from segments.rules import RuleError, to_q


@pytest.mark.parametrize(("rule", "message"), [
    ({}, "rule: expected a condition"),
    ({"field": "ltv", "op": ">", "value": 1}, "rule.field: 'ltv' is not a field"),
    ({"field": "monetary", "op": "~", "value": 1}, "rule.op: '~' is not an operator"),
    ({"field": "monetary", "op": ">", "value": "a lot"}, "rule.value: expected a number"),
    ({"all": [{"field": "rfm_segment", "op": "in", "value": []}]}, "rule.all[0].value: 'in' needs a non-empty list"),
    ({"any": [{"field": "frequency", "op": ">", "value": 1}, {"field": "email_consent", "op": "=", "value": "yes"}]},
     "rule.any[1]: email_consent takes op '=' and value true or false"),
    ({"all": []}, "rule.all: expected a non-empty list"),
])
def test_a_wrong_rule_is_refused_naming_the_part(rule, message):
    with pytest.raises(RuleError) as caught:
        to_q(rule)
    assert message in str(caught.value)


@pytest.mark.django_db
def test_and_or_groups_select_the_right_clients():
    run = ScoringRun.objects.create(as_of=dt.date(2026, 1, 1), status="succeeded")

    def client(name, consent, segment, value):
        c = Client.objects.create(external_id=name, email_consent=consent)
        ClientScore.objects.create(run=run, client=c, rfm_segment=segment, predicted_clv=value, frequency=1)

    client("a", True, "at-risk", 9000)
    client("b", False, "at-risk", 9000)
    client("c", True, "cant-lose-them", 100)
    client("d", True, "champions", 9000)
    rule = {"all": [{"field": "rfm_segment", "op": "in", "value": ["at-risk", "cant-lose-them"]},
                    {"any": [{"field": "predicted_clv", "op": ">", "value": 5000},
                             {"field": "rfm_segment", "op": "=", "value": "cant-lose-them"}]},
                    {"field": "email_consent", "op": "=", "value": True}]}
    chosen = ClientScore.objects.filter(run=run).filter(to_q(rule)).values_list("client__external_id", flat=True)
    assert sorted(chosen) == ["a", "c"]
    negated = {"field": "rfm_segment", "op": "not in", "value": ["at-risk"]}
    assert sorted(ClientScore.objects.filter(to_q(negated)).values_list("client__external_id", flat=True)) == ["c", "d"]
