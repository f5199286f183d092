"""Staff accounts: lock-outs after wrong passwords, two-factor sign-in for roles holding personal data,
session timeouts, signing out everywhere, the Content Security Policy, and the audit log of each."""

import datetime as dt
import time

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm import roles
from crm.accounts import lockout, two_factor
from crm.accounts.middleware import LAST_SEEN, SIGNED_IN
from crm.models import AuditLog

LOGIN = "/admin/login/?next=/admin/"
SCORES_CSV = "/admin/segments/scoringrun/scores.csv"


@pytest.fixture
def two_factor_on(settings):
    settings.CRM_TWO_FACTOR_REQUIRED = True


@pytest.fixture
def administrator(db, django_user_model):
    roles.ensure_groups()
    user = django_user_model.objects.create_user("alice", password="right-password-1", is_staff=True)
    user.groups.set([Group.objects.get(name=roles.ADMINISTRATOR)])
    return user


def current_code(device):
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def unthrottle(user):
    """django-otp makes each wrong code delay the next try (1 s, 2 s, 4 s ...): a test does not wait."""
    for device in two_factor.devices(user):
        device.throttle_reset()


def actions():
    return list(AuditLog.objects.order_by("at", "pk").values_list("action", flat=True))


def test_twenty_wrong_passwords_lock_the_user_out_until_an_administrator_lifts_it(administrator, settings,
                                                                                  admin_user):
    settings.CRM_LOGIN_FAILURE_LIMIT = settings.AXES_FAILURE_LIMIT = 5
    browser = Client(REMOTE_ADDR="10.0.0.7")
    answers = [browser.post(LOGIN, {"username": "alice", "password": f"wrong-{i}"}).status_code for i in range(20)]

    assert answers[:4] == [200] * 4  # the form again, with its error
    assert answers[4:] == [429] * 16  # locked from the configured fifth failure on
    page = browser.post(LOGIN, {"username": "alice", "password": "right-password-1"})
    assert page.status_code == 429 and "_auth_user_id" not in browser.session
    assert "Too many failed sign-ins" in page.content.decode()

    lifter = Client()
    lifter.force_login(admin_user)
    listed = lifter.get(reverse("admin:axes_accessattempt_changelist")).content.decode()
    assert "alice" in listed and "Locked Out" in listed
    lifter.post(reverse("admin:axes_accessattempt_changelist"),
                {"action": "lift_lockouts", "_selected_action": list(AccessAttempt.objects.values_list("pk", flat=True))})
    assert not AccessAttempt.objects.exists()

    assert browser.post(LOGIN, {"username": "alice", "password": "right-password-1"}).status_code == 302
    assert browser.session["_auth_user_id"] == str(administrator.pk)
    log = actions()
    # django-axes announces the lock-out while it handles the fifth failure, before that failure's entry.
    assert log[:6] == ["sign_in_failed"] * 4 + ["locked_out", "sign_in_failed"]
    assert log[6:] == ["sign_in_failed"] * 16 + ["lockout_lifted", "sign_in"]
    refused = AuditLog.objects.filter(action="sign_in_failed").order_by("-at", "-pk").first()
    assert refused.detail == {"address": "10.0.0.7", "refused": "locked out"}
    locked = AuditLog.objects.get(action="locked_out")
    assert locked.target == "auth.user:alice" and locked.detail["failures"] == 5 and locked.detail["minutes"] == 15
    assert AuditLog.objects.get(action="lockout_lifted").actor == admin_user


def test_one_address_trying_many_user_names_is_locked_out_too(administrator, settings):
    settings.CRM_LOGIN_FAILURE_LIMIT = settings.AXES_FAILURE_LIMIT = 5
    browser = Client(REMOTE_ADDR="10.0.0.8")
    answers = [browser.post(LOGIN, {"username": f"user{i}", "password": "x"}).status_code for i in range(6)]
    assert answers[-1] == 429
    assert browser.post(LOGIN, {"username": "alice", "password": "right-password-1"}).status_code == 429


def test_the_cool_off_doubles_with_each_further_lock_out_and_stops_at_a_day():
    minutes = [lockout.cool_off_for(failures, 5, 15) for failures in (5, 9, 10, 15, 20, 500)]
    assert minutes == [dt.timedelta(minutes=15), dt.timedelta(minutes=15), dt.timedelta(minutes=30),
                       dt.timedelta(minutes=60), dt.timedelta(minutes=120), dt.timedelta(days=1)]


def test_an_administrator_without_a_second_factor_cannot_download_personal_data(administrator, two_factor_on):
    browser = Client()
    browser.post(LOGIN, {"username": "alice", "password": "right-password-1"})

    response = browser.get(SCORES_CSV)
    assert response.status_code == 302 and response["Location"] == reverse("accounts-enrol")
    assert browser.get("/admin/").status_code == 302  # nor anything else in the admin, before enrolling


def test_with_a_second_factor_the_administrator_downloads(administrator, two_factor_on):
    browser = Client()
    browser.post(LOGIN, {"username": "alice", "password": "right-password-1"})
    page = browser.get(reverse("accounts-enrol")).content.decode()
    assert "<svg" in page and "Turn on two-factor sign-in" in page
    device = TOTPDevice.objects.get(user=administrator, confirmed=False)

    wrong = browser.post(reverse("accounts-enrol"), {"code": "000000" if current_code(device) != "000000" else "111111"})
    assert "This code is not the one the app shows now" in wrong.content.decode()
    unthrottle(administrator)
    done = browser.post(reverse("accounts-enrol"), {"code": current_code(device)}).content.decode()
    assert done.count("<li><code>") == 10  # the recovery codes, shown once
    assert browser.get(SCORES_CSV).status_code == 200
    assert "two_factor_enrolled" in actions()


def test_a_later_sign_in_asks_for_the_code_and_a_recovery_code_works_once(administrator, two_factor_on):
    device = TOTPDevice.objects.create(user=administrator, name=two_factor.APP_DEVICE, confirmed=True)
    codes = two_factor.new_recovery_codes(administrator)
    browser = Client()
    browser.post(LOGIN, {"username": "alice", "password": "right-password-1"})
    response = browser.get(SCORES_CSV)
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts-verify"))

    bad = browser.post(reverse("accounts-verify"), {"code": "12", "next": SCORES_CSV})
    assert "This code is not valid" in bad.content.decode()
    unthrottle(administrator)
    assert browser.post(reverse("accounts-verify"), {"code": codes[0], "next": SCORES_CSV})["Location"] == SCORES_CSV
    assert browser.get(SCORES_CSV).status_code == 200

    again = Client()
    again.post(LOGIN, {"username": "alice", "password": "right-password-1"})
    assert "This code is not valid" in again.post(reverse("accounts-verify"), {"code": codes[0]}).content.decode()
    unthrottle(administrator)
    assert again.post(reverse("accounts-verify"), {"code": current_code(device)}).status_code == 302
    assert actions().count("two_factor_verified") == 2 and "two_factor_failed" in actions()


def test_a_marketing_manager_may_go_without_a_second_factor(db, django_user_model, two_factor_on):
    roles.ensure_groups()
    manager = django_user_model.objects.create_user("mark", password="right-password-1", is_staff=True)
    manager.groups.set([Group.objects.get(name=roles.MARKETING_MANAGER)])
    browser = Client()
    browser.post(LOGIN, {"username": "mark", "password": "right-password-1"})
    assert browser.get("/admin/").status_code == 200
    assert not two_factor.required_for(manager)


def test_an_idle_session_and_an_old_one_are_signed_out(administrator, settings):
    settings.CRM_SESSION_IDLE_MINUTES, settings.CRM_SESSION_MAX_HOURS = 30, 12
    browser = Client()
    browser.post(LOGIN, {"username": "alice", "password": "right-password-1"})
    assert browser.get("/admin/").status_code == 200

    session = browser.session
    session[LAST_SEEN] = time.time() - 31 * 60
    session.save()
    assert browser.get("/admin/").status_code == 302  # to the sign-in page

    browser.post(LOGIN, {"username": "alice", "password": "right-password-1"})
    session = browser.session
    session[SIGNED_IN] = time.time() - 13 * 3600  # busy all along, but signed in too long ago
    session.save()
    assert browser.get("/admin/").status_code == 302


def test_an_administrator_signs_a_user_out_everywhere(administrator, admin_client):
    browsers = [Client(), Client()]
    for browser in browsers:
        browser.post(LOGIN, {"username": "alice", "password": "right-password-1"})
        assert browser.get("/admin/").status_code == 200

    admin_client.post(reverse("admin:auth_user_changelist"),
                      {"action": "sign_out_everywhere", "_selected_action": [administrator.pk]})

    assert [browser.get("/admin/").status_code for browser in browsers] == [302, 302]
    entry = AuditLog.objects.get(action="sessions_ended")
    assert entry.target == "auth.user:alice" and entry.detail == {"sessions": 2}
    assert Session.objects.count() == 1  # the Administrator's own


def test_unknown_api_tokens_from_one_address_lock_it_out(db, settings):
    settings.CRM_API_BAD_TOKEN_LIMIT = 3
    from api.models import ApiToken

    _, secret = ApiToken.issue("shop")
    lockout.api_lift("10.0.0.9")  # the count lives in the cache (Redis in CI), not in the test's database
    api = Client(REMOTE_ADDR="10.0.0.9")
    answers = [api.get("/api/v1/clients/x/scores/", HTTP_AUTHORIZATION=f"Bearer nope{i}").status_code
               for i in range(4)]
    assert answers == [401, 401, 401, 429]
    assert AuditLog.objects.get(action="api_locked_out").target == "api:address:10.0.0.9"
    # A good token from that address waits too.
    assert api.get("/api/v1/clients/x/scores/", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 429
    other = Client(REMOTE_ADDR="10.0.0.10")
    assert other.get("/api/v1/clients/x/scores/", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    lockout.api_lift("10.0.0.9")
    lockout.api_lift("10.0.0.10")


@pytest.mark.parametrize("path", ["/admin/login/", "/api/docs/", "/u/not-a-token/"])
def test_every_page_carries_the_content_security_policy(db, path):
    response = Client().get(path)
    policy = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert "'unsafe-inline'" not in policy and "script-src 'self'" in policy


def test_check_deploy_and_health_say_when_two_factor_is_off(db, settings, client):
    from crm.checks import two_factor_is_on

    settings.CRM_TWO_FACTOR_REQUIRED = False
    assert [w.id for w in two_factor_is_on(None)] == ["crm.W001"]
    roles.ensure_groups()
    body = client.get("/health/").json()
    assert body["status"] == "ok"
    assert body["checks"]["two_factor"]["status"] == "warning"
    assert roles.ADMINISTRATOR in body["checks"]["two_factor"]["roles"]
    assert roles.ANALYST in body["checks"]["two_factor"]["roles"]  # the scores CSV is personal data

    settings.CRM_TWO_FACTOR_REQUIRED = True
    assert two_factor_is_on(None) == []
    assert client.get("/health/").json()["checks"]["two_factor"]["status"] == "ok"
