"""The points ledger: append-only, a reason for every manual adjustment, no spending past the balance."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from crm.models import Client
from loyalty import ledger
from loyalty.models import PointsEntry


@pytest.fixture
def client_row(db):
    return Client.objects.create(external_id="c1")


def test_a_manual_adjustment_without_a_reason_is_refused_with_a_clear_message(client_row):
    with pytest.raises(ValidationError) as refused:
        ledger.adjust(client_row, 50, "  ")
    assert refused.value.message_dict["reason"] == ["A manual adjustment needs a reason: say why the balance changes."]
    assert not PointsEntry.objects.exists()


def test_the_database_refuses_an_adjustment_without_a_reason_too(client_row):
    with pytest.raises(IntegrityError):
        PointsEntry.objects.create(client=client_row, kind="adjusted", points=5, day="2026-03-01")


def test_the_balance_is_the_sum_of_the_rows_and_rows_are_never_changed(client_row):
    ledger.adjust(client_row, 50, "goodwill after a late delivery")
    entry = ledger.spend(client_row, 20, "coupon")
    assert PointsEntry.objects.balance(client_row) == 30
    entry.points = -1
    with pytest.raises(ValueError):
        entry.save()
    with pytest.raises(ValueError):
        entry.delete()
    assert PointsEntry.objects.balance(client_row) == 30


def test_spending_more_than_the_balance_is_refused(client_row):
    ledger.adjust(client_row, 10, "welcome")
    with pytest.raises(ValidationError) as refused:
        ledger.spend(client_row, 11)
    assert refused.value.message_dict["points"] == ["The client has 10 points; 11 cannot be spent."]


def test_a_spend_with_the_same_reference_is_recorded_once(client_row):
    ledger.adjust(client_row, 10, "welcome")
    ledger.spend(client_row, 4, reference="redeem-1")
    assert ledger.spend(client_row, 4, reference="redeem-1") is None
    assert PointsEntry.objects.balance(client_row) == 6
