"""CSV files people open in a spreadsheet: cells that a spreadsheet would run as a formula are escaped.

A cell starting with `=`, `+`, `-` or `@` (or a tab or carriage return, which some spreadsheets skip
before reading one of those) is taken as a formula by Excel, LibreOffice and Google Sheets:
`=HYPERLINK("http://evil","click")` in an imported first name would become a live link, and
`=cmd|' /C calc'!A0` worse. Such cells get a leading single quote, which spreadsheets show as text
(OWASP, "CSV Injection"). A plain number such as `-12.5` or `+7` is left as it is: it cannot run
anything, and analysts need it to stay a number.

Used by every CSV we write for people (the importer's rejected rows, the scores export, admin
downloads). Not by the audience files for ad platforms: those are read by the platforms' machines in
a layout they specify, hold hashed values, and a quote would change what is matched.
"""

import csv
import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?")


def escape_cell(value):
    """The value as it is safe to put in a CSV cell for people; non-text values are returned as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def escape_row(row):
    return [escape_cell(value) for value in row]


class SafeWriter:
    """csv.writer whose rows are escaped; the same writerow / writerows."""

    def __init__(self, stream, **options):
        self._writer = csv.writer(stream, **options)

    def writerow(self, row):
        return self._writer.writerow(escape_row(row))

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def writer(stream, **options):
    return SafeWriter(stream, **options)
