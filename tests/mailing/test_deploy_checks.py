"""`manage.py check --deploy` warns about the email settings that would break mail in production:
a backend that delivers nothing, unsubscribe links that are not public https:// addresses, tracking
webhooks without their secret. Each warning's hint names the setting to change."""

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

OURS = {"mailing.W010", "mailing.W011", "mailing.W012", "mailing.W013"}
PRODUCTION = {
    "EMAIL_BACKEND": "anymail.backends.mailgun.EmailBackend",
    "ANYMAIL": {"MAILGUN_API_KEY": "key-123", "WEBHOOK_SECRET": "esp:a-long-secret"},
    "CRM_PUBLIC_URL": "https://crm.example.com",
}


@pytest.fixture
def production(settings):
    for name, value in PRODUCTION.items():
        setattr(settings, name, value)
    return settings


def deploy_warnings():
    """Our warnings among everything `check --deploy` reports (id -> hint)."""
    return {message.id: message.hint for message in checks.run_checks(include_deployment_checks=True)
            if message.id in OURS}


def test_a_production_configuration_gives_none_of_them(production):
    assert deploy_warnings() == {}


@pytest.mark.parametrize("backend", ["filebased", "console", "locmem", "dummy"])
def test_a_backend_that_delivers_nothing_is_a_warning_naming_email_backend(production, backend):
    production.EMAIL_BACKEND = f"django.core.mail.backends.{backend}.EmailBackend"
    warnings = deploy_warnings()
    assert list(warnings) == ["mailing.W011"]
    assert "EMAIL_BACKEND" in warnings["mailing.W011"]


def test_smtp_delivers(production):
    production.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    assert deploy_warnings() == {}


@pytest.mark.parametrize(("url", "expected"), [
    ("http://127.0.0.1:8000", {"mailing.W012", "mailing.W013"}),  # the default
    ("http://crm.example.com", {"mailing.W012"}),
    ("https://localhost", {"mailing.W013"}),
    ("https://app.localhost:8443", {"mailing.W013"}),
    ("https://crm", {"mailing.W013"}),  # a name that resolves only inside a network
    ("https://printer.local", {"mailing.W013"}),
    ("https://10.0.0.5", {"mailing.W013"}),
    ("https://192.168.1.20/crm", {"mailing.W013"}),
    ("https://172.16.0.1", {"mailing.W013"}),
    ("https://[::1]:8000", {"mailing.W013"}),
    ("https://[fd00::1]", {"mailing.W013"}),
    ("crm.example.com", {"mailing.W012", "mailing.W013"}),  # no scheme: no host either
    ("https://203.0.114.7", set()),  # a public address
    ("https://crm.example.com/shop", set()),
])
def test_a_public_url_that_is_not_public_https_is_a_warning_naming_crm_public_url(production, url, expected):
    production.CRM_PUBLIC_URL = url
    warnings = deploy_warnings()
    assert set(warnings) == expected
    assert all("CRM_PUBLIC_URL" in hint for hint in warnings.values())


def test_an_esp_backend_without_the_webhook_secret_is_a_warning_naming_it(production):
    production.ANYMAIL = {"MAILGUN_API_KEY": "key-123"}
    warnings = deploy_warnings()
    assert list(warnings) == ["mailing.W010"]
    assert "ANYMAIL_WEBHOOK_SECRET" in warnings["mailing.W010"]


def test_the_default_settings_fail_the_deploy_check_and_name_the_settings(settings):
    # What settings.py gives when EMAIL_BACKEND, CRM_PUBLIC_URL and ANYMAIL_* are not set.
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.CRM_PUBLIC_URL = "http://127.0.0.1:8000"
    settings.ANYMAIL = {}
    with pytest.raises(SystemCheckError) as failed:
        call_command("check", "--deploy", "--tag", "email", "--fail-level", "WARNING")
    text = str(failed.value)
    for id_, setting in [("mailing.W011", "EMAIL_BACKEND"), ("mailing.W012", "CRM_PUBLIC_URL"),
                         ("mailing.W013", "CRM_PUBLIC_URL")]:
        assert id_ in text and f"HINT: Set {setting}" in text


def test_the_email_checks_run_only_with_deploy(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.CRM_PUBLIC_URL = "http://127.0.0.1:8000"
    assert not {message.id for message in checks.run_checks()} & OURS
