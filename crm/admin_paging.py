"""Admin lists that stay fast on a big table: no full-table COUNT(*).

Buys: a client or purchase list page does not count the whole table on every view (no bench carries it yet).
Such a count is not exact, so the list says so in words ("about 20,000", "more than 10,000"): see
`count_words` and templates/admin/pagination.html, search_form.html.
"""

from django.core.paginator import Paginator
from django.utils import formats
from django.utils.functional import cached_property
from django.utils.translation import gettext, ngettext

from core.sql import estimated_rows

COUNT_CAP = 10_000
EXACT, ESTIMATE, CAPPED = "exact", "estimate", "capped"


class EstimatedCountPaginator(Paginator):
    """Unfiltered lists use the planner's row estimate; filtered lists count at most COUNT_CAP + 1
    rows, so a broad search never scans the whole table just to number pages. `count_kind` says
    which the count is: EXACT, ESTIMATE or CAPPED (more than COUNT_CAP)."""

    count_kind = EXACT

    @cached_property
    def count(self):
        queryset = self.object_list
        if not queryset.query.where:
            estimate = estimated_rows(queryset.model)
            if estimate > COUNT_CAP:
                self.count_kind = ESTIMATE
                return estimate
        counted = queryset.order_by()[: COUNT_CAP + 1].count()
        if counted > COUNT_CAP:
            self.count_kind = CAPPED
        return counted


def rounded(n):
    """An estimate to two significant figures (20,013 -> 20,000): more digits would claim a precision
    the planner's estimate does not have."""
    digits = len(str(abs(n)))
    return round(n, -(digits - 2)) if digits > 2 else n


def count_words(count, kind):
    """"about 20,000 results" / "more than 10,000 results" in the user's language, the number grouped
    as the language writes it; None for an exact count (Django's own wording stays)."""
    if kind == ESTIMATE:
        shown = rounded(count)
        return ngettext("about %(count)s result", "about %(count)s results", shown) % {
            "count": formats.number_format(shown, force_grouping=True)}
    if kind == CAPPED:
        return ngettext("more than %(count)s result", "more than %(count)s results", COUNT_CAP) % {
            "count": formats.number_format(COUNT_CAP, force_grouping=True)}
    return None


def approximately(count, kind):
    """"about 20,000" / "more than 10,000"; None for an exact count."""
    if kind == ESTIMATE:
        return gettext("about %(count)s") % {"count": formats.number_format(rounded(count), force_grouping=True)}
    if kind == CAPPED:
        return gettext("more than %(count)s") % {"count": formats.number_format(COUNT_CAP, force_grouping=True)}
    return None


def count_of(things, count, kind):
    """The pagination line's "Clients: about 20,000"; None for an exact count."""
    number = approximately(count, kind)
    if number is None:
        return None
    return gettext("%(things)s: %(count)s") % {"things": str(things).capitalize(), "count": number}
