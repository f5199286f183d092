"""Journeys entered on a date: N days before the predicted next order (as the campaign schedule: due
within N days), before points expire, on a birthday."""

import datetime as dt

from django.utils import timezone

from journeys.entry import enter_by_date
from journeys.models import Journey, Position
from loyalty.models import PointsEntry
from segments.models import ClientScore, ScoringRun

STEPS = [{"id": "remind", "kind": "email", "template": "Welcome 1"}]
TODAY = dt.date(2026, 11, 3)


def _scores(due):
    run = ScoringRun.objects.create(as_of=TODAY - dt.timedelta(days=1), status=ScoringRun.Status.SUCCEEDED,
                                    finished_at=timezone.now())
    for client, date in due.items():
        ClientScore.objects.create(run=run, client=client, next_order_at=date)


def _entered(journey):
    return set(Position.objects.filter(journey=journey).values_list("client", flat=True))


def test_next_order_due_within_n_days_enters_once(make_journey, make_client):
    journey = make_journey(STEPS, entry=Journey.Entry.DATE, entry_date=Journey.DateKind.NEXT_ORDER, entry_days=3,
                           entry_segment=None)
    today, in_three, in_four, yesterday, unknown = (make_client() for _ in range(5))
    _scores({today: TODAY, in_three: TODAY + dt.timedelta(days=3), in_four: TODAY + dt.timedelta(days=4),
             yesterday: TODAY - dt.timedelta(days=1), unknown: None})
    assert enter_by_date(TODAY)[journey.slug][0] == 2
    assert _entered(journey) == {today.pk, in_three.pk}
    # The next day the client due in four days comes within three; the others, still due, are in the
    # journey already (re-entry never): one position each.
    enter_by_date(TODAY + dt.timedelta(days=1))
    assert sorted(Position.objects.filter(journey=journey).values_list("client", flat=True)) == sorted(
        [today.pk, in_three.pk, in_four.pk])


def test_points_expiring_in_n_days_and_birthdays(make_journey, make_client):
    expiring = make_journey(STEPS, entry=Journey.Entry.DATE, entry_date=Journey.DateKind.POINTS_EXPIRE,
                            entry_days=7, entry_segment=None)
    birthday = make_journey(STEPS, entry=Journey.Entry.DATE, entry_date=Journey.DateKind.BIRTHDAY, entry_days=0,
                            entry_segment=None)
    soon, later = make_client(), make_client()
    PointsEntry.objects.create(client=soon, kind=PointsEntry.Kind.EARNED, points=100, day=TODAY,
                               expires_on=TODAY + dt.timedelta(days=7))
    PointsEntry.objects.create(client=later, kind=PointsEntry.Kind.EARNED, points=100, day=TODAY,
                               expires_on=TODAY + dt.timedelta(days=8))
    born = make_client(birth_date=dt.date(1990, TODAY.month, TODAY.day))
    enter_by_date(TODAY)
    assert _entered(expiring) == {soon.pk}
    assert _entered(birthday) == {born.pk}
