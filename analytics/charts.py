"""A chart as the pages use it: one table of numbers that is drawn (Chart.js, or a coloured table
for a heat map), shown as a table and downloaded as CSV: the three always agree because they
come from the same rows.
"""

import io
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.utils import formats
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm import csvsafe
from crm.money import EMPTY, format_money

# How a column's values read: in the table (text), on the chart's axis (unit), in the CSV (raw).
TEXT, COUNT, MONEY, SHARE, NUMBER, SCORE, POINTS = "text", "count", "money", "share", "number", "score", "points"
CORRELATION = "correlation"  # from -1 to 1, where the second and third decimals matter


@dataclass
class Column:
    title: object
    kind: str = COUNT
    plotted: bool = False  # a series of the chart (line or bar)

    def header(self):
        """The CSV header: the unit spelled out, as the values there are bare numbers."""
        if self.kind == MONEY:
            return f"{self.title}, {settings.CRM_CURRENCY}"
        if self.kind == SHARE:
            return f"{self.title}, %"
        if self.kind == POINTS:
            return f"{self.title}, {gettext('pp')}"
        return str(self.title)

    def shown(self, value):
        if value is None or value == "":
            return EMPTY
        if self.kind == TEXT:
            return str(value)
        if self.kind == MONEY:
            return format_money(value, decimals=0 if abs(value) >= 1000 else 2)
        if self.kind == SHARE:
            return _number(value * 100, 1) + "%"
        if self.kind == POINTS:  # a difference of two rates, in percentage points
            return ("+" if value > 0 else "") + _number(value * 100, 1) + " " + gettext("pp")
        if self.kind in (NUMBER, SCORE):
            return _number(value, 1)
        if self.kind == CORRELATION:
            return _number(value, 3)
        return _number(value, 0)

    def raw(self, value):
        if value is None:
            return ""
        if self.kind in (SHARE, POINTS):
            return round(value * 100, 2)
        if self.kind in (MONEY, NUMBER, SCORE):
            return round(float(value), 2)
        if self.kind == CORRELATION:
            return round(float(value), 4)
        return value


@dataclass
class Chart:
    key: str  # its CSV address: csv/<key>/
    title: object
    kind: str  # "line", "bar" or "heatmap" (a table coloured by value)
    columns: list  # Column; the first is the label of each row (x axis, or heat map row)
    rows: list = field(default_factory=list)
    definition: object = ""
    note: object = ""
    heat_columns: tuple = ()  # heat map: indexes of the coloured columns
    heat_skip: frozenset = frozenset()  # (row, column) cells left uncoloured, e.g. a matrix's diagonal

    @property
    def empty(self):
        return not self.rows

    def table(self):
        """Rows of {text, heat} cells for the template; heat in 0..1 (None: not coloured)."""
        top = max((abs(r[i]) for n, r in enumerate(self.rows) for i in self.heat_columns
                   if r[i] is not None and (n, i) not in self.heat_skip), default=0)
        out = []
        for n, row in enumerate(self.rows):
            cells = []
            for i, (column, value) in enumerate(zip(self.columns, row, strict=True)):
                heat = None
                if i in self.heat_columns and value is not None and (n, i) not in self.heat_skip:
                    heat = value / top if top else 0
                cells.append({"text": column.shown(value), "heat": heat_class(heat), "number": column.kind != TEXT})
            out.append(cells)
        return out

    def chart_data(self):
        """What static/analytics/charts.js draws: labels and one dataset per plotted column."""
        plotted = [(i, c) for i, c in enumerate(self.columns) if c.plotted]
        units = {c.kind for _, c in plotted}
        return {
            "type": self.kind,
            "labels": [str(row[0]) for row in self.rows],
            "datasets": [{"label": str(c.title), "data": [_point(c, row[i]) for row in self.rows]} for i, c in plotted],
            "unit": units.pop() if len(units) == 1 else "",
            "currency": settings.CRM_CURRENCY,
        }

    def csv(self):
        out = io.StringIO()
        writer = csvsafe.writer(out)
        writer.writerow([c.header() for c in self.columns])
        writer.writerows([c.raw(v) for c, v in zip(self.columns, row, strict=True)] for row in self.rows)
        return out.getvalue()


def _number(value, decimals):
    # number_format cuts extra digits off; round first (half away from zero, as people do).
    rounded = Decimal(str(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    return formats.number_format(rounded, decimals, use_l10n=True, force_grouping=True)


HEAT_LEVELS = 10


def heat_class(heat):
    """A heat-map cell's colour as a class of analytics/dashboard.css, from pale (heat-0) to deep blue
    (heat-10), white text on the deep end. Classes, not style="" attributes: the Content Security Policy
    refuses inline styles."""
    if heat is None:
        return ""
    level = round(min(max(float(heat), 0.0), 1.0) * HEAT_LEVELS)
    return f"heat heat-{level}" + (" heat-dark" if level > HEAT_LEVELS / 2 else "")


def _point(column, value):
    if value is None:
        return None
    if column.kind == SHARE:
        return round(value * 100, 2)
    return round(float(value), 4 if column.kind == CORRELATION else 2)


NONE_LABEL = _("(none)")
