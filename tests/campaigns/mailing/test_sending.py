import datetime as dt
import smtplib

import pytest
from anymail.exceptions import AnymailAPIError
from django.core import mail
from django.utils import timezone

from campaigns.mailing import tasks
from campaigns.mailing.models import Campaign, Delivery, EmailTemplate
from campaigns.mailing.sending import launch_campaign, repair_stuck_deliveries, send_batch
from campaigns.mailing.unsubscribe import unsubscribe_url
from tests.campaigns.mailing.backends import ScriptedBackend


@pytest.fixture
def launched(make_client, make_campaign, segment):
    """A campaign to three clients, launched; its batch tasks not run yet (the test transaction never commits)."""
    for _ in range(3):
        make_client([segment])
    campaign = make_campaign(slug="spring")
    launch_campaign(campaign)
    return campaign


def pending_ids():
    return list(Delivery.objects.filter(state=Delivery.State.PENDING).order_by("pk").values_list("pk", flat=True))


def test_it_sends_each_message_with_metadata_tags_and_the_version_it_used(launched):
    delivery = Delivery.objects.order_by("pk").first()

    tasks.send_delivery_batch.delay(pending_ids())

    message = next(m for m in mail.outbox if m.to == [delivery.client.email])
    assert message.metadata == {"delivery_id": str(delivery.pk), "campaign": "spring"}
    assert message.tags == ["spring"]
    assert message.subject == f"Hi {delivery.client.first_name}"
    assert message.alternatives[0].mimetype == "text/html"
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT and delivery.sent_at is not None
    assert delivery.subject == message.subject
    assert delivery.message_id == str(message.anymail_status.message_id)
    assert (delivery.template_version.template.name, delivery.template_version.number) == ("Hello", 1)


def test_it_sends_nothing_twice_when_a_batch_runs_twice(launched):
    ids = pending_ids()

    tasks.send_delivery_batch.apply(args=[ids], task_id="same-task")
    tasks.send_delivery_batch.apply(args=[ids], task_id="same-task")  # delivered twice by the broker
    tasks.send_delivery_batch.apply(args=[ids])  # or queued twice

    assert len(mail.outbox) == 3
    assert set(Delivery.objects.values_list("state", flat=True)) == {Delivery.State.SENT}


@pytest.mark.parametrize("error", [
    AnymailAPIError("ESP busy", status_code=503),
    AnymailAPIError("slow down", status_code=429),
    ConnectionError("connection reset"),
    smtplib.SMTPServerDisconnected("gone"),
    TimeoutError("timed out"),
])
def test_it_retries_a_transient_error_then_sends(launched, error):
    ScriptedBackend.failures = [error]

    tasks.send_delivery_batch.delay(pending_ids())

    assert len(mail.outbox) == 3
    assert set(Delivery.objects.values_list("state", flat=True)) == {Delivery.State.SENT}
    assert sorted(Delivery.objects.values_list("attempts", flat=True)) == [1, 1, 2]
    launched.refresh_from_db()
    assert launched.state == Campaign.State.DONE


@pytest.mark.parametrize(("error", "text"), [
    (AnymailAPIError("invalid recipient", status_code=400), "invalid recipient"),
    (smtplib.SMTPRecipientsRefused({"x@example.com": (550, b"no such user")}), "no such user"),
])
def test_it_records_a_permanent_error_as_failed_with_the_reason(launched, error, text):
    ScriptedBackend.failures = [error]

    tasks.send_delivery_batch.delay(pending_ids())

    failed = Delivery.objects.get(state=Delivery.State.FAILED)
    assert failed.reason == Delivery.Reason.REJECTED and text in failed.error
    assert Delivery.objects.filter(state=Delivery.State.SENT).count() == 2 and len(mail.outbox) == 2
    launched.refresh_from_db()
    assert launched.state == Campaign.State.DONE


def test_it_gives_up_after_the_last_retry_and_still_finishes(launched):
    ScriptedBackend.failures = [AnymailAPIError("down", status_code=502)] * (tasks.MAX_RETRIES + 1)

    tasks.send_delivery_batch.delay(pending_ids())

    failed = Delivery.objects.get(state=Delivery.State.FAILED)
    assert failed.reason == Delivery.Reason.GAVE_UP and failed.attempts == tasks.MAX_RETRIES + 1
    assert Delivery.objects.filter(state=Delivery.State.SENT).count() == 2
    launched.refresh_from_db()
    assert launched.state == Campaign.State.DONE


def test_it_never_resends_a_row_its_own_earlier_run_left_in_sending(launched):
    ids = pending_ids()
    # The worker running task "t-1" claimed the first row, maybe sent it, and was killed.
    Delivery.objects.filter(pk=ids[0]).update(state=Delivery.State.SENDING, claim_token="t-1",
                                              claimed_at=timezone.now())

    counts = send_batch(ids, claim_token="t-1")  # the broker redelivers the task with the same id

    assert (counts["interrupted"], counts["sent"]) == (1, 2)
    assert Delivery.objects.get(pk=ids[0]).reason == Delivery.Reason.INTERRUPTED
    assert len(mail.outbox) == 2
    launched.refresh_from_db()
    assert launched.state == Campaign.State.DONE


def test_it_leaves_a_row_another_live_task_is_sending(launched):
    ids = pending_ids()
    Delivery.objects.filter(pk=ids[0]).update(state=Delivery.State.SENDING, claim_token="other",
                                              claimed_at=timezone.now())

    send_batch(ids, claim_token="t-2")

    assert Delivery.objects.get(pk=ids[0]).state == Delivery.State.SENDING
    launched.refresh_from_db()
    assert launched.state == Campaign.State.SENDING  # not done while a row is in flight


def test_it_repairs_rows_stuck_in_sending_as_interrupted_and_finishes_the_campaign(launched):
    ids = pending_ids()
    now = timezone.now()
    Delivery.objects.filter(pk=ids[0]).update(state=Delivery.State.SENDING, claim_token="dead",
                                              claimed_at=now - dt.timedelta(minutes=20))
    Delivery.objects.filter(pk=ids[1]).update(state=Delivery.State.SENDING, claim_token="alive",
                                              claimed_at=now - dt.timedelta(minutes=1))
    send_batch(ids[2:], claim_token="t-3")

    assert repair_stuck_deliveries() == {"interrupted": 1, "campaigns_done": 0}
    assert Delivery.objects.get(pk=ids[0]).reason == Delivery.Reason.INTERRUPTED
    assert Delivery.objects.get(pk=ids[1]).state == Delivery.State.SENDING

    assert tasks.repair_stuck_deliveries.delay().get() == {"interrupted": 0, "campaigns_done": 0}
    assert repair_stuck_deliveries(now=now + dt.timedelta(minutes=15)) == {"interrupted": 1, "campaigns_done": 1}
    launched.refresh_from_db()
    assert launched.state == Campaign.State.DONE
    assert len(mail.outbox) == 1


def test_it_suppresses_a_client_who_unsubscribed_after_the_launch(launched):
    delivery = Delivery.objects.order_by("pk").first()
    delivery.client.unsubscribed_at = timezone.now()
    delivery.client.save()

    tasks.send_delivery_batch.delay(pending_ids())

    delivery.refresh_from_db()
    assert (delivery.state, delivery.reason) == (Delivery.State.SUPPRESSED, Delivery.Reason.UNSUBSCRIBED)
    assert len(mail.outbox) == 2


def test_it_sends_the_version_pinned_at_launch_even_after_an_edit(launched):
    template = EmailTemplate.objects.get()
    template.subject = "Changed {{ client.first_name }}"
    template.save()

    tasks.send_delivery_batch.delay(pending_ids())

    assert all(m.subject.startswith("Hi ") for m in mail.outbox)
    delivery = Delivery.objects.first()
    assert delivery.template_version.number == 1 and delivery.subject.startswith("Hi ")
    assert template.versions.count() == 2


def test_it_fails_a_delivery_whose_template_cannot_render(launched):
    version = Delivery.objects.first().template_version
    version.html_body = '{% include "no/such/template.html" %}'
    version.save()

    tasks.send_delivery_batch.delay(pending_ids())

    assert set(Delivery.objects.values_list("reason", flat=True)) == {Delivery.Reason.RENDER_ERROR}
    assert "no/such/template.html" in Delivery.objects.first().error
    assert not mail.outbox


def test_it_puts_the_signed_unsubscribe_url_in_the_headers_and_the_bodies(launched):
    tasks.send_delivery_batch.delay(pending_ids())

    for message in mail.outbox:
        delivery = Delivery.objects.get(pk=message.metadata["delivery_id"])
        url = unsubscribe_url(delivery.pk, delivery.email)
        assert url.startswith("https://crm.example.com/u/")
        assert message.extra_headers["List-Unsubscribe"] == f"<{url}>"
        assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert url in message.alternatives[0].content and url in message.body


def test_it_does_not_resend_a_message_cut_off_by_the_time_limit(launched):
    from celery.exceptions import SoftTimeLimitExceeded

    ids = pending_ids()
    ScriptedBackend.failures = [SoftTimeLimitExceeded()]

    with pytest.raises(SoftTimeLimitExceeded):
        send_batch(ids, claim_token="t-4")
    assert Delivery.objects.get(pk=ids[0]).state == Delivery.State.SENDING

    send_batch(ids, claim_token="t-4")  # the same task, delivered again

    assert Delivery.objects.get(pk=ids[0]).reason == Delivery.Reason.INTERRUPTED
    assert len(mail.outbox) == 2


def test_it_suppresses_an_address_added_in_the_admin(admin_client, make_client, make_campaign, segment):
    make_client([segment], email="Bob@Example.com")
    response = admin_client.post("/admin/campaigns/suppression/add/",
                                 {"email": " BOB@example.com ", "reason": "complaint", "note": ""})
    assert response.status_code == 302

    launch_campaign(make_campaign())

    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.reason) == (Delivery.State.SUPPRESSED, Delivery.Reason.COMPLAINED)


def test_a_campaign_that_is_not_sending_sends_nothing(launched):
    Campaign.objects.filter(pk=launched.pk).update(state=Campaign.State.PAUSED)
    counts = send_batch(pending_ids(), claim_token="t1")
    assert counts["sent"] == 0 and mail.outbox == []
    assert Delivery.objects.filter(state=Delivery.State.PENDING).count() == 3


def test_an_unsubscribe_during_a_batch_stops_the_next_messages(launched, monkeypatch):
    from campaigns.mailing import sending

    first, *others = Delivery.objects.order_by("pk")
    real_send_one = sending._send_one

    def unsubscribe_after_first(delivery, *args, **kwargs):
        outcome = real_send_one(delivery, *args, **kwargs)
        if delivery.pk == first.pk:
            type(first.client).objects.filter(pk__in=[d.client_id for d in others]).update(
                unsubscribed_at=timezone.now())
        return outcome

    monkeypatch.setattr(sending, "_send_one", unsubscribe_after_first)
    send_batch(pending_ids(), claim_token="t2")
    assert len(mail.outbox) == 1
    assert set(Delivery.objects.exclude(pk=first.pk).values_list("reason", flat=True)) == {"unsubscribed"}
