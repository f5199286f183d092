"""Production settings pass Django's deployment checklist (`manage.py check --deploy`), warnings included."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[1]


def production_env(var_dir, **overrides):
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("DJANGO_", "SECURE_", "ANYMAIL_", "LOG_", "EMAIL_"))
            and k not in ("DATABASE_URL", "REDIS_URL", "CRM_PUBLIC_URL")}
    env = {**base, "DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "crm.example.com",
           "EMAIL_BACKEND": "anymail.backends.mailgun.EmailBackend", "ANYMAIL_MAILGUN_API_KEY": "key-" + "0" * 32,
           "ANYMAIL_WEBHOOK_SECRET": "esp:" + secrets.token_urlsafe(16), "CRM_PUBLIC_URL": "https://crm.example.com",
           "CRM_VAR_DIR": str(var_dir)}
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def manage(env, *args):
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    return result.returncode, result.stdout + result.stderr


SHOW = ("from django.conf import settings as s; print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.LOG_FORMAT)")


def test_production_settings_pass_the_deploy_check_with_no_warning(server_folder):
    code, output = manage(production_env(server_folder), "check", "--deploy", "--fail-level", "WARNING")
    assert code == 0, output
    assert "System check identified no issues" in output
    # Secure cookies, HTTPS only, a year of HSTS, no debug pages, JSON logs.
    code, output = manage(production_env(server_folder), "shell", "-c", SHOW)
    assert code == 0 and "False True True True 31536000 True json" in output, output


def test_behind_a_tls_proxy_the_check_still_passes(server_folder):
    env = production_env(server_folder, SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto", SECURE_HSTS_SECONDS="63072000",
                         SECURE_HSTS_PRELOAD="1")
    code, output = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert code == 0, output
    code, output = manage(env, "shell", "-c", "from django.conf import settings as s; "
                          "print(s.SECURE_PROXY_SSL_HEADER, s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_PRELOAD)")
    assert "('HTTP_X_FORWARDED_PROTO', 'https') 63072000 True" in output


@pytest.mark.parametrize(("overrides", "named"), [
    ({"DJANGO_DEBUG": "1"}, "security.W018"),  # debug pages
    ({"DJANGO_SECRET_KEY": "short"}, "security.W009"),
    ({"SECURE_SSL_REDIRECT": "0"}, "security.W008"),
    ({"SECURE_HSTS_SECONDS": "0"}, "security.W004"),
    # Email: the defaults write messages to files and link to http://127.0.0.1:8000.
    ({"EMAIL_BACKEND": None, "ANYMAIL_MAILGUN_API_KEY": None}, "mailing.W011"),
    ({"CRM_PUBLIC_URL": None}, "mailing.W012"),
    ({"CRM_PUBLIC_URL": "https://10.1.2.3"}, "mailing.W013"),
    ({"ANYMAIL_WEBHOOK_SECRET": None}, "mailing.W010"),
])
def test_the_deploy_check_fails_on_what_production_must_not_have(server_folder, overrides, named):
    code, output = manage(production_env(server_folder, **overrides), "check", "--deploy", "--fail-level", "WARNING")
    assert code != 0 and named in output


@pytest.mark.parametrize(("overrides", "message"), [
    ({"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto: https"}, "SECURE_PROXY_SSL_HEADER='X-Forwarded-Proto: https'"),
    ({"SECURE_HSTS_SECONDS": "a year"}, "SECURE_HSTS_SECONDS='a year' is not a whole number"),
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT='xml'; use json or text"),
])
def test_a_bad_production_setting_stops_the_start_and_names_it(server_folder, overrides, message):
    code, output = manage(production_env(server_folder, **overrides), "check")
    assert code != 0 and message in output


@pytest.mark.django_db
def test_a_missing_page_in_production_is_a_plain_404_over_https_with_hsts(settings):
    settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS = True, 31536000
    client = Client()
    assert client.get("/no-such-page/").status_code == 301  # plain HTTP goes to HTTPS first
    response = client.get("/no-such-page/", secure=True)
    assert response.status_code == 404
    assert "URLconf" not in response.content.decode() and "Traceback" not in response.content.decode()
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert client.get(reverse("admin:login"), secure=True).status_code == 200
