import datetime as dt
import smtplib

import pytest
from anymail.exceptions import AnymailAPIError
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import Client
from mailing import lifecycle, sending, tasks
from mailing.launch import launch_campaign
from mailing.models import Campaign, Delivery, EmailTemplate
from mailing.repair import repair_stuck_deliveries
from mailing.sending import send_batch
from mailing.unsubscribe import unsubscribe_url
from tests.mailing.backends import ScriptedBackend


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
    unknown = Delivery.objects.get(pk=ids[0])
    assert (unknown.state, unknown.reason) == (Delivery.State.UNKNOWN, Delivery.Reason.INTERRUPTED)
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


def lease(ids, token, state, seconds):
    """Rows held by task `token` in `state`, its lease running out in `seconds` (negative: ran out)."""
    Delivery.objects.filter(pk__in=ids).update(state=state, claim_token=token, claimed_at=timezone.now(),
                                               lease_until=timezone.now() + dt.timedelta(seconds=seconds))


def test_a_dead_workers_batch_is_taken_over_once_its_lease_runs_out(launched, django_capture_on_commit_callbacks):
    ids = pending_ids()
    # Task "dead" held the whole batch, had the first row in hand (maybe sent) when its worker was killed.
    lease(ids, "dead", Delivery.State.PENDING, 20)
    lease(ids[:1], "dead", Delivery.State.SENDING, 20)

    assert repair_stuck_deliveries() == {"interrupted": 0, "requeued": 0, "campaigns_done": 0}  # still held

    later = timezone.now() + dt.timedelta(seconds=21)
    with django_capture_on_commit_callbacks(execute=True):
        assert repair_stuck_deliveries(now=later) == {"interrupted": 1, "requeued": 2, "campaigns_done": 0}

    assert Delivery.objects.get(pk=ids[0]).state == Delivery.State.UNKNOWN  # not resent
    assert sorted(m.to[0] for m in mail.outbox) == sorted(Delivery.objects.filter(pk__in=ids[1:])
                                                          .values_list("email", flat=True))
    assert set(Delivery.objects.filter(pk__in=ids[1:]).values_list("state", flat=True)) == {Delivery.State.SENT}
    launched.refresh_from_db()
    assert launched.state == Campaign.State.DONE


def test_a_live_task_keeps_its_batch_while_its_lease_runs(launched, django_capture_on_commit_callbacks):
    ids = pending_ids()
    lease(ids, "alive", Delivery.State.PENDING, 30)
    lease(ids[:1], "alive", Delivery.State.SENDING, 30)
    with django_capture_on_commit_callbacks(execute=True):
        assert repair_stuck_deliveries() == {"interrupted": 0, "requeued": 0, "campaigns_done": 0}
    assert mail.outbox == []
    assert Delivery.objects.get(pk=ids[0]).state == Delivery.State.SENDING


def test_it_queues_again_pending_rows_whose_tasks_were_lost_with_the_queue_and_sends_each_once(
        launched, django_capture_on_commit_callbacks):
    later = timezone.now() + dt.timedelta(minutes=1)  # the launch's tasks never ran: lost with the queue
    with django_capture_on_commit_callbacks(execute=True):
        assert repair_stuck_deliveries(now=later, queue_empty=False)["requeued"] == 0  # may be waiting their turn
        assert repair_stuck_deliveries(now=later)["requeued"] == 3
    assert sorted(m.to[0] for m in mail.outbox) == sorted(Delivery.objects.values_list("email", flat=True))
    assert set(Delivery.objects.values_list("state", flat=True)) == {Delivery.State.SENT}

    with django_capture_on_commit_callbacks(execute=True):
        assert repair_stuck_deliveries(now=later)["requeued"] == 0
    assert len(mail.outbox) == 3


def test_it_leaves_alone_a_campaign_a_live_task_is_working_on(launched):
    ids = pending_ids()
    lease(ids[:1], "t-1", Delivery.State.SENDING, 30)
    later = timezone.now() + dt.timedelta(seconds=25)

    assert repair_stuck_deliveries(now=later)["requeued"] == 0  # its other rows' batches are in the worker's hands


def test_a_transient_error_keeps_the_batch_held_for_the_retry(launched):
    ScriptedBackend.failures = [AnymailAPIError("down", status_code=502)]
    ids = pending_ids()

    tasks.send_delivery_batch.apply(args=[ids], task_id="retrying")

    # The retry runs at once in-process; with a broker it waits its backoff, and its rows stay held meanwhile.
    assert set(Delivery.objects.values_list("state", flat=True)) == {Delivery.State.SENT}
    ScriptedBackend.failures = []
    sending.hold_for_retry(ids, "retrying", 600)
    assert not Delivery.objects.filter(pk__in=ids).busy().exists()  # nothing left to hold: all final
    Delivery.objects.filter(pk__in=ids).update(state=Delivery.State.PENDING)
    sending.hold_for_retry(ids, "retrying", 600)
    assert repair_stuck_deliveries(now=timezone.now() + dt.timedelta(minutes=9))["requeued"] == 0


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
    assert "{% include %} is not allowed" in Delivery.objects.first().error  # email templates include nothing
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
    bob = make_client([segment], email="Bob@Example.com")
    make_client([segment])  # someone to email: a launch for nobody is refused
    response = admin_client.post("/admin/mailing/suppression/add/",
                                 {"email": " BOB@example.com ", "reason": "complaint", "note": ""})
    assert response.status_code == 302

    launch_campaign(make_campaign())

    delivery = Delivery.objects.get(client=bob)
    assert (delivery.state, delivery.reason) == (Delivery.State.SUPPRESSED, Delivery.Reason.COMPLAINED)


def test_a_campaign_that_is_not_sending_sends_nothing(launched):
    Campaign.objects.filter(pk=launched.pk).update(state=Campaign.State.PAUSED)
    counts = send_batch(pending_ids(), claim_token="t1")
    assert counts["sent"] == 0 and mail.outbox == []
    assert Delivery.objects.filter(state=Delivery.State.PENDING).count() == 3


class StepBackend(ScriptedBackend):
    """One entry of `steps` per send: None sends, an exception is raised."""

    steps = []

    def post_to_esp(self, payload, message):
        step = StepBackend.steps.pop(0) if StepBackend.steps else None
        if step is not None:
            raise step
        return super().post_to_esp(payload, message)


class UnsubscribingBackend(ScriptedBackend):
    """Right after the first message of the test goes out, every other recipient unsubscribes."""

    def post_to_esp(self, payload, message):
        response = super().post_to_esp(payload, message)
        if len(mail.outbox) == 1:
            Client.objects.exclude(email=message.to[0]).update(unsubscribed_at=timezone.now())
        return response


def test_an_unsubscribe_during_a_batch_stops_the_messages_of_the_next_chunks(launched, settings, monkeypatch):
    # Consent is checked at each chunk's claim, not again per message: chunks of one make the next
    # message's claim the first check after the unsubscribe.
    monkeypatch.setattr(sending, "CLAIM_CHUNK", 1)
    settings.EMAIL_BACKEND = "tests.mailing.test_sending.UnsubscribingBackend"

    counts = send_batch(pending_ids(), claim_token="t2")

    assert len(mail.outbox) == 1 and (counts["sent"], counts["suppressed"]) == (1, 2)
    assert set(Delivery.objects.exclude(email=mail.outbox[0].to[0]).values_list("state", "reason")) == {
        (Delivery.State.SUPPRESSED, Delivery.Reason.UNSUBSCRIBED)}


def test_it_claims_in_chunks_and_records_each_chunk_in_one_go(make_client, make_campaign, segment, monkeypatch):
    monkeypatch.setattr(sending, "CLAIM_CHUNK", 4)
    for _ in range(10):
        make_client([segment])
    launch_campaign(make_campaign(slug="chunks"))
    claims = []
    real_claim = sending.claim_chunk
    monkeypatch.setattr(sending, "claim_chunk",
                        lambda chunk, token, *rest: claims.append(len(chunk)) or real_claim(chunk, token, *rest))

    with CaptureQueriesContext(connection) as queries:
        counts = send_batch(pending_ids(), claim_token="t5")

    assert claims == [4, 4, 2] and counts["sent"] == 10 and len(mail.outbox) == 10
    assert set(Delivery.objects.values_list("state", "claim_token", "attempts")) == {(Delivery.State.SENT, "t5", 1)}
    assert all(d.message_id and d.sent_at and d.subject.startswith("Hi ") for d in Delivery.objects.all())
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    # Per chunk one claim and one record, plus the batch's own few (interrupted, lease, release, finish
    # twice): none per message.
    assert len(updates) <= 2 * 3 + 5, updates


def test_a_client_twice_in_a_batch_is_claimed_in_separate_chunks_so_the_cap_sees_the_first(
        make_client, make_campaign, segment, settings):
    settings.CRM_EMAIL_CAP_COUNT = 1
    client = make_client([segment])
    campaign = make_campaign(slug="twice")
    launch_campaign(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.SENDING)
    Delivery.objects.create(campaign=campaign, client=client, occurrence="again", email=client.email,
                            template_version=Delivery.objects.get().template_version)

    counts = send_batch(pending_ids(), claim_token="t6")

    assert counts["sent"] == 1 and counts["suppressed"] == 1 and len(mail.outbox) == 1
    assert Delivery.objects.get(occurrence="again").reason == Delivery.Reason.FREQUENCY_CAP


def test_a_transient_error_mid_chunk_records_what_went_out_and_gives_the_rest_back(launched, settings, monkeypatch):
    settings.EMAIL_BACKEND = "tests.mailing.test_sending.StepBackend"
    monkeypatch.setattr(StepBackend, "steps", [None, AnymailAPIError("ESP busy", status_code=503)])
    ids = pending_ids()

    with pytest.raises(sending.TransientSendError):
        send_batch(ids, claim_token="t7")

    rows = {d.pk: d for d in Delivery.objects.all()}
    assert rows[ids[0]].state == Delivery.State.SENT and rows[ids[0]].message_id
    assert (rows[ids[1]].state, rows[ids[1]].attempts, rows[ids[1]].claim_token) == (Delivery.State.PENDING, 1, "")
    assert "ESP busy" in rows[ids[1]].error
    assert (rows[ids[2]].state, rows[ids[2]].attempts) == (Delivery.State.PENDING, 0)  # never handed over

    assert send_batch(ids, claim_token="t7")["sent"] == 2  # the retry (same task id) sends the other two once
    assert sorted(m.to[0] for m in mail.outbox) == sorted(d.email for d in rows.values())


def test_a_time_limit_mid_chunk_leaves_only_the_message_in_hand_in_sending(launched, settings, monkeypatch):
    from celery.exceptions import SoftTimeLimitExceeded

    settings.EMAIL_BACKEND = "tests.mailing.test_sending.StepBackend"
    monkeypatch.setattr(StepBackend, "steps", [None, SoftTimeLimitExceeded()])
    ids = pending_ids()

    with pytest.raises(SoftTimeLimitExceeded):
        send_batch(ids, claim_token="t8")

    states = dict(Delivery.objects.values_list("pk", "state"))
    assert [states[pk] for pk in ids] == [Delivery.State.SENT, Delivery.State.SENDING, Delivery.State.PENDING]


class CancellingBackend(ScriptedBackend):
    def post_to_esp(self, payload, message):
        response = super().post_to_esp(payload, message)
        if len(mail.outbox) == 1:
            lifecycle.cancel(Campaign.objects.get(slug=message.tags[0]))
        return response


def test_a_cancel_mid_batch_stops_at_the_next_chunk_and_its_rows_end_cancelled(launched, settings, monkeypatch):
    monkeypatch.setattr(sending, "CLAIM_CHUNK", 2)
    settings.EMAIL_BACKEND = "tests.mailing.test_sending.CancellingBackend"

    counts = send_batch(pending_ids(), claim_token="t9")

    # The chunk claimed before the cancel is sent; the next one is not claimed, the cancel closed its row.
    assert len(mail.outbox) == 2 and (counts["sent"], counts["skipped"]) == (2, 1)
    assert sorted(Delivery.objects.values_list("state", "reason")) == [
        (Delivery.State.SENT, ""), (Delivery.State.SENT, ""), (Delivery.State.SUPPRESSED, Delivery.Reason.CANCELLED)]


def test_rows_claimed_but_not_handed_over_when_the_campaign_is_cancelled_end_cancelled(launched):
    ids = pending_ids()
    Delivery.objects.filter(pk__in=ids).update(state=Delivery.State.SENDING, claim_token="t10")
    lifecycle.cancel(launched)  # closes pending rows only: these are being sent

    sending.give_back(ids, "t10")

    assert set(Delivery.objects.values_list("state", "reason")) == {
        (Delivery.State.SUPPRESSED, Delivery.Reason.CANCELLED)}


def test_a_chunk_is_recorded_in_the_next_chunk_claim_and_the_last_one_on_its_own(launched, monkeypatch):
    monkeypatch.setattr(sending, "CLAIM_CHUNK", 2)
    real_record, real_claim, claiming, records = sending.record, sending.claim_chunk, [], []

    def claim(*args):
        claiming.append(True)
        try:
            return real_claim(*args)
        finally:
            claiming.pop()

    monkeypatch.setattr(sending, "claim_chunk", claim)
    monkeypatch.setattr(sending, "record", lambda done, token: records.append((len(done), bool(claiming)))
                        or real_record(done, token))

    assert send_batch(pending_ids(), claim_token="t11")["sent"] == 3

    assert records == [(2, True), (1, False)]  # one commit per chunk: a record rides with the next claim
    assert set(Delivery.objects.values_list("state", flat=True)) == {Delivery.State.SENT}


def test_what_went_out_is_recorded_when_the_next_claim_fails(launched, monkeypatch):
    monkeypatch.setattr(sending, "CLAIM_CHUNK", 2)
    real_counts, calls = sending.frequency_counts, []

    def failing_second_time(client_ids):
        calls.append(client_ids)
        if len(calls) == 2:
            raise ConnectionError("database gone")
        return real_counts(client_ids)

    monkeypatch.setattr(sending, "frequency_counts", failing_second_time)
    ids = pending_ids()

    with pytest.raises(ConnectionError):
        send_batch(ids, claim_token="t12")

    states = dict(Delivery.objects.values_list("pk", "state"))
    assert [states[pk] for pk in ids] == [Delivery.State.SENT, Delivery.State.SENT, Delivery.State.PENDING]
    assert len(mail.outbox) == 2
