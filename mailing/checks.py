"""`manage.py check --deploy`: settings that let the site start but break email in production.

Warnings, not errors: a staging copy may mean to write mail to files. The webhook secret's check
(mailing.W010) lives with the webhooks in tracking.py.
"""

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks

# Django's backends that deliver nothing: mail goes to files, the console, memory or nowhere.
NOT_DELIVERING = {
    "django.core.mail.backends.filebased.EmailBackend": "writes every message to files",
    "django.core.mail.backends.console.EmailBackend": "prints every message to the console",
    "django.core.mail.backends.locmem.EmailBackend": "keeps every message in memory",
    "django.core.mail.backends.dummy.EmailBackend": "drops every message",
}


@checks.register("email", deploy=True)
def check_email_backend_delivers(app_configs=None, **kwargs):
    what = NOT_DELIVERING.get(settings.EMAIL_BACKEND)
    if what is None:
        return []
    return [checks.Warning(
        f"EMAIL_BACKEND={settings.EMAIL_BACKEND!r} {what}: campaigns would be marked sent and reach nobody.",
        hint="Set EMAIL_BACKEND to your ESP's anymail backend (e.g. anymail.backends.mailgun.EmailBackend with "
             "its ANYMAIL_* keys) or to django.core.mail.backends.smtp.EmailBackend.",
        id="mailing.W011")]


@checks.register("email", deploy=True)
def check_public_url(app_configs=None, **kwargs):
    """Every message carries unsubscribe links built on CRM_PUBLIC_URL: recipients must reach it, and
    mail clients offer RFC 8058 one-click unsubscribe only for an https:// link."""
    url = settings.CRM_PUBLIC_URL
    parts = urlsplit(url)
    found = []
    if parts.scheme != "https":
        found.append(checks.Warning(
            f"CRM_PUBLIC_URL={url!r} is not an https:// address: mail clients refuse one-click unsubscribe "
            f"(RFC 8058) over plain HTTP, and recipients' links are sent in clear.",
            hint="Set CRM_PUBLIC_URL to the address recipients reach this site at, e.g. https://crm.example.com.",
            id="mailing.W012"))
    if _not_public(parts.hostname):
        found.append(checks.Warning(
            f"CRM_PUBLIC_URL={url!r} names a local or private host: recipients cannot open the unsubscribe "
            f"links in the emails.",
            hint="Set CRM_PUBLIC_URL to the public address of this site, e.g. https://crm.example.com.",
            id="mailing.W013"))
    return found


def _not_public(host):
    if not host:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        # A name: localhost, a name without a dot (it resolves only inside a network) or an mDNS
        # .local name; any other is taken as public, as far as can be told without asking DNS.
        return host == "localhost" or host.endswith((".localhost", ".local")) or "." not in host
    return not address.is_global  # loopback, private, link-local, shared (CGNAT), unspecified ...
