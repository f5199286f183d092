"""Why a score is what it is: drivers put to the shipped models, in words."""

from types import SimpleNamespace

import numpy as np
import pytest
from django.utils import translation

from bench.churn_backtest import shop_windows
from bench.simulated_shop import simulate_shop
from crm import roles
from crm.models import Client
from mailing.templating import build_contexts
from nightly.pipeline import rebuild_segments
from segments import churn, clv, features, reasons, rules
from segments.models import ClientScore

HORIZON = 90


@pytest.fixture(scope="module")
def scored():
    w = shop_windows(simulate_shop(10000, seed=23), HORIZON, step=30, n_cutoffs=4)
    current = w["current"]
    rows = features.buyers(current)
    buyers = features.take(current, rows)
    typicals = reasons.shop_typicals(current)
    risk = churn.score_churn(current, w["orders_history"], HORIZON)
    value = clv.score_value(current, w["revenue_history"], HORIZON)
    return {
        "buyers": buyers, "typicals": typicals,
        "churn": reasons.explain(buyers, risk.probability[rows], risk.predict, "churn", typicals),
        "value": reasons.explain(buyers, value.expected_revenue[rows], value.predict, "value", typicals),
        "risk": risk.probability[rows], "method": risk.method,
    }


def test_high_risk_clients_long_silent_are_told_the_gap(scored):
    assert scored["method"] == "model"
    buyers = scored["buyers"]
    usual = np.where(buyers["frequency"] > 1, (buyers["first_days"] - buyers["last_days"]) / np.maximum(
        buyers["frequency"] - 1, 1), scored["typicals"]["shop_gap"])
    silent = (scored["risk"] > 0.7) & (buyers["last_days"] > 4 * usual)
    assert silent.sum() > 100
    main = reasons.main(scored["churn"])
    # The gap is among their reasons (the main one may be that they stopped visiting too).
    told = np.array(["long_gap" in codes.split(",") for codes in scored["churn"]])
    assert told[silent].mean() > 0.8
    # and no one is told about a gap they do not have
    assert not (main[buyers["last_days"] <= usual] == "long_gap").any()


def test_one_order_clients_alone_hear_one_order(scored):
    codes = np.char.split(scored["churn"].astype(str), ",")
    has = np.array(["one_order" in c for c in codes])
    assert has.any()
    assert (scored["buyers"]["frequency"][has] == 1).all()


def test_value_reasons_name_big_orders_for_big_spenders_only(scored):
    buyers = scored["buyers"]
    avg = buyers["monetary"] / buyers["frequency"]
    big = np.array(["big_orders" in c.split(",") for c in scored["value"]])
    small = np.array(["small_orders" in c.split(",") for c in scored["value"]])
    assert big.sum() > 100 and small.sum() > 100
    assert (avg[big] > scored["typicals"]["typical_order"]).all()
    assert (avg[small] < scored["typicals"]["typical_order"]).all()


def test_at_most_three_reasons_each_said_once(scored):
    for codes in np.unique(np.concatenate([scored["churn"], scored["value"]])):
        parts = [p for p in codes.split(",") if p]
        assert len(parts) <= reasons.MAX_REASONS and len(set(parts)) == len(parts)
        assert set(parts) <= set(reasons.VALUE_CODES)


def test_short_visits_and_bounces_are_named_only_on_the_worse_side_of_the_shop(scored):
    buyers, typicals = scored["buyers"], scored["typicals"]
    codes = np.char.split(scored["churn"].astype(str), ",")
    for code, measure, worse in (("short_visits", "visit_seconds", np.less), ("bounces", "bounce_rate", np.greater)):
        named = np.array([code in c for c in codes])
        assert named.any(), f"the simulated visits drive some clients' risk through {measure}"
        assert worse(buyers[measure][named], typicals[f"typical_{measure}"]).all()


def test_the_visit_drivers_say_the_clients_own_figures():
    score = SimpleNamespace(recency_days=10, avg_days_between=30, activity_30=3, activity_90=9, avg_order_value=80,
                            frequency=3, visit_seconds=41.6, bounce_rate=0.62)
    typicals = {"shop_gap": 40, "typical_order": 80, "typical_visit_seconds": 180.2, "typical_bounce_rate": 0.25}
    assert reasons.describe("short_visits,bounces", score, typicals) == [
        "42 seconds per visit; the shop's typical is 180", "leaves 62% of visits at once; the shop's typical is 25%"]


def test_the_words_carry_the_clients_own_figures():
    score = SimpleNamespace(recency_days=140, avg_days_between=35.2, activity_30=1, activity_90=15,
                            avg_order_value=250, frequency=3)
    words = reasons.describe("long_gap,activity_down", score, {"shop_gap": 40, "typical_order": 80})
    assert words == ["no order for 140 days; usually every 35", "activity down 80% in 30 days"]


@pytest.mark.django_db
def test_the_night_stores_reasons_for_rules_the_client_page_and_emails(bigger_demo_shop, login):
    run = rebuild_segments(bigger_demo_shop)
    assert run.metrics["reasons"]["shop_gap"] > 0 and run.metrics["reasons"]["typical_order"] > 0
    scores = ClientScore.objects.current()
    high = scores.filter(churn_band="high")
    assert high.exclude(churn_reason="").count() >= 0.9 * high.count() > 0
    assert not scores.filter(frequency=0).exclude(churn_reasons="").exists()  # prospects: no model, no reason
    for score in high.exclude(churn_reasons="")[:50]:
        assert score.churn_reasons.split(",")[0] == score.churn_reason

    # a rule "main reason = long gap" selects exactly those clients
    rule = {"all": [{"field": "churn_reason", "op": "=", "value": "long_gap"}]}
    matched = set(scores.filter(rules.to_q(rule)).values_list("client_id", flat=True))
    assert matched and matched == set(scores.filter(churn_reasons__startswith="long_gap").values_list("client_id",
                                                                                                      flat=True))
    with pytest.raises(rules.RuleError, match="long_gap, activity_down, one_order, rare_orders, short_visits.*'bored'"):
        rules.to_q({"all": [{"field": "churn_reason", "op": "=", "value": "bored"}]})

    score = high.filter(churn_reason="long_gap").select_related("client").first()
    with translation.override("en"):
        words = score.reasons("churn")
    assert words[0].startswith(f"no order for {score.recency_days} days")

    page = login(roles.MARKETING_MANAGER).get(f"/admin/crm/client/{score.client_id}/change/")
    assert page.status_code == 200 and words[0] in page.content.decode()

    with translation.override("en"):
        context = build_contexts([Client.objects.get(pk=score.client_id)])[score.client_id]["scores"]
    assert context["churn_reason"] == "long_gap" and context["churn_why"] == "; ".join(words)
