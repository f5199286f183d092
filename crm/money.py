"""Amounts of money as people read them: in the shop's currency (settings.CRM_CURRENCY), with the
digits grouped and the decimal mark of the active language; and shares as percents.

Russian puts the sign after the number: "1 234,50 ₽" (a no-break space groups the thousands and
ties the sign to the number). English puts the sign before it where English readers know it
("$1,234.50", "€1,234.50") and the ISO code otherwise, as CLDR's English does: "RUB 1,234.50".
Numbers go through Django's locale formats (formats.number_format), not hand-written rules.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.conf import settings
from django.utils import formats, translation

NBSP = "\xa0"
# Signs placed after the number in Russian; a currency not listed shows its code.
RUSSIAN_SIGNS = {"RUB": "₽", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CNY": "¥", "KZT": "₸", "UAH": "₴",
                 "BYN": "Br", "TRY": "₺", "INR": "₹"}
# Signs English readers know, placed before the number; any other currency shows its code and a space.
ENGLISH_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
EMPTY = "—"


def format_percent(share):
    """A share as a percent with one decimal in the active language: 0.907 -> "90.7%" ("90,7%" in
    Russian); "—" for None."""
    return EMPTY if share is None else formats.number_format(round(share * 100, 1), 1, use_l10n=True) + "%"


def format_money(value, decimals=2, currency=None, sign=False):
    """`value` (Decimal, int, float or numeric text) as money in the active language; "—" for None.

    decimals: digits after the decimal mark (0 for whole units on dashboards); sign: "+" before
    positive amounts (differences such as an uplift).
    """
    if value is None or value == "":
        return EMPTY
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if not number.is_finite():
        return EMPTY
    # number_format cuts extra digits off; round half up first, as people and accountants do.
    number = number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    code = (currency or settings.CRM_CURRENCY).upper()
    digits = formats.number_format(abs(number), decimals, use_l10n=True, force_grouping=True)
    minus = "-" if number < 0 else ("+" if sign and number > 0 else "")
    if (translation.get_language() or settings.LANGUAGE_CODE).startswith("ru"):
        return f"{minus}{digits}{NBSP}{RUSSIAN_SIGNS.get(code, code)}"
    if code in ENGLISH_SIGNS:
        return f"{minus}{ENGLISH_SIGNS[code]}{digits}"
    return f"{minus}{code}{NBSP}{digits}"
