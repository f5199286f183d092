"""A one-off campaign's time must be ahead when someone sets it: the form and "schedule" refuse a past
"send at" and name the field; a campaign whose time has come still fires, and an old one still edits."""

import datetime as dt

import pytest
from django.utils import timezone

from mailing import lifecycle
from mailing.models import Campaign, CampaignError
from mailing.scheduling import launch_due_campaigns
from tests.mailing.test_campaign_form import form_data

PAST = "'Send at' is in the past; choose a date and time from now on."


def when(delta):
    local = timezone.localtime(timezone.now() + delta)
    return {"send_at_0": local.strftime("%Y-%m-%d"), "send_at_1": local.strftime("%H:%M:%S")}


def test_the_form_refuses_a_send_at_in_the_past_on_its_field(admin_client, template, segment):
    response = admin_client.post("/admin/mailing/campaign/add/",
                                 form_data(template, segment, schedule="once", **when(-dt.timedelta(hours=1))))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["send_at"] == [PAST]
    assert not Campaign.objects.exists()


def test_the_form_takes_a_send_at_ahead(admin_client, template, segment):
    response = admin_client.post("/admin/mailing/campaign/add/",
                                 form_data(template, segment, schedule="once", **when(dt.timedelta(hours=1))))
    assert response.status_code == 302 and Campaign.objects.get().schedule == Campaign.Schedule.ONCE


def test_a_sent_campaign_whose_time_has_passed_can_still_be_renamed(admin_client, make_campaign, template, segment):
    sent = timezone.now() - dt.timedelta(days=3)
    campaign = make_campaign(slug="monthly", schedule=Campaign.Schedule.ONCE, send_at=sent)
    local = timezone.localtime(sent)
    response = admin_client.post(f"/admin/mailing/campaign/{campaign.pk}/change/", form_data(
        template, segment, schedule="once", name="Renamed",
        send_at_0=local.strftime("%Y-%m-%d"), send_at_1=local.strftime("%H:%M:%S.%f")))
    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign.refresh_from_db()
    assert campaign.name == "Renamed"


def test_scheduling_a_draft_whose_time_has_passed_is_refused_naming_the_field(make_campaign):
    late = make_campaign(slug="late", schedule=Campaign.Schedule.ONCE, send_at=timezone.now() - dt.timedelta(minutes=5))
    with pytest.raises(CampaignError, match=r"'late' cannot be scheduled: send_at: 'Send at' is in the past"):
        lifecycle.schedule(late)


def test_a_scheduled_campaign_whose_time_has_come_still_fires(make_campaign, make_client, segment):
    make_client([segment])
    due = make_campaign(slug="due", schedule=Campaign.Schedule.ONCE, state=Campaign.State.SCHEDULED,
                        send_at=timezone.now() - dt.timedelta(minutes=1))
    assert launch_due_campaigns() == ["due"]
    due.refresh_from_db()
    assert due.state != Campaign.State.SCHEDULED
