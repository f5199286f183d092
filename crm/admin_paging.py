"""Admin lists that stay fast on a big table: no full-table COUNT(*).

Buys: a client or purchase list page does not count the whole table on every view (no bench carries it yet).
"""

from django.core.paginator import Paginator
from django.utils.functional import cached_property

from core.sql import estimated_rows

COUNT_CAP = 10_000


class EstimatedCountPaginator(Paginator):
    """Unfiltered lists use the planner's row estimate; filtered lists count at most COUNT_CAP + 1
    rows, so a broad search never scans the whole table just to number pages."""

    @cached_property
    def count(self):
        queryset = self.object_list
        if not queryset.query.where:
            estimate = estimated_rows(queryset.model)
            if estimate > COUNT_CAP:
                return estimate
        return queryset.order_by()[: COUNT_CAP + 1].count()
