"""Months as integers (year * 12 + month - 1): what the snapshot's series are indexed by."""

import datetime as dt


def index_of(day):
    return day.year * 12 + day.month - 1


def label(index):
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def parse(text):
    """'2026-05' -> month index; ValueError for anything else."""
    year, month = text.split("-")
    if len(year) != 4 or not 1 <= int(month) <= 12:
        raise ValueError(text)
    return int(year) * 12 + int(month) - 1


def first_day(index):
    return dt.date(index // 12, index % 12 + 1, 1)
