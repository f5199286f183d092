from django.utils import timezone

from mailing.recipients import audience_clients
from segments.models import ClientScore, ScoringRun


def test_extra_conditions_filter_the_audience_with_the_segment_rule_format(make_client, make_campaign, segment):
    old_run = ScoringRun.objects.create(as_of="2026-11-01", status=ScoringRun.Status.SUCCEEDED,
                                        finished_at=timezone.now() - timezone.timedelta(days=1))
    run = ScoringRun.objects.create(as_of="2026-11-02", status=ScoringRun.Status.SUCCEEDED, finished_at=timezone.now())
    rich, poor = make_client([segment], city="Kazan"), make_client([segment], city="Kazan")
    elsewhere, unscored = make_client([segment], city="Omsk"), make_client([segment], city="Kazan")
    for client, value in ((rich, 9000), (poor, 100), (elsewhere, 9000)):
        ClientScore.objects.create(run=run, client=client, predicted_clv=value)
    ClientScore.objects.create(run=old_run, client=poor, predicted_clv=9000)  # an older night does not count
    campaign = make_campaign(conditions={"all": [{"field": "predicted_clv", "op": ">", "value": 5000},
                                                 {"field": "city", "op": "=", "value": "Kazan"}]})

    assert list(audience_clients(campaign)) == [rich]
    campaign.conditions = {}
    assert set(audience_clients(campaign)) == {rich, poor, elsewhere, unscored}
