"""Unsubscribe tokens: not forgeable from a real one, not usable for another address, no address inside."""

import base64

import pytest
from django.core import signing
from django.test import Client as Browser

from crm.models import Client
from mailing.launch import launch_campaign
from mailing.models import Delivery, Suppression
from mailing.unsubscribe import SALT, make_token
from privacy.personal_data import erase_client


@pytest.fixture
def deliveries(make_client, make_campaign, segment):
    make_client([segment], email="Ann@Example.com")
    make_client([segment], email="bob@example.com")
    launch_campaign(make_campaign(name="Spring sale"))
    return Delivery.objects.get(email="Ann@Example.com"), Delivery.objects.get(email="bob@example.com")


def post(token):
    return Browser(enforce_csrf_checks=True).post(f"/u/{token}/", {"List-Unsubscribe": "One-Click"})


def nobody_unsubscribed():
    return not Suppression.objects.exists() and not Client.objects.filter(unsubscribed_at__isnull=False).exists()


def b64(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_the_payload_of_a_real_token_cannot_be_pointed_at_another_delivery(deliveries):
    ann, bob = deliveries
    token = make_token(ann.pk, ann.email)
    payload, signature = token.rsplit(":", 1)
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert raw.startswith(f"[{ann.pk},".encode())
    for tampered in (
        b64(raw.replace(f"[{ann.pk},".encode(), f"[{bob.pk},".encode(), 1)) + ":" + signature,  # Bob's delivery
        b64(raw.replace(f"[{ann.pk},".encode(), f"[{bob.pk} ,".encode(), 1)) + ":" + signature,  # same, re-spaced
        payload + ":" + make_token(bob.pk, bob.email).rsplit(":", 1)[1],  # Bob's signature on Ann's payload
    ):
        assert post(tampered).status_code == 404
    assert nobody_unsubscribed()


def test_a_token_holds_no_address_in_clear(deliveries):
    ann, _ = deliveries
    token = make_token(ann.pk, ann.email)
    payload = token.rsplit(":", 1)[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert "ann" not in decoded.lower() and "example" not in decoded.lower()


def test_a_token_made_for_another_address_does_not_work_on_this_delivery(deliveries):
    ann, bob = deliveries
    # Validly signed (as if leaked from our signer), but naming Bob's address for Ann's delivery, and the reverse.
    assert post(make_token(ann.pk, "bob@example.com")).status_code == 404
    assert post(make_token(bob.pk, "Ann@Example.com")).status_code == 404
    assert nobody_unsubscribed()
    # The address is compared normalised: case and spaces do not make another address.
    assert post(make_token(ann.pk, "  ANN@example.COM ")).status_code == 200
    assert list(Suppression.objects.values_list("email", flat=True)) == ["ann@example.com"]


def test_an_old_link_after_the_client_changed_address_suppresses_only_the_old_address(deliveries):
    ann, _ = deliveries
    token = make_token(ann.pk, ann.email)
    Client.objects.filter(pk=ann.client_id).update(email="new-owner@example.com")
    assert post(token).status_code == 200
    assert list(Suppression.objects.values_list("email", flat=True)) == ["ann@example.com"]


def test_a_token_stops_working_once_the_client_is_erased(deliveries):
    ann, _ = deliveries
    token = make_token(ann.pk, ann.email)
    erase_client(ann.client, actor_name="test")
    response = post(token)
    assert response.status_code == 404 and "example.com" not in response.content.decode()
    assert not Suppression.objects.exists()


def test_a_token_of_a_deleted_delivery_or_of_another_signer_is_refused(deliveries):
    ann, _ = deliveries
    token = make_token(ann.pk, ann.email)
    Delivery.objects.filter(pk=ann.pk).delete()
    assert post(token).status_code == 404
    assert post(signing.Signer(salt="django.core.signing").sign_object([ann.pk, "0" * 16])).status_code == 404
    assert post(signing.Signer(salt=SALT, algorithm="sha1").sign_object([ann.pk, "0" * 16])).status_code == 404
    assert nobody_unsubscribed()


@pytest.mark.parametrize("token", ["x" * 5000, "%00", "[1,2]:abc", "e30:" + "A" * 43])
def test_garbage_tokens_get_the_invalid_page_not_an_error(deliveries, token):
    response = post(token)
    assert response.status_code == 404 and "not valid" in response.content.decode()
    assert nobody_unsubscribed()
