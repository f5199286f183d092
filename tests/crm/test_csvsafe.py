"""Cells a spreadsheet would run as formulas are escaped in every CSV written for people."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from crm.csvsafe import escape_cell, writer
from crm.models import Client, Purchase
from nightly.pipeline import rebuild_segments

HYPERLINK = '=HYPERLINK("http://x","y")'


@pytest.mark.parametrize(("value", "escaped"), [
    (HYPERLINK, "'" + HYPERLINK),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
    ("@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
    ("+7 912 345-67-89", "'+7 912 345-67-89"),
    # Plain numbers run nothing and stay numbers for the analysts.
    ("-12.50", "-12.50"), ("+7", "+7"), ("-0,5", "-0,5"), ("-1e3", "-1e3"),
    # Nothing else changes.
    ("Анна", "Анна"), ("a=b", "a=b"), ("", ""), ("'quoted", "'quoted"), (12, 12), (None, None),
])
def test_it_escapes_cells_that_start_like_a_formula_and_nothing_else(value, escaped):
    assert escape_cell(value) == escaped


def test_the_writer_writes_escaped_rows():
    out = io.StringIO()
    writer(out, lineterminator="\n").writerows([["id", "name"], ["c1", HYPERLINK]])
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [["id", "name"], ["c1", "'" + HYPERLINK]]


@pytest.mark.django_db
def test_it_escapes_a_formula_in_a_rejected_row_of_an_import(write_csv, run_command):
    path = write_csv("clients.csv", "client_id,first_name,email,birth_date\n"
                                    f'c1,"{HYPERLINK.replace(chr(34), chr(34) * 2)}",not-an-email,1990-01-01\n'
                                    "c2,Anna,anna@example.com,@1990\n")
    ok, out, _ = run_command("import_clients", str(path), "--skip-invalid")
    assert ok and "rejected 2" in out
    with open(path.parent / "clients.rejected.csv", encoding="utf-8", newline="") as f:
        rejected = list(csv.reader(f))
    assert rejected[1][:4] == ["c1", "'" + HYPERLINK, "not-an-email", "1990-01-01"]
    assert rejected[2][:4] == ["c2", "Anna", "anna@example.com", "'@1990"]
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rejected for cell in row)


@pytest.fixture
def hostile_client_scored(db):
    client = Client.objects.create(external_id=HYPERLINK)
    Purchase.objects.create(external_id="o1", client=client, amount=Decimal(10),
                            purchased_at=dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC))
    rebuild_segments(dt.date(2025, 12, 31))


def test_it_escapes_a_formula_client_id_in_the_scores_export(hostile_client_scored, run_command_output):
    rows = list(csv.reader(io.StringIO(run_command_output("export_scores", "-"))))
    assert rows[1][0] == "'" + HYPERLINK
    assert rows[1][3] == "10.00"


def test_it_escapes_a_formula_client_id_in_the_scores_download(hostile_client_scored, admin_client):
    response = admin_client.get(reverse("admin:segments_scores_csv"))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[1][0] == "'" + HYPERLINK
