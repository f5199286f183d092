"""The reach breakdown: who a launch now would email, and each reason the others would not, counted
with the launch's own rules (a small shop where each reason applies once or more)."""

import datetime as dt

import pytest
from django.utils import timezone

from crm.models import Client
from mailing.launch import launch_campaign
from mailing.models import Delivery, Suppression
from mailing.reach import campaign_reach, will_receive
from mailing.recipients import in_holdout, in_holdout_sql, suppression_reason, with_suppression, with_suppression_reason
from segments.models import Segment


@pytest.fixture
def shop(make_client, make_campaign, segment, excluded):
    """Ten audience members: three who get it, and one for each reason the others do not."""
    other = Segment.objects.create(slug="t-other", name="Other")
    make_client([other])  # not in the audience at all
    fine = [make_client([segment]) for _ in range(3)]
    make_client([segment, excluded])  # in an exclusion segment
    make_client([segment], consent=False)  # no consent
    make_client([segment], unsubscribed_at=timezone.now())  # unsubscribed
    bounced = make_client([segment])
    Suppression.objects.create(email=bounced.email.upper(), reason=Suppression.Reason.BOUNCE)
    listed = make_client([segment])
    Suppression.objects.create(email=listed.email, reason=Suppression.Reason.MANUAL)
    make_client([segment], email="  ")  # no address
    capped = make_client([segment])
    campaign = make_campaign(exclude=[excluded])
    earlier = make_campaign(slug="earlier")
    for _ in range(3):  # three sent this week: CRM_EMAIL_CAP_COUNT (3) reached
        Delivery.objects.create(campaign=earlier, client=capped, email=capped.email, occurrence=str(_),
                                state=Delivery.State.SENT, sent_at=timezone.now() - dt.timedelta(days=1))
    return campaign, fine, capped


def test_each_reason_is_subtracted_once(shop):
    campaign, fine, capped = shop
    reach = campaign_reach(campaign)
    assert (reach.members, reach.excluded, reach.not_matching, reach.audience) == (10, 1, 0, 9)
    assert reach.no_consent == 1
    assert reach.suppressed == {Delivery.Reason.UNSUBSCRIBED: 1, Delivery.Reason.BOUNCED: 1,
                                Delivery.Reason.SUPPRESSED_ADDRESS: 1, Delivery.Reason.NO_EMAIL: 1}
    assert reach.frequency_cap == 1
    assert reach.holdout == 0
    assert reach.will_receive == 3
    assert set(will_receive(campaign).values_list("pk", flat=True)) == {c.pk for c in fine}


def test_extra_conditions_without_scores_leave_nobody(shop):
    campaign, _fine, _capped = shop
    campaign.conditions = {"field": "predicted_clv", "op": ">", "value": 5000}
    reach = campaign_reach(campaign)
    assert reach.not_matching == 9 and reach.audience == 0 and reach.will_receive == 0


def test_holdout_counted_as_the_launch_draws_it(make_client, make_campaign, segment):
    for _ in range(60):
        make_client([segment])
    campaign = make_campaign(holdout_percent=30)
    reach = campaign_reach(campaign)
    drawn = sum(in_holdout(campaign.pk, pk, 30) for pk in Client.objects.values_list("pk", flat=True))
    assert reach.holdout == drawn and 0 < drawn < 60
    assert reach.will_receive == 60 - drawn


def test_the_sql_holdout_and_reasons_agree_with_the_launchs(make_client, make_campaign, segment):
    """The SQL forms are what the page counts; the Python ones are what the launch records."""
    for n in range(300):
        make_client([segment], consent=n % 7 != 0, erased_at=timezone.now() if n % 11 == 0 else None)
    rows = with_suppression_reason(Client.objects.all()).annotate(
        held=in_holdout_sql(123, 17)).order_by("pk")
    plain = {c.pk: suppression_reason(c) for c in with_suppression(Client.objects.all())}
    for client in rows:
        assert client.held == in_holdout(123, client.pk, 17)
        assert client.reason == plain[client.pk]


def test_the_reach_matches_what_the_launch_records(shop, django_capture_on_commit_callbacks):
    campaign, _fine, _capped = shop
    reach = campaign_reach(campaign)
    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(campaign)
    rows = Delivery.objects.filter(campaign=campaign)
    assert rows.filter(state=Delivery.State.SENT).count() == reach.will_receive
    assert rows.filter(reason=Delivery.Reason.FREQUENCY_CAP).count() == reach.frequency_cap
    # Launched: the same clients already have their delivery, a second launch would add nobody.
    again = campaign_reach(campaign)
    assert again.already == 9 and again.will_receive == 0


def test_quiet_hours_say_when(shop, settings):
    campaign, _fine, _capped = shop
    settings.CRM_QUIET_HOURS = "00:00-23:59"
    assert campaign_reach(campaign).not_before is not None
    settings.CRM_QUIET_HOURS = ""
    assert campaign_reach(campaign).not_before is None


def test_reading_the_reach_writes_nothing(shop, django_assert_max_num_queries):
    campaign, _fine, _capped = shop
    with django_assert_max_num_queries(8):
        campaign_reach(campaign)
    assert not Delivery.objects.filter(campaign=campaign).exists()
