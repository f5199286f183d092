from django_celery_beat.models import PeriodicTask

from demo.campaigns import create_demo_campaigns
from mailing.models import Campaign, Delivery
from mailing.templating import template_errors


def test_the_demo_campaigns_are_active_valid_and_send_nothing_themselves(db):
    assert create_demo_campaigns() == ["welcome", "win-back", "champions-thanks"]
    assert create_demo_campaigns() == ["welcome", "win-back", "champions-thanks"]  # a second call changes nothing

    campaigns = {c.slug: c for c in Campaign.objects.select_related("trigger_segment", "template")}
    assert len(campaigns) == 3 and not Delivery.objects.exists()
    for campaign in campaigns.values():
        assert campaign.state == Campaign.State.SCHEDULED and campaign.setup_errors() == {}
        assert template_errors(campaign.template.content()) == {}
        assert "unsubscribe_url" in campaign.template.html_body and "|default:" in campaign.template.subject
    assert campaigns["welcome"].trigger_segment.slug == "new-customers"
    win_back = campaigns["win-back"]
    assert (win_back.trigger_segment.slug, win_back.holdout_percent) == ("at-risk", 10)
    assert sorted(win_back.variants.values_list("name", "weight")) == [("A", 50), ("B", 50)]
    assert len(set(win_back.variants.values_list("subject", flat=True))) == 2
    champions = campaigns["champions-thanks"]
    assert list(champions.segments.values_list("slug", flat=True)) == ["champions"]
    assert PeriodicTask.objects.get(pk=champions.periodic_task_id).enabled


def test_demo_data_creates_the_campaigns_also_into_an_older_demo_database(db, run_command_output):
    out = run_command_output("demo_data", "--clients", "20", "--seed", "1")
    assert "Email campaigns (scheduled, nothing sent yet): welcome, win-back, champions-thanks" in out
    Campaign.objects.filter(slug="welcome").delete()  # as in a demo database made before the campaigns

    out = run_command_output("demo_data", "--clients", "20", "--seed", "1", "--if-empty")

    assert "demo data left as it is" in out and Campaign.objects.count() == 4  # with spring-win-back
    assert not Delivery.objects.exclude(campaign__slug="spring-win-back").exists()



def test_the_demo_has_a_finished_campaign_measured_against_its_holdout(db, mailoutbox):
    import datetime as dt

    from django.db import connection
    from django.db.models import Max
    from django.utils import timezone

    from crm.models import Client, Purchase
    from demo import shop as demo
    from demo.campaigns import FINISHED_DAYS_AGO, create_finished_campaign
    from mailing.results import campaign_results

    # Ids as in a fresh database, as `make demo` has them: the holdout draw hashes the campaign's and
    # the client's ids, and ids left by earlier tests would make a different (small) holdout.
    with connection.cursor() as cursor:
        for model in (Client, Campaign):
            cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), 1, false)", [model._meta.db_table])
    demo.build(1500, seed=3, end=timezone.localdate() - dt.timedelta(days=1))
    assert create_finished_campaign() == "spring-win-back"
    assert create_finished_campaign() is None  # a second call changes nothing

    campaign = Campaign.objects.get(slug="spring-win-back")
    last = Purchase.objects.exclude(external_id__startswith="DEMO-").aggregate(last=Max("purchased_at"))["last"]
    assert campaign.state == Campaign.State.DONE and campaign.holdout_percent == 20
    assert campaign.launched_at.date() == (last - dt.timedelta(days=FINISHED_DAYS_AGO)).date()
    rows = campaign.deliveries.all()
    held = rows.filter(reason=Delivery.Reason.HOLDOUT).count()
    assert rows.count() > 100 and 0.1 < held / rows.count() < 0.3
    assert not rows.exclude(state=Delivery.State.SENT).exclude(reason=Delivery.Reason.HOLDOUT).exists()
    assert mailoutbox == []  # recorded as history; nothing is sent

    results = campaign_results(campaign)
    sent, holdout = results.sent_group, results.holdout
    assert results.total.open_windows == 0  # every window closed weeks before the demo's last day
    assert sent.measured + holdout.measured == rows.count() and sent.opened > 0 and sent.clicked > 0
    assert sent.conversion_rate > holdout.conversion_rate and results.conversion_uplift is not None
