"""Activity of kind `session` carries checked visit properties, by CSV and by the API alike."""

import pytest
from django.urls import reverse

from crm.models import Activity, Client

pytestmark = pytest.mark.django_db

HEADER = "client_id,kind,occurred_at,properties\n"


def _row(properties, kind="session", occurred="2025-03-01T10:30:00Z"):
    return f'c1,{kind},{occurred},"{properties.replace(chr(34), chr(34) * 2)}"\n'


def test_a_session_keeps_its_properties_with_the_start_in_utc(write_csv, run_command):
    props = ('{"started_at": "2025-03-01T13:00:00+03:00", "duration_seconds": 95.5, "pages": 4, '
             '"channel": "App", "target_action": "signup", "utm": "x"}')
    ok, out, err = run_command("import_activity", str(write_csv("s.csv", HEADER + _row(props))))
    assert ok, err
    assert Activity.objects.get().properties == {
        "started_at": "2025-03-01T10:00:00+00:00", "duration_seconds": 95.5, "pages": 4, "channel": "app",
        "target_action": "signup", "utm": "x"}


@pytest.mark.parametrize(("properties", "message"), [
    ('{"duration_seconds": -3}', "properties: duration_seconds: -3 is not a number of seconds from 0 to 86400"),
    ('{"duration_seconds": "long"}', "properties: duration_seconds: 'long' is not a number of seconds"),
    ('{"pages": 2.5}', "properties: pages: 2.5 is not a whole number from 0 to 100000"),
    ('{"pages": true}', "properties: pages: True is not a whole number"),
    ('{"channel": "tv"}', "properties: channel: 'tv' is not one of web, app"),
    ('{"target_action": ""}', "properties: target_action: '' is neither true/false nor the name of an action"),
    ('{"started_at": "yesterday"}', "properties: started_at: 'yesterday' is not an ISO 8601"),
    ('{"started_at": "2025-03-01T11:00:00Z"}', "properties: started_at: '2025-03-01T11:00:00Z' is after the row's"),
])
def test_a_bad_session_property_is_refused_naming_the_line_and_the_property(write_csv, run_command,
                                                                             properties, message):
    path = write_csv("s.csv", HEADER + _row('{"pages": 2}') + _row(properties, occurred="2025-03-01T10:31:00Z"))
    ok, _, err = run_command("import_activity", str(path))
    assert not ok and f"{path}:3: {message}" in err
    assert not Activity.objects.exists()


def test_other_kinds_keep_any_properties(write_csv, run_command):
    ok, _, err = run_command("import_activity", str(write_csv("s.csv", HEADER + _row('{"pages": -1}', kind="login"))))
    assert ok, err
    assert Activity.objects.get().properties == {"pages": -1}



def test_the_admin_form_checks_a_session_as_the_import_does(admin_client):
    client = Client.objects.create(external_id="c1")
    form = {"client": client.pk, "kind": "session", "occurred_at_0": "2025-03-01", "occurred_at_1": "10:30:00",
            "properties": '{"pages": -2}'}
    page = admin_client.post(reverse("admin:crm_activity_add"), form).content.decode()
    assert "pages: -2 is not a whole number from 0 to 100000" in page and not Activity.objects.exists()
    admin_client.post(reverse("admin:crm_activity_add"), form | {"properties": '{"pages": 2, "channel": "APP"}'})
    assert Activity.objects.get().properties == {"pages": 2, "channel": "app"}
