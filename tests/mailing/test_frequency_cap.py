import collections
import datetime as dt
import threading
from unittest import mock

import pytest
from django.core import mail
from django.db import connections as db_connections
from django.utils import timezone

from mailing import tasks
from mailing.launch import launch_campaign
from mailing.models import Campaign, Delivery
from mailing.sending import send_batch


def earlier_sends(campaign, client, days_ago, count, state=Delivery.State.SENT):
    for i in range(count):
        Delivery.objects.create(campaign=campaign, client=client, occurrence=f"past-{days_ago}-{i}", state=state,
                                sent_at=timezone.now() - dt.timedelta(days=days_ago))


def test_it_suppresses_a_client_who_reached_the_cap_across_campaigns(make_client, make_campaign, segment, settings,
                                                                    django_capture_on_commit_callbacks):
    settings.CRM_EMAIL_CAP_COUNT, settings.CRM_EMAIL_CAP_DAYS = 2, 7
    capped, below, long_ago = make_client([segment]), make_client([segment]), make_client([segment])
    other = make_campaign(slug="other", state=Campaign.State.DONE)
    earlier_sends(other, capped, days_ago=3, count=2)
    earlier_sends(other, below, days_ago=3, count=1)
    earlier_sends(other, long_ago, days_ago=8, count=5)  # outside the 7-day window

    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(make_campaign(slug="spring"))

    assert sorted(m.to[0] for m in mail.outbox) == sorted([below.email, long_ago.email])
    row = Delivery.objects.get(campaign__slug="spring", client=capped)
    assert (row.state, row.reason) == (Delivery.State.SUPPRESSED, Delivery.Reason.FREQUENCY_CAP)


def test_the_cap_counts_sends_made_earlier_in_the_same_campaign_and_in_flight(make_client, make_campaign, segment,
                                                                             settings,
                                                                             django_capture_on_commit_callbacks):
    settings.CRM_EMAIL_CAP_COUNT = 1
    client = make_client([segment])
    other = make_campaign(slug="other", state=Campaign.State.SENDING)
    earlier_sends(other, client, days_ago=0, count=1, state=Delivery.State.SENDING)  # another task sending now

    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(make_campaign(slug="spring"))

    assert mail.outbox == []
    assert Delivery.objects.get(campaign__slug="spring").reason == Delivery.Reason.FREQUENCY_CAP


def test_a_cap_of_zero_is_no_cap(make_client, make_campaign, segment, settings, django_capture_on_commit_callbacks):
    settings.CRM_EMAIL_CAP_COUNT = 0
    client = make_client([segment])
    earlier_sends(make_campaign(slug="other", state=Campaign.State.DONE), client, days_ago=1, count=10)

    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(make_campaign(slug="spring"))

    assert [m.to[0] for m in mail.outbox] == [client.email]


@pytest.mark.django_db(transaction=True)
def test_two_campaigns_sending_to_the_same_clients_at_once_stay_under_the_cap(make_client, make_campaign, segment,
                                                                              settings):
    settings.CRM_EMAIL_CAP_COUNT = 1
    clients = [make_client([segment]) for _ in range(60)]
    campaigns = [make_campaign(slug=slug) for slug in ("left", "right")]
    with mock.patch.object(tasks.send_delivery_batch, "delay_on_commit"):  # nothing sent at launch
        for campaign in campaigns:
            launch_campaign(campaign)
    batches = [list(Delivery.objects.filter(campaign=c).order_by("pk").values_list("pk", flat=True))
               for c in campaigns]
    start = threading.Barrier(2)

    def send(ids, token):
        try:
            start.wait()
            send_batch(ids, claim_token=token)
        finally:
            db_connections.close_all()

    threads = [threading.Thread(target=send, args=(ids, f"t{n}")) for n, ids in enumerate(batches)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    per_client = collections.Counter(m.to[0] for m in mail.outbox)
    assert sorted(per_client) == sorted(c.email for c in clients) and set(per_client.values()) == {1}
    rows = collections.Counter(Delivery.objects.values_list("state", "reason"))
    assert rows == {("sent", ""): 60, ("suppressed", "frequency_cap"): 60}
