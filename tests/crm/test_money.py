"""Money in the shop's currency, as a reader of the active language writes it (crm/money.py)."""

from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import translation

from crm.money import format_money


def render(text, **context):
    return Template("{% load money %}" + text).render(Context(context))


@pytest.mark.parametrize(("language", "expected"), [("ru", "1\xa0234\xa0567,50\xa0₽"), ("en", "RUB\xa01,234,567.50")])
def test_it_groups_the_digits_and_places_the_sign_as_the_language_does(settings, language, expected):
    settings.CRM_CURRENCY = "RUB"
    with translation.override(language):
        assert format_money(Decimal("1234567.5")) == expected
        assert render("{{ amount|money }}", amount=Decimal("1234567.5")) == expected


def test_it_shows_the_shops_currency_from_the_settings(settings):
    settings.CRM_CURRENCY = "EUR"
    with translation.override("en"):
        assert render("{{ amount|money }}", amount=12) == "€12.00"
    with translation.override("ru"):
        assert render("{{ amount|money }}", amount=12) == "12,00\xa0€"


def test_it_rounds_half_up_to_the_digits_asked_for():
    with translation.override("ru"):
        assert render("{{ amount|money:0 }}", amount=Decimal("2999.5")) == "3\xa0000\xa0₽"
        assert format_money(0.125) == "0,13\xa0₽"  # a float is read as it prints, not as its binary value
    with translation.override("en"):
        assert format_money(Decimal("-3.105")) == "-RUB\xa03.11"


def test_differences_carry_their_sign_and_nothing_shows_a_dash():
    with translation.override("ru"):
        assert format_money(Decimal("12.3"), sign=True) == "+12,30\xa0₽"
        assert format_money(Decimal("-12.3"), sign=True) == "-12,30\xa0₽"
        assert render("{{ amount|money }}", amount=None) == "—"


def test_a_currency_without_a_known_sign_shows_its_code(settings):
    with translation.override("ru"):
        assert format_money(5, currency="CHF") == "5,00\xa0CHF"
    with translation.override("en"):
        assert format_money(5, currency="usd") == "$5.00"
