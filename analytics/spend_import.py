"""Marketing spend from a CSV file: columns channel, month (YYYY-MM or a date in it), amount.

A small file (a row per channel and month), so it is read whole: any bad row and nothing is
written, each problem named as FILE:LINE: column: reason, as the client importers do. A (channel,
month) already entered is updated: importing the same file again changes nothing.
"""

import csv
import datetime as dt
import io
from dataclasses import dataclass, field

from django.db import transaction
from django.utils.translation import gettext as _

from crm import parsing
from crm.importing.source import delimiter_of

from .models import MarketingSpend

COLUMNS = ("channel", "month", "amount")


@dataclass
class SpendReport:
    file: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.errors


def parse_month(text):
    """'2026-05' or a date in the month ('2026-05-17') -> the month's first day."""
    text = text.strip()
    try:
        return dt.date.fromisoformat(text if len(text) > 7 else f"{text}-01").replace(day=1)
    except ValueError:
        pass
    raise ValueError(_("'%(value)s' is not a month (YYYY-MM)") % {"value": text})


def import_spend(name, data):
    """Import `data` (bytes of a CSV file called `name`). Returns a SpendReport."""
    report = SpendReport(file=name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        report.errors.append(f"{name}: " + _("the file is not UTF-8 text"))
        return report
    reader = csv.reader(io.StringIO(text), delimiter=delimiter_of(text.split("\n", 1)[0]))
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        report.errors.append(f"{name}:1: " + _("missing column(s): %(columns)s") % {"columns": ", ".join(missing)})
        return report
    at = {c: header.index(c) for c in COLUMNS}
    rows = {}
    for line, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        cell = {c: (cells[i] if i < len(cells) else "") for c, i in at.items()}
        if len(cells) > len(header):  # e.g. "1 000,50" unquoted in a comma-separated file
            report.errors.append(f"{name}:{line}: " + _("%(cells)d cells, but the header has %(columns)d columns")
                                 % {"cells": len(cells), "columns": len(header)})
            continue
        problems = []
        try:
            channel = parsing.text(cell["channel"], 64, required=True)
        except ValueError as exc:
            problems.append(("channel", str(exc)))
        try:
            month = parse_month(cell["month"])
        except ValueError as exc:
            problems.append(("month", str(exc)))
        try:
            amount = parsing.decimal(parsing.text(cell["amount"], 40, required=True), 14, 2)
        except ValueError as exc:
            problems.append(("amount", str(exc)))
        if not problems and (channel, month) in rows:
            problems.append(("month", _("%(channel)s %(month)s appears twice in the file")
                             % {"channel": channel, "month": f"{month:%Y-%m}"}))
        for column, reason in problems:
            report.errors.append(f"{name}:{line}: {column}: {reason}")
        if not problems:
            rows[(channel, month)] = amount
    if report.errors:
        return report
    with transaction.atomic():
        existing = {(s.channel, s.month): s for s in MarketingSpend.objects.filter(
            channel__in={c for c, _m in rows}, month__in={m for _c, m in rows})}
        for key, amount in rows.items():
            spend = existing.get(key)
            if spend is None:
                MarketingSpend.objects.create(channel=key[0], month=key[1], amount=amount)
                report.created += 1
            elif spend.amount != amount:
                spend.amount = amount
                spend.save(update_fields=["amount", "updated_at"])
                report.updated += 1
            else:
                report.unchanged += 1
    return report
