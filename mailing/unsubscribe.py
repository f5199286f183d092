"""Unsubscribe links: a signed token per delivery, a confirmation page (GET) and RFC 8058 one-click (POST).

The token names the delivery and a hash of the address it went to; it is signed with SECRET_KEY
and a salt of its own, so it cannot be forged, and a token for one address never unsubscribes another.
"""

import functools
import hashlib

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.shortcuts import render
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from crm.models import Client

from .models import Delivery, Suppression, normalize_email

SALT = "mailing.unsubscribe"


def _address_hash(email):
    return hashlib.sha256(normalize_email(email).encode()).hexdigest()[:16]


def make_token(delivery_id, email):
    # No timestamp: an unsubscribe link must keep working for as long as the email is kept.
    return _signer(settings.SECRET_KEY).sign_object([delivery_id, _address_hash(email)])


def unsubscribe_url(delivery_id, email):
    before, after = _around_token(settings.CRM_PUBLIC_URL, get_urlconf() or settings.ROOT_URLCONF,
                                  get_script_prefix())
    return f"{before}{make_token(delivery_id, email)}{after}"


# A campaign makes a URL per message: the signer and the URL around the token are made once (per
# key, URL conf and prefix, which tests and requests may change) rather than per message, where
# they cost as much as the signing itself. A token is URL-safe as it is (base64 and ":").
@functools.lru_cache(maxsize=4)
def _signer(secret_key):
    return signing.Signer(key=secret_key, salt=SALT)


@functools.lru_cache(maxsize=16)
def _around_token(public_url, urlconf, script_prefix):
    path = reverse("campaigns-unsubscribe", urlconf=urlconf, kwargs={"token": "-"})
    before, after = path.rsplit("/-/", 1)
    return f"{public_url.rstrip('/')}{before}/", f"/{after}"


def delivery_for_token(token):
    """The delivery a token was made for, or None when the token is forged, altered or for another address."""
    try:
        delivery_id, address_hash = signing.Signer(salt=SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    delivery = Delivery.objects.select_related("client", "campaign").filter(pk=delivery_id).first()
    if delivery is None or _address_hash(delivery.email) != address_hash:
        return None
    return delivery


def unsubscribe(delivery):
    """Unsubscribe the client and list the address: no further marketing email, from any campaign."""
    now = timezone.now()
    with transaction.atomic():
        Client.objects.filter(pk=delivery.client_id, unsubscribed_at__isnull=True).update(unsubscribed_at=now)
        # The campaign's results count unsubscribes per delivery, whether from our page or the ESP's.
        Delivery.objects.filter(pk=delivery.pk, unsubscribed_at__isnull=True).update(unsubscribed_at=now)
        if delivery.email:
            Suppression.objects.get_or_create(
                email=normalize_email(delivery.email),
                defaults={"reason": Suppression.Reason.UNSUBSCRIBE, "note": f"campaign {delivery.campaign.slug}"})


# No login and no CSRF token: mail clients send the one-click POST themselves (RFC 8058), and the
# signed token in the URL is what authorises it.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe_view(request, token):
    delivery = delivery_for_token(token)
    if delivery is None:
        return render(request, "mailing/unsubscribe_invalid.html", status=404)
    if request.method == "POST":
        unsubscribe(delivery)
        return render(request, "mailing/unsubscribe_done.html", {"email": delivery.email})
    return render(request, "mailing/unsubscribe_confirm.html", {
        "email": delivery.email, "campaign": delivery.campaign,
        "already": delivery.client.unsubscribed_at is not None,
    })
