"""Campaigns sent N days before a client's next order is due (ClientScore.next_order_at)."""

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from mailing.models import Campaign, Delivery
from mailing.triggers import fire_triggers
from segments.models import ClientScore, ScoringRun

AS_OF = dt.date(2026, 11, 2)  # its night sends on the 3rd


@pytest.fixture
def due_soon(make_campaign):
    campaign = make_campaign(slug="due-soon", schedule=Campaign.Schedule.NEXT_ORDER_DUE, due_days=7,
                             state=Campaign.State.SCHEDULED)
    campaign.segments.clear()
    return campaign


def night(as_of, due):
    """A succeeded run whose scores give each client (key) their expected next order (value)."""
    run = ScoringRun.objects.create(as_of=as_of, status=ScoringRun.Status.SUCCEEDED, finished_at=timezone.now())
    for client, date in due.items():
        ClientScore.objects.create(run=run, client=client, next_order_at=date)
    return run


def test_it_emails_the_clients_whose_next_order_is_due_within_n_days(make_client, due_soon,
                                                                    django_capture_on_commit_callbacks):
    on_the_day, in_a_week, in_eight_days, overdue, unknown = (make_client() for _ in range(5))
    no_consent = make_client(consent=False)
    run = night(AS_OF, {on_the_day: dt.date(2026, 11, 3), in_a_week: dt.date(2026, 11, 10),
                        in_eight_days: dt.date(2026, 11, 11), overdue: dt.date(2026, 11, 2), unknown: None,
                        no_consent: dt.date(2026, 11, 5)})

    with django_capture_on_commit_callbacks(execute=True):
        assert fire_triggers(run.pk) == {"due-soon": 3}

    assert sorted(m.to[0] for m in mail.outbox) == sorted([on_the_day.email, in_a_week.email])
    assert dict(Delivery.objects.values_list("client", "reason")) == {
        on_the_day.pk: "", in_a_week.pk: "", no_consent.pk: "no_consent"}


def test_a_client_still_due_the_next_night_is_not_emailed_twice(make_client, due_soon,
                                                                 django_capture_on_commit_callbacks):
    client = make_client()
    with django_capture_on_commit_callbacks(execute=True):
        fire_triggers(night(AS_OF, {client: dt.date(2026, 11, 8)}).pk)
        ClientScore.objects.all().delete()
        assert fire_triggers(night(AS_OF + dt.timedelta(days=1), {client: dt.date(2026, 11, 8)}).pk) == {
            "due-soon": 0}
    assert len(mail.outbox) == 1


def test_it_needs_the_number_of_days(make_campaign):
    campaign = make_campaign(slug="no-days", schedule=Campaign.Schedule.NEXT_ORDER_DUE)
    campaign.segments.clear()
    errors = campaign.setup_errors()
    assert "due_days" in errors and "segments" not in errors
    assert "due_days" in campaign.setup_refusal("schedule")
