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


# The importer parses a batch a column at a time (`texts`, `decimals`, `datetimes`); a cell on its
# own goes through the same rule as a column of one. Both must agree on every cell: the column
# gives each cell's value when all are valid, and refuses the column when any cell is invalid.
AMOUNTS = ["10", "1 234,50", "0", "\u00a01\u00a0000.5", "1234.50", " 7 ", "1,5", "1.500", "1e3", "1E-2", "NaN",
           "-Infinity", "1e400", "1.005", "-1", "", "abc", "1,000.5", "99999999999999.99", "999999999999.99",
           "٣٫٥", "1_000", "+5", "-0", "0.00"]
MOMENTS = ["2024-01-01", "2024-01-01 12:00", "2024-01-01T12:00:00Z", " 2024-06-30T23:59:59+03:00 ", "1899-12-31",
           "1900-01-01T00:00:00+05:00", "2999-01-01", "yesterday", "", "2024-13-01", "20240101"]
TEXTS = ["plain", "  padded  ", "", "   ", "x" * 10, "x" * 11, "Клиент"]


def _outcome(parse, cell):
    try:
        return parse(cell)
    except ValueError as exc:
        return ValueError, str(exc)


@pytest.mark.parametrize(("cells", "cell_rule", "column_rule"), [
    (AMOUNTS, lambda cell: parsing.decimal(cell, 14, 2), lambda cells: parsing.decimals(cells, 14, 2)),
    (AMOUNTS, lambda cell: parsing.decimal(cell, 12, 3, allow_zero=False),
     lambda cells: parsing.decimals(cells, 12, 3, allow_zero=False)),
    (MOMENTS, lambda cell: parsing.datetime(cell, dt.UTC, now=dt.datetime(2025, 1, 1, tzinfo=dt.UTC)),
     lambda cells: parsing.datetimes(cells, dt.UTC, now=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))),
    (TEXTS, lambda cell: parsing.text(cell, 10), lambda cells: parsing.texts(cells, 10)),
    (TEXTS, lambda cell: parsing.text(cell, 10, required=True), lambda cells: parsing.texts(cells, 10, required=True)),
], ids=["money", "quantity", "datetime", "text", "required-text"])
def test_a_column_is_parsed_as_its_cells_are(cells, cell_rule, column_rule):
    outcomes = [_outcome(cell_rule, cell) for cell in cells]
    valid = [cell for cell, outcome in zip(cells, outcomes) if not isinstance(outcome, tuple)]
    invalid = [(cell, outcome) for cell, outcome in zip(cells, outcomes) if isinstance(outcome, tuple)]
    assert valid and invalid  # the cells exercise both
    assert column_rule(valid) == [cell_rule(cell) for cell in valid]
    assert column_rule([]) == []
    for cell, (_, message) in invalid:
        # Among valid cells, an invalid one fails the column with its own message.
        with pytest.raises(ValueError) as refused:
            column_rule([*valid, cell, *valid])
        assert str(refused.value) == message


@pytest.mark.parametrize(("raw", "message"), [
    ("abc", "'abc' is not a number"), ("NaN", "'NaN' is not a number"), (" -1", "' -1' must be at least 0"),
    ("1.005", "'1.005' has more than 2 decimal places"), ("1e400", "'1e400' is too large"),
])
def test_money_is_refused_with_a_message_naming_the_cell(raw, message):
    with pytest.raises(ValueError) as refused:
        parsing.decimal(raw, 14, 2)
    assert str(refused.value) == message


def test_a_quantity_must_be_more_than_zero():
    with pytest.raises(ValueError, match=r"^'0\.000' must be more than 0$"):
        parsing.decimal("0.000", 12, 3, allow_zero=False)


@pytest.mark.parametrize(("raw", "message"), [
    (" soon ", "'soon' is not an ISO 8601 date or date and time"), ("1899-12-31", "'1899-12-31' is before 1900"),
    ("2999-01-01", "'2999-01-01' is in the future"),
])
def test_a_bad_time_is_refused_with_a_message_naming_the_cell(raw, message):
    with pytest.raises(ValueError) as refused:
        parsing.datetime(raw, dt.UTC, now=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    assert str(refused.value) == message


def test_text_is_refused_when_empty_or_too_long():
    with pytest.raises(ValueError, match=r"^required, but empty$"):
        parsing.text("  ", 10, required=True)
    with pytest.raises(ValueError, match=r"^too long \(11 characters, at most 10\)$"):
        parsing.text(" " + "x" * 11 + " ", 10)
