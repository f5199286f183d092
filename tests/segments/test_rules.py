import datetime as dt
import zoneinfo

import pytest
from django.utils import timezone

from crm.models import Client
from segments.models import ClientScore, ScoringRun
from segments.rules import RuleError, to_q


@pytest.mark.parametrize(("rule", "message"), [
    ({}, "rule: expected a condition"),
    ({"field": "ltv", "op": ">", "value": 1}, "condition 1: 'ltv' is not a field"),
    ({"field": "monetary", "op": "~", "value": 1}, "condition 1: '~' is not an operator"),
    ({"field": "monetary", "op": ">", "value": "a lot"}, "condition 1: revenue needs a number, got 'a lot'"),
    ({"all": [{"field": "rfm_segment", "op": "in", "value": []}]},
     "condition 1: RFM segment: 'in' needs a non-empty list of values"),
    ({"any": [{"field": "frequency", "op": ">", "value": 1}, {"field": "email_consent", "op": "=", "value": "yes"}]},
     "condition 2: email consent takes op '=' and value true or false"),
    ({"all": []}, "rule: 'all' needs a non-empty list"),
    # The two silent zeros: the segment's slug for the band, and a percent for the share.
    ({"all": [{"field": "frequency", "op": ">", "value": 1}, {"field": "churn_band", "op": "=", "value": "churn-high"}]},
     "condition 2: churn band must be one of high, medium, low (got 'churn-high')"),
    ({"field": "churn_risk", "op": ">", "value": 66},
     "condition 1: churn risk is a share from 0 to 1 (0.66 means 66%), got 66"),
    ({"field": "rfm_segment", "op": "in", "value": ["at-risk", "At risk"]},
     "condition 1: RFM segment must be one of champions, loyal"),
    ({"all": [{"field": "frequency", "op": ">", "value": 1},
              {"any": [{"field": "tier", "op": "=", "value": "gold"}, {"field": "r", "op": ">", "value": "5"}]}]},
     "condition 2.2: R score needs a number, got '5'"),
    ({"all": [{"field": "frequency", "op": ">", "value": 1}, {"any": []}]}, "group 2: 'any' needs a non-empty list"),
    ({"field": "last_purchase_at", "op": "more than days ago", "value": -3},
     "condition 1: last order: 'more than days ago' needs a whole number of days (0 or more), got -3"),
    ({"field": "last_purchase_at", "op": "more than days ago", "value": 2.5}, "needs a whole number of days"),
    ({"field": "first_seen", "op": "<", "value": "01.02.2026"},
     "condition 1: first seen needs a date as YYYY-MM-DD, got '01.02.2026'"),
    ({"field": "next_order_at", "op": ">", "value": "2026-02-30"}, "expected next order needs a date as YYYY-MM-DD"),
    ({"field": "last_purchase_at", "op": "in", "value": ["2026-01-01"]}, "condition 1: last order is a date; use"),
    ({"field": "frequency", "op": "less than days ago", "value": 3},
     "condition 1: 'less than days ago' is for dates; orders is not a date"),
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


@pytest.mark.django_db
def test_relative_dates_count_whole_days_back_from_the_shops_today(settings):
    """"More than 30 days ago" is a day before today - 30, "less than 30 days ago" one after it, by the
    calendar in the shop's zone: an order at 01:30 in Moscow is that Moscow day's, though UTC has the day before."""
    settings.TIME_ZONE = "Europe/Moscow"
    run = ScoringRun.objects.create(as_of=dt.date(2026, 3, 1), status="succeeded")
    moscow = zoneinfo.ZoneInfo("Europe/Moscow")
    today = dt.date(2026, 3, 2)
    for name, ordered in {"29 days": dt.datetime(2026, 2, 1, 1, 30, tzinfo=moscow),
                          "30 days": dt.datetime(2026, 1, 31, 23, 59, tzinfo=moscow),
                          "31 days": dt.datetime(2026, 1, 31, 0, 30, tzinfo=moscow) - dt.timedelta(hours=1),
                          "never": None}.items():
        client = Client.objects.create(external_id=name)
        ClientScore.objects.create(run=run, client=client, last_purchase_at=ordered)

    def chosen(rule):
        return sorted(ClientScore.objects.filter(to_q(rule, today)).values_list("client__external_id", flat=True))

    assert chosen({"field": "last_purchase_at", "op": "more than days ago", "value": 30}) == ["31 days"]
    assert chosen({"field": "last_purchase_at", "op": "less than days ago", "value": 30}) == ["29 days"]
    assert chosen({"field": "last_purchase_at", "op": "=", "value": "2026-01-31"}) == ["30 days"]
    assert chosen({"field": "last_purchase_at", "op": "<=", "value": "2026-01-31"}) == ["30 days", "31 days"]
    assert chosen({"field": "last_purchase_at", "op": ">", "value": "2026-01-31"}) == ["29 days"]
    assert chosen({"field": "last_purchase_at", "op": "is empty", "value": True}) == ["never"]


@pytest.mark.django_db
def test_relative_dates_default_to_today_in_the_shops_zone(settings, monkeypatch):
    settings.TIME_ZONE = "Europe/Moscow"
    run = ScoringRun.objects.create(as_of=dt.date(2026, 3, 1), status="succeeded")
    client = Client.objects.create(external_id="a")
    ClientScore.objects.create(run=run, client=client, next_order_at=dt.date(2026, 2, 25))
    # 22:00 UTC on March 1st is already March 2nd in Moscow: 5 days after the 25th, not 4.
    monkeypatch.setattr(timezone, "now", lambda: dt.datetime(2026, 3, 1, 22, 0, tzinfo=dt.UTC))
    rule = {"field": "next_order_at", "op": "more than days ago", "value": 4}
    assert ClientScore.objects.filter(to_q(rule)).count() == 1


@pytest.mark.django_db
def test_churn_risk_is_compared_as_the_share_it_is_stored_as():
    run = ScoringRun.objects.create(as_of=dt.date(2026, 1, 1), status="succeeded")
    for name, risk in (("a", 0.999), ("b", 0.5)):
        ClientScore.objects.create(run=run, client=Client.objects.create(external_id=name), churn_risk=risk)
    assert list(ClientScore.objects.filter(to_q({"field": "churn_risk", "op": ">", "value": 0.6}))
                .values_list("client__external_id", flat=True)) == ["a"]


@pytest.mark.django_db
def test_the_visit_measures_select_clients_in_rules():
    run = ScoringRun.objects.create(as_of=dt.date(2026, 1, 1), status="succeeded")
    for name, seconds, bounce, conversion in (("stays", 400.0, 0.1, 0.3), ("bounces", 8.0, 0.9, 0.0),
                                              ("silent", None, None, None)):
        ClientScore.objects.create(run=run, client=Client.objects.create(external_id=name), visits_90=3,
                                   visit_seconds=seconds, bounce_rate=bounce, visit_conversion=conversion)

    def chosen(rule):
        return sorted(ClientScore.objects.filter(to_q(rule)).values_list("client__external_id", flat=True))

    assert chosen({"all": [{"field": "visit_seconds", "op": ">=", "value": 60},
                           {"field": "bounce_rate", "op": "<", "value": 0.5}]}) == ["stays"]
    assert chosen({"field": "visit_conversion", "op": "is empty", "value": True}) == ["silent"]
    with pytest.raises(RuleError, match="bounce rate is a share from 0 to 1"):
        to_q({"field": "bounce_rate", "op": ">", "value": 50})
