"""{% load money %} ... {{ amount|money }} (2 decimals) or {{ amount|money:0 }} (whole units): crm/money.py."""

from django import template

from crm.money import format_money

register = template.Library()


@register.filter
def money(value, decimals=2):
    return format_money(value, decimals=int(decimals))
