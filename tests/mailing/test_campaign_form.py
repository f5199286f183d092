import pytest
from django_celery_beat.models import PeriodicTask

from mailing.launch import launch_campaign
from mailing.models import Campaign, CampaignVariant


def form_data(template, segment, **fields):
    data = {
        "name": "Monthly", "slug": "monthly", "template": template.pk, "from_email": "", "segments": [segment.pk],
        "conditions": "{}", "holdout_percent": 0, "schedule": "manual", "send_at_0": "", "send_at_1": "",
        "cron": "", "trigger_segment": "", "reentry": "once", "reentry_days": "",
        "variants-TOTAL_FORMS": 0, "variants-INITIAL_FORMS": 0, "variants-MIN_NUM_FORMS": 0,
        "variants-MAX_NUM_FORMS": 1000,
    }
    data.update(fields)
    return data


def variants(*rows):
    data = {"variants-TOTAL_FORMS": len(rows)}
    for i, (name, weight, subject) in enumerate(rows):
        data.update({f"variants-{i}-name": name, f"variants-{i}-weight": weight, f"variants-{i}-subject": subject,
                     f"variants-{i}-template": ""})
    return data


@pytest.mark.parametrize("fields, message", [
    ({"schedule": "recurring", "cron": "0 25 * * *"}, "Cron schedule &#x27;0 25 * * *&#x27;: Invalid end range: 25 &gt; 23."),
    ({"schedule": "once"}, "A campaign sent once at a date and time needs &#x27;send at&#x27;."),
    ({"schedule": "triggered", "segments": []}, "A triggered campaign needs the segment whose entrants it emails."),
    ({"schedule": "manual", "segments": []}, "Choose at least one audience segment."),
    ({"conditions": '{"field": "rfm_segment", "op": ">", "value": "x"}'},
     "condition 1: RFM segment is text; use =, !=, in, not in or is empty"),
    (variants(("A", 60, "One"), ("B", 30, "Two")), "splits add up to 90%; they must add up to 100%."),
])
def test_the_campaign_form_refuses_a_schedule_that_cannot_work_and_names_it(admin_client, template, segment, fields,
                                                                            message):
    response = admin_client.post("/admin/mailing/campaign/add/", form_data(template, segment, **fields))

    assert response.status_code == 200 and message in response.content.decode()
    assert not Campaign.objects.exists()


def test_the_campaign_form_refuses_reentry_after_days_without_days(admin_client, template, segment):
    response = admin_client.post("/admin/mailing/campaign/add/", form_data(
        template, segment, schedule="triggered", trigger_segment=segment.pk, reentry="after_days"))

    assert "needs the number of days" in response.content.decode()


def test_the_campaign_form_saves_a_recurring_campaign_with_variants_and_its_beat_entry(admin_client, template,
                                                                                      segment):
    response = admin_client.post("/admin/mailing/campaign/add/", form_data(
        template, segment, schedule="recurring", cron="0 10 1 * *",
        **variants(("A", 50, "Subject A"), ("B", 50, ""))))

    assert response.status_code == 302, response.content.decode()[:2000]
    campaign = Campaign.objects.get(slug="monthly")
    assert sorted(CampaignVariant.objects.values_list("name", "weight")) == [("A", 50), ("B", 50)]
    assert PeriodicTask.objects.get(pk=campaign.periodic_task_id).crontab.day_of_month == "1"


def test_the_change_page_shows_deliveries_by_state_and_reason(admin_client, make_client, make_campaign, segment):
    make_client([segment])
    make_client([segment], consent=False)
    campaign = make_campaign()
    launch_campaign(campaign)  # the batch is queued on commit, which never comes: one row stays pending

    page = admin_client.get(f"/admin/mailing/campaign/{campaign.pk}/change/").content.decode()

    assert "<td>pending</td><td></td><td>1</td>" in page
    assert "<td>suppressed</td><td>no email consent</td><td>1</td>" in page
