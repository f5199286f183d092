"""{% load paging %}: an admin list's count in words when it is not exact (crm/admin_paging.py), for
templates/admin/search_form.html, pagination.html and actions.html; empty for an exact count."""

from django import template

from crm.admin_paging import EXACT, approximately, count_of, count_words

register = template.Library()


def _kind(cl):
    return getattr(getattr(cl, "paginator", None), "count_kind", EXACT)


@register.simple_tag
def result_words(cl):
    return count_words(cl.result_count, _kind(cl)) or ""


@register.simple_tag
def pagination_words(cl):
    return count_of(cl.opts.verbose_name_plural, cl.result_count, _kind(cl)) or ""


@register.simple_tag
def approximate_count(cl):
    return approximately(cl.result_count, _kind(cl)) or ""
