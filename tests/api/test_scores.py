import datetime as dt

import pytest

from nightly.pipeline import rebuild_segments
from segments.models import ScoringRun

pytestmark = pytest.mark.django_db


def test_it_reads_nothing_before_the_first_nightly_run(api, post):
    post("/api/v1/clients/", {"client_id": "C1"})
    response = api.get("/api/v1/clients/C1/scores/")
    assert response.status_code == 200
    assert response.json() == {"client_id": "C1", "run": None, "scores": None, "segments": []}


def test_it_answers_404_for_an_unknown_client(api):
    response = api.get("/api/v1/clients/nobody/scores/")
    assert response.status_code == 404 and "detail" in response.json()


def test_it_reads_the_scores_and_segments_of_the_last_successful_run(api, post):
    orders = [{"order_id": f"O{n}", "client_id": f"C{n % 3}", "purchased_at": f"2026-0{1 + n % 5}-1{n % 9}",
               "amount": 100 + n} for n in range(30)]
    assert post("/api/v1/purchases/batch/", {"purchases": orders})[0] == 200
    post("/api/v1/clients/", {"client_id": "a/b"})
    rebuild_segments(as_of=dt.date(2026, 6, 30))
    run = ScoringRun.objects.current()
    ScoringRun.objects.create(as_of=dt.date(2026, 7, 1), status=ScoringRun.Status.FAILED)  # never read

    body = api.get("/api/v1/clients/C1/scores/").json()
    assert body["run"] == {"id": run.pk, "as_of": "2026-06-30", "finished_at": body["run"]["finished_at"]}
    scores = body["scores"]
    assert scores["frequency"] == 10
    assert scores["monetary"] == f"{sum(100 + n for n in range(30) if n % 3 == 1)}.00"
    assert scores["rfm_segment"] and 1 <= scores["r"] <= 5
    # why, as codes (main first) and in words
    assert scores["churn_reason"] == scores["churn_reasons"].split(",")[0]
    assert isinstance(scores["churn_why"], list) and len(scores["churn_why"]) == len(
        [code for code in scores["churn_reasons"].split(",") if code])
    slugs = [s["slug"] for s in body["segments"]]
    assert "all-clients" in slugs and scores["rfm_segment"] in slugs and slugs == sorted(slugs)
    assert all(s["since"] == "2026-06-30" for s in body["segments"])

    prospect = api.get("/api/v1/clients/a%2Fb/scores/").json()  # an id with a slash, URL-encoded
    assert prospect["client_id"] == "a/b" and prospect["scores"]["frequency"] == 0
    assert "prospects" in [s["slug"] for s in prospect["segments"]]
