"""ESP tracking webhooks, posted as Postmark posts them (payloads as Postmark and anymail document them)
to the real URL, through anymail's real view and basic-auth check."""

import base64
import datetime as dt
import json

import pytest
from django.test import Client as Browser

from mailing.launch import launch_campaign
from mailing.models import Delivery, DeliveryEvent, Suppression
from mailing.urls import tracking_urlpatterns

URL = "/anymail/postmark/tracking/"
SECRET = "hook:s3cret"


@pytest.fixture(autouse=True)
def _webhook_secret(settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": SECRET}


@pytest.fixture(autouse=True)
def _postmark_configured(site_built_for):
    site_built_for("anymail.backends.postmark.EmailBackend")


@pytest.fixture
def esp():
    return Browser(enforce_csrf_checks=True)


@pytest.fixture
def launch(django_capture_on_commit_callbacks):
    """Launch and send at once (the batches are queued on commit)."""

    def run(campaign):
        with django_capture_on_commit_callbacks(execute=True):
            launch_campaign(campaign)

    return run


@pytest.fixture
def sent(make_client, make_campaign, segment, launch):
    """Two sent deliveries of one campaign: Ann's and Bob's."""
    make_client([segment], email="Ann@Example.com")
    make_client([segment], email="bob@example.com")
    launch(make_campaign(slug="spring"))
    ann = Delivery.objects.get(email="Ann@Example.com")
    bob = Delivery.objects.get(email="bob@example.com")
    assert ann.state == bob.state == Delivery.State.SENT and ann.message_id != bob.message_id
    return ann, bob


def post(esp, payload, auth=SECRET):
    headers = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}
    return esp.post(URL, data=json.dumps(payload), content_type="application/json", **headers)


def metadata(delivery):
    # What sending put in the message; Postmark hands it back as strings.
    return {"delivery_id": str(delivery.pk), "campaign": delivery.campaign.slug}


def delivered(delivery, at="2026-11-20T10:00:01.2735393Z"):
    return {"RecordType": "Delivery", "ServerID": 23, "MessageStream": "outbound", "MessageID": delivery.message_id,
            "Recipient": delivery.email, "Tag": "spring", "DeliveredAt": at,
            "Details": "Test delivery webhook details", "Metadata": metadata(delivery)}


def opened(delivery, at):
    return {"RecordType": "Open", "MessageStream": "outbound", "FirstOpen": True,
            "Client": {"Name": "Gmail", "Company": "Google", "Family": "Gmail"},
            "OS": {"Name": "unknown", "Company": "unknown", "Family": "unknown"}, "Platform": "Unknown",
            "UserAgent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0", "ReadSeconds": 0, "Geo": {},
            "MessageID": delivery.message_id, "ReceivedAt": at, "Tag": "spring", "Recipient": delivery.email,
            "Metadata": metadata(delivery)}


def clicked(delivery, at):
    return {"RecordType": "Click", "MessageStream": "outbound", "ClickLocation": "HTML",
            "Client": {"Name": "Chrome 35.0.1916.153", "Company": "Google", "Family": "Chrome"},
            "OS": {"Name": "OS X 10.7 Lion", "Company": "Apple Computer, Inc.", "Family": "OS X 10"},
            "Platform": "Desktop", "UserAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5) etc.",
            "OriginalLink": "https://shop.example.com/sale", "Geo": {}, "MessageID": delivery.message_id,
            "ReceivedAt": at, "Tag": "spring", "Recipient": delivery.email, "Metadata": metadata(delivery)}


def bounce(delivery, kind="HardBounce", event_id=901542550):
    return {"RecordType": "Bounce", "MessageStream": "outbound", "ID": event_id, "Type": kind, "TypeCode": 1,
            "ServerID": 23, "Name": "Hard bounce", "Tag": "spring", "MessageID": delivery.message_id,
            "Metadata": metadata(delivery),
            "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
            "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
            "Email": delivery.email, "From": "shop@example.com", "BouncedAt": "2026-11-20T10:00:02.3963933-04:00",
            "DumpAvailable": True, "Inactive": True, "CanActivate": True, "Subject": "Hi Ann"}


def complaint(delivery):
    return {**bounce(delivery, "SpamComplaint", event_id=901542551), "RecordType": "SpamComplaint",
            "TypeCode": 512, "Name": "Spam complaint", "CanActivate": False}


def subscription_change(delivery, reason="ManualSuppression"):
    return {"RecordType": "SubscriptionChange", "MessageID": delivery.message_id, "ServerID": 23,
            "MessageStream": "outbound", "ChangedAt": "2026-11-20T11:17:32Z", "Recipient": delivery.email,
            "Origin": "Recipient", "SuppressSending": True, "SuppressionReason": reason, "Tag": "spring",
            "Metadata": metadata(delivery)}


def utc(*args):
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.mark.parametrize("auth", [None, "hook:wrong", "other:s3cret"])
def test_it_refuses_a_post_without_the_right_secret_and_records_nothing(esp, sent, auth):
    ann, _ = sent

    for payload in (bounce(ann), opened(ann, "2026-11-20T10:05:00Z"), subscription_change(ann)):
        assert post(esp, payload, auth=auth).status_code == 400

    assert not DeliveryEvent.objects.exists() and not Suppression.objects.exists()
    ann.refresh_from_db()
    assert ann.bounced_at is None and ann.opened_at is None
    ann.client.refresh_from_db()
    assert ann.client.unsubscribed_at is None


def test_it_records_each_event_and_keeps_the_first_time_on_the_delivery(esp, sent):
    ann, bob = sent

    responses = [
        post(esp, delivered(ann)),
        post(esp, opened(ann, "2026-11-20T12:00:00Z")),  # a later open arrives first
        post(esp, opened(ann, "2026-11-20T10:05:00Z")),
        post(esp, clicked(ann, "2026-11-20T10:06:00.5Z")),
    ]

    assert [r.status_code for r in responses] == [200] * 4
    ann.refresh_from_db()
    assert ann.delivered_at == utc(2026, 11, 20, 10, 0, 1, 273539)
    assert ann.opened_at == utc(2026, 11, 20, 10, 5)
    assert ann.clicked_at == utc(2026, 11, 20, 10, 6, 0, 500000)
    assert ann.bounced_at is None and ann.unsubscribed_at is None
    events = DeliveryEvent.objects.filter(delivery=ann)
    assert sorted(events.values_list("kind", flat=True)) == ["clicked", "delivered", "opened", "opened"]
    click = events.get(kind="clicked")
    assert click.message_id == ann.message_id and click.recipient == "Ann@Example.com"
    assert click.detail["click_url"] == "https://shop.example.com/sale" and click.detail["raw"]["ClickLocation"] == "HTML"
    bob.refresh_from_db()
    assert bob.delivered_at is None and bob.opened_at is None  # nothing leaks to another delivery


def test_it_ignores_an_event_posted_twice(esp, sent):
    ann, _ = sent

    for _ in range(2):
        assert post(esp, opened(ann, "2026-11-20T10:05:00Z")).status_code == 200  # no ESP id: the digest
        assert post(esp, bounce(ann)).status_code == 200  # the ESP's event id

    assert DeliveryEvent.objects.count() == 2
    assert set(DeliveryEvent.objects.values_list("event_key", flat=True)) >= {"Postmark:901542550"}
    assert Suppression.objects.count() == 1


def test_a_hard_bounce_suppresses_the_address_for_every_later_campaign(esp, sent, make_campaign, launch):
    ann, bob = sent

    assert post(esp, bounce(ann)).status_code == 200

    ann.refresh_from_db()
    assert ann.bounced_at == utc(2026, 11, 20, 14, 0, 2, 396393)
    suppression = Suppression.objects.get()
    assert (suppression.email, suppression.reason) == ("ann@example.com", Suppression.Reason.BOUNCE)
    launch(make_campaign(slug="summer"))
    next_ann = Delivery.objects.get(campaign__slug="summer", client=ann.client)
    next_bob = Delivery.objects.get(campaign__slug="summer", client=bob.client)
    assert (next_ann.state, next_ann.reason) == (Delivery.State.SUPPRESSED, Delivery.Reason.BOUNCED)
    assert next_bob.state == Delivery.State.SENT


@pytest.mark.parametrize("payload", [
    lambda d: bounce(d, "SoftBounce", event_id=7),  # anymail reports Postmark's soft bounce as "bounced"
    lambda d: bounce(d, "Transient", event_id=8),  # ... and a transient one as "deferred"
    lambda d: bounce(d, "DnsError", event_id=9),
])
def test_a_soft_bounce_is_recorded_but_suppresses_nothing(esp, sent, make_campaign, launch, payload):
    ann, _ = sent

    assert post(esp, payload(ann)).status_code == 200

    event = DeliveryEvent.objects.get()
    assert event.kind == DeliveryEvent.Kind.OTHER and event.delivery == ann
    ann.refresh_from_db()
    assert ann.bounced_at is None
    assert not Suppression.objects.exists()
    launch(make_campaign(slug="summer"))
    assert Delivery.objects.get(campaign__slug="summer", client=ann.client).state == Delivery.State.SENT


def test_a_complaint_suppresses_the_address(esp, sent):
    ann, _ = sent

    assert post(esp, complaint(ann)).status_code == 200

    ann.refresh_from_db()
    assert ann.complained_at is not None
    assert Suppression.objects.get().reason == Suppression.Reason.COMPLAINT
    assert DeliveryEvent.objects.get().kind == DeliveryEvent.Kind.COMPLAINED


def test_an_unsubscribe_at_the_esp_unsubscribes_the_client_like_our_page(esp, sent):
    ann, bob = sent

    assert post(esp, subscription_change(ann)).status_code == 200

    ann.refresh_from_db()
    ann.client.refresh_from_db()
    assert ann.unsubscribed_at == utc(2026, 11, 20, 11, 17, 32)
    assert ann.client.unsubscribed_at is not None
    suppression = Suppression.objects.get()
    assert (suppression.email, suppression.reason) == ("ann@example.com", Suppression.Reason.UNSUBSCRIBE)
    bob.client.refresh_from_db()
    assert bob.client.unsubscribed_at is None


def test_it_finds_the_delivery_by_message_id_when_metadata_is_missing(esp, sent):
    ann, _ = sent
    payload = opened(ann, "2026-11-20T10:05:00Z")
    del payload["Metadata"]

    assert post(esp, payload).status_code == 200

    assert DeliveryEvent.objects.get().delivery == ann
    ann.refresh_from_db()
    assert ann.opened_at is not None


def test_it_does_not_trust_a_delivery_id_that_comes_with_another_message(esp, sent):
    ann, bob = sent
    # Another installation on the same ESP account: its delivery ids mean other rows here.
    payload = {**bounce(ann), "MessageID": "2706ee8a-737c-4285-b032-ccd317af53ed", "Email": "stranger@example.org"}

    assert post(esp, payload).status_code == 200

    assert DeliveryEvent.objects.get().delivery is None
    ann.refresh_from_db()
    assert ann.bounced_at is None
    # The address that bounced is still suppressed: it is the address, not our row, that is bad.
    assert list(Suppression.objects.values_list("email", flat=True)) == ["stranger@example.org"]


def test_the_deploy_check_warns_when_webhooks_have_no_secret(settings):
    from mailing.tracking import check_webhook_secret

    assert check_webhook_secret() == []
    settings.ANYMAIL = {}
    assert [warning.id for warning in check_webhook_secret()] == ["mailing.W010"]


def test_without_a_secret_configured_every_webhook_post_is_refused_and_nothing_recorded(esp, sent, settings):
    ann, _ = sent
    settings.ANYMAIL = {}

    assert post(esp, bounce(ann), auth=None).status_code == 403
    assert post(esp, bounce(ann)).status_code == 403
    assert not Suppression.objects.exists() and not DeliveryEvent.objects.exists()
    assert esp.post("/anymail/postmark/inbound/", data="{}", content_type="application/json").status_code == 404


def test_only_the_configured_esps_webhook_is_mounted(esp, site_built_for):
    # Another ESP's view would answer anyone with a 500 (its settings are missing); it is not there at all.
    site_built_for("anymail.backends.mailjet.EmailBackend")
    assert esp.post("/anymail/mailjet/tracking/", data="{}", content_type="application/json").status_code == 400
    assert esp.post("/anymail/postmark/tracking/", data="{}", content_type="application/json").status_code == 404
    assert esp.post("/anymail/mailgun/tracking/", data="{}", content_type="application/json").status_code == 404


def test_without_an_esp_configured_no_tracking_webhook_is_mounted(esp, site_built_for):
    site_built_for("django.core.mail.backends.smtp.EmailBackend")
    assert esp.post(URL, data="{}", content_type="application/json").status_code == 404
    assert esp.post("/anymail/mailgun/tracking/", data="{}", content_type="application/json").status_code == 404


@pytest.mark.parametrize(("backend", "names"), [
    ("anymail.backends.amazon_ses.EmailBackend", ["amazon_ses_tracking_webhook"]),
    ("anymail.backends.postmark.EmailBackend", ["postmark_tracking_webhook"]),
    ("anymail.backends.test.EmailBackend", []),  # anymail's test backend has no webhook
    ("django.core.mail.backends.filebased.EmailBackend", []),
])
def test_the_webhook_mounted_is_the_one_of_the_esp_the_backend_names(backend, names):
    assert [pattern.name for pattern in tracking_urlpatterns(backend)] == names
