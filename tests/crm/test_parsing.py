import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest

from crm import parsing


@pytest.mark.parametrize(("raw", "region", "expected"), [
    ("8 912 345-67-89", "RU", "+79123456789"),
    ("+7 (912) 345-67-89", "DE", "+79123456789"),
    ("9123456789", "RU", "+79123456789"),
    ("030 1234567", "DE", "+49301234567"),
    ("", "RU", ""),
])
def test_it_normalizes_phones_to_e164(raw, region, expected):
    assert parsing.phone(raw, region) == expected


def test_it_refuses_impossible_phones():
    with pytest.raises(ValueError, match="not a possible phone number"):
        parsing.phone("123", "RU")


@pytest.mark.parametrize(("raw", "expected"), [("10", Decimal(10)), ("1 234,50", Decimal("1234.50")),
                                               ("0", Decimal(0)), ("\u00a01\u00a0000.5", Decimal("1000.5"))])
def test_it_reads_money_as_spreadsheets_write_it(raw, expected):
    assert parsing.decimal(raw, 14, 2) == expected


@pytest.mark.parametrize(("raw", "reason"), [("NaN", "not a number"), ("1e400", "too large"),
                                             ("1.005", "more than 2 decimal places"), ("-1", "at least 0")])
def test_it_refuses_bad_money(raw, reason):
    with pytest.raises(ValueError, match=reason):
        parsing.decimal(raw, 14, 2)


def test_a_naive_time_is_read_in_the_given_zone():
    moscow = zoneinfo.ZoneInfo("Europe/Moscow")
    assert parsing.datetime("2024-01-01 12:00", moscow) == dt.datetime(2024, 1, 1, 9, 0, tzinfo=dt.UTC)
    assert parsing.datetime("2024-01-01", moscow) == dt.datetime(2023, 12, 31, 21, 0, tzinfo=dt.UTC)
    assert parsing.datetime("2024-01-01T12:00:00Z", moscow) == dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.UTC)


def test_countries_are_iso_alpha_2():
    assert parsing.country(" ru ") == "RU"
    with pytest.raises(ValueError, match="ISO 3166-1"):
        parsing.country("RUS")
