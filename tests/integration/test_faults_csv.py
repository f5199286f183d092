"""Hostile CSV files: huge cells, wrong types, injection strings, bad bytes. Each gets an error that
names the file, line and column, and nothing is half-imported or altered."""

import csv
import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from crm.models import Activity, Client, ImportRun, Purchase

pytestmark = pytest.mark.django_db

SQL = "Robert'); DROP TABLE crm_client;--"
HTML = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(1)">'


@pytest.fixture
def run(tmp_path, capsys):
    """run(command, name, content, *options) -> (ok, stdout + stderr, path)."""

    def call(command, name, content, *options):
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        try:
            call_command(command, str(path), *options)
            ok = True
            error = ""
        except CommandError as exc:
            ok, error = False, str(exc)
        out = capsys.readouterr()
        return ok, out.out + out.err + error, path

    return call


def test_huge_cells_are_refused_by_line_without_reading_the_file_into_memory(run):
    ok, output, path = run("import_clients", "huge.csv",
                           "client_id,first_name\nc0,Ann\nc1," + "x" * 1_200_000 + "\nc2,Bob\n")
    assert not ok and f"{path}:3: not valid CSV (field larger than field limit" in output
    assert Client.objects.count() == 0

    ok, output, path = run("import_clients", "long.csv",
                           "client_id,first_name,city\nc1," + "x" * 10_000 + ",Kazan\nc2,Bob," + "y" * 500 + "\n")
    assert not ok
    assert f"{path}:2: first_name: too long (10000 characters, at most 100)" in output
    assert f"{path}:3: city: too long (500 characters, at most 100)" in output
    assert Client.objects.count() == 0


def test_wrong_types_are_named_cell_by_cell(run):
    ok, output, path = run("import_clients", "types.csv",
                           "client_id,birth_date,email_consent,gender,country,email\n"
                           "c1,2024-13-45,maybe,x,Russia,not@an@email\n"
                           "c2,1990-01-01,yes,f,RU,ok@example.com\n")
    assert not ok
    for message in ("birth_date: '2024-13-45' is not a date", "email_consent: 'maybe' is not yes/no",
                    "gender: 'x' is not a gender", "country: 'Russia' is not an ISO 3166-1 alpha-2",
                    "email: 'not@an@email' is not an email address"):
        assert f"{path}:2: {message}" in output
    assert Client.objects.count() == 0

    ok, output, path = run("import_purchases", "orders.csv",
                           "order_id,client_id,purchased_at,amount,currency,status\n"
                           "o1,c1,2024-01-01,1e400,RUB,completed\n"
                           "o2,c1,2024-01-01,NaN,RUB,completed\n"
                           "o3,c1,2024-01-01,Infinity,RUB,completed\n"
                           "o4,c1,2024-01-01,999999999999999.99,RUB,completed\n"
                           "o5,c1,2024-01-01,10,RUBLES,completed\n"
                           "o6,c1,2024-01-01,10,RUB,stolen\n"
                           "o7,c1,99999-01-01,10,RUB,completed\n"
                           "o8,c1,2024-01-01' OR 1=1 --,10,RUB,completed\n"
                           "o9,c1,2024-01-01,10,RUB,completed\n")
    assert not ok
    for line, message in [(2, "amount: '1e400' is too large"), (3, "amount: 'NaN' is not a number"),
                          (4, "amount: 'Infinity' is not a number"), (5, "amount: '999999999999999.99' is too large"),
                          (6, "currency: 'RUBLES' is not a currency code"), (7, "status: 'stolen' is not one of"),
                          (8, "purchased_at: '99999-01-01' is not an ISO 8601"),
                          (9, "purchased_at: \"2024-01-01' OR 1=1 --\" is not an ISO 8601")]:
        assert f"{path}:{line}: {message}" in output
    assert Purchase.objects.count() == 0 and Client.objects.count() == 0


def test_injection_strings_are_stored_as_plain_text_and_shown_escaped(run, admin_client):
    ok, output, _ = run("import_clients", "inj.csv",
                        "client_id,first_name,last_name,city,acquisition_channel\n"
                        f'c1,"{SQL}",{HTML},"{IMG.replace(chr(34), chr(34) * 2)}","1; DELETE FROM crm_purchase"\n'
                        "c2,Bob,,,\n")
    assert ok, output
    client = Client.objects.get(external_id="c1")
    assert (client.first_name, client.last_name, client.city) == (SQL, HTML, IMG)
    assert Client.objects.count() == 2 and "crm_client" in connection.introspection.table_names()

    page = admin_client.get(reverse("admin:crm_client_change", args=[client.pk])).content.decode()
    assert HTML not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert IMG not in page
    listing = admin_client.get(reverse("admin:crm_client_changelist"), {"q": SQL})
    assert listing.status_code == 200


def test_invalid_utf8_deep_in_a_big_file_names_its_line_and_imports_nothing(run):
    rows = "".join(f"c{i},Name{i}\n" for i in range(7000)).encode()
    ok, output, path = run("import_clients", "bad.csv",
                           b"client_id,first_name\n" + rows + b"c7001,Bad\xff\xfename\n" + b"c7002,Fine\n")
    assert not ok and f"{path}:7002: not UTF-8 text (byte 0xff at position 10)" in output
    assert Client.objects.count() == 0


def test_broken_quoting_names_its_line(run):
    ok, output, path = run("import_clients", "quotes.csv", 'client_id,first_name\nc1,"Ann\nc2,Bob\n')
    assert not ok and f"{path}:" in output and "not valid CSV" in output
    assert Client.objects.count() == 0


def test_formula_cells_are_imported_as_text_and_escaped_in_the_rejected_file(run):
    formula = '=HYPERLINK("http://x","y")'
    ok, output, path = run("import_clients", "formula.csv",
                           "client_id,first_name,email\n"
                           f'c1,"{formula.replace(chr(34), chr(34) * 2)}",ann@example.com\n'
                           f'c2,"{formula.replace(chr(34), chr(34) * 2)}",bad-address\n', "--skip-invalid")
    assert ok and "created 1" in output and "rejected 1" in output
    assert Client.objects.get(external_id="c1").first_name == formula  # kept as the shop sent it
    with open(path.with_name("formula.rejected.csv"), encoding="utf-8", newline="") as f:
        assert list(csv.reader(f))[1][:3] == ["c2", "'" + formula, "bad-address"]


def test_a_nul_byte_in_a_cell_is_refused_with_its_line(run):
    ok, output, path = run("import_clients", "nul.csv", b"client_id,first_name\nc1,An\x00n\nc2,Bob\n")
    assert not ok and f"{path}:2:" in output
    assert Client.objects.count() == 0


@pytest.mark.parametrize("properties", [
    '"{""a"": NaN}"',  # Python reads NaN in JSON, PostgreSQL's jsonb does not
    '"{""a"": ' + "[" * 100_000 + "]" * 100_000 + '}"',  # nesting deep enough to exhaust the parser's stack
])
def test_activity_properties_that_json_columns_cannot_hold_are_refused_with_their_line(run, properties):
    ok, output, path = run("import_activity", "acts.csv",
                           f"client_id,kind,occurred_at,properties\nc1,login,2024-01-02,{properties}\n")
    assert not ok and f"{path}:2: properties:" in output
    assert Activity.objects.count() == 0 and ImportRun.objects.get().ok is False


@pytest.mark.parametrize(("properties", "message"), [
    # Python's json reads a number too large for a float as infinity, which jsonb cannot hold.
    ('"{""price"": 1e999}"', "properties: 1e999 is too large a number (at price)"),
    ('"{""a"": [1, {""b"": -1e400}]}"', "properties: -1e400 is too large a number (at a[1].b)"),
    ('"{""a"": {""b"": Infinity}}"', "properties: Infinity is not a JSON value (at a.b)"),
])
def test_activity_properties_with_a_number_json_columns_cannot_hold_are_refused_naming_line_and_place(
        run, properties, message):
    ok, output, path = run("import_activity", "acts.csv", "client_id,kind,occurred_at,properties\n"
                           f"c1,login,2024-01-02,\"{{}}\"\nc2,login,2024-01-02,{properties}\n", "--skip-invalid")
    assert ok and f"{path}:3: {message}" in output and "rejected 1" in output
    assert list(Activity.objects.values_list("client__external_id", flat=True)) == ["c1"]
    with open(path.with_name("acts.rejected.csv"), encoding="utf-8", newline="") as f:
        assert [row[0] for row in csv.reader(f)][1:] == ["c2"]  # the rejected row is kept


def test_an_event_after_now_is_refused_and_one_of_today_in_the_shops_zone_is_not(run, settings):
    # Kiritimati is 14 hours ahead of UTC: the shop's today may be tomorrow in UTC, and is still not the future.
    settings.TIME_ZONE = "Pacific/Kiritimati"
    now = timezone.now()
    soon = (now + dt.timedelta(minutes=5)).isoformat()
    today = timezone.localdate(now).isoformat()
    in_an_hour_there = (timezone.localtime(now) + dt.timedelta(hours=1)).replace(tzinfo=None).isoformat()
    ok, output, path = run("import_activity", "acts.csv", "client_id,kind,occurred_at\n"
                           f"c1,login,{today}\nc2,login,{soon}\nc3,login,{in_an_hour_there}\n", "--skip-invalid")
    assert ok and "rejected 2" in output
    assert f"{path}:3: occurred_at: '{soon}' is in the future" in output
    assert f"{path}:4: occurred_at: '{in_an_hour_there}' is in the future" in output
    assert list(Activity.objects.values_list("client__external_id", flat=True)) == ["c1"]
