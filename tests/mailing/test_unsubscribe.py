import pytest
from django.core import signing
from django.test import Client as Browser
from django.urls import set_script_prefix

from mailing.launch import launch_campaign
from mailing.models import Delivery, Suppression
from mailing.unsubscribe import SALT, make_token, unsubscribe_url


@pytest.fixture
def delivery(make_client, make_campaign, segment):
    make_client([segment], email="Ann@Example.com")
    make_client([segment], email="bob@example.com")
    launch_campaign(make_campaign(name="Spring sale"))
    return Delivery.objects.get(email="Ann@Example.com")


@pytest.fixture
def browser():
    return Browser(enforce_csrf_checks=True)


def path_of(delivery):
    return unsubscribe_url(delivery.pk, delivery.email).removeprefix("https://crm.example.com")


def test_it_asks_for_confirmation_on_get_without_unsubscribing(browser, delivery):
    response = browser.get(path_of(delivery))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Ann@Example.com" in page and '<form method="post">' in page and "Spring sale" in page
    delivery.client.refresh_from_db()
    assert delivery.client.unsubscribed_at is None


def test_it_unsubscribes_at_once_on_the_one_click_post_without_login_or_csrf_token(browser, delivery):
    response = browser.post(path_of(delivery), {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200
    assert "You are unsubscribed" in response.content.decode()
    delivery.client.refresh_from_db()
    assert delivery.client.unsubscribed_at is not None
    assert Suppression.objects.get().email == "ann@example.com"
    delivery.refresh_from_db()
    assert delivery.unsubscribed_at is not None  # counted in the campaign's results
    assert browser.post(path_of(delivery)).status_code == 200  # a second click changes nothing
    assert "already unsubscribed" in browser.get(path_of(delivery)).content.decode()
    other = Delivery.objects.get(email="bob@example.com")
    other.client.refresh_from_db()
    assert other.client.unsubscribed_at is None


def test_it_rejects_a_forged_or_altered_token(browser, delivery):
    token = make_token(delivery.pk, delivery.email)
    other = Delivery.objects.get(email="bob@example.com")
    forged = [
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # bad signature
        signing.Signer(salt=SALT + "x").sign_object([other.pk, token]),  # another salt
        signing.Signer(salt=SALT, key="guessed-key").sign_object([other.pk, "0" * 16]),  # another key
        signing.dumps([delivery.pk, token], salt=SALT),  # a timestamped signature of the same salt
        make_token(other.pk, delivery.email),  # a real signature, but for another address than the delivery's
        "not-a-token",
    ]
    for bad in forged:
        response = browser.post(f"/u/{bad}/")
        assert response.status_code == 404, bad
        assert "not valid" in response.content.decode()

    assert not Suppression.objects.exists()
    assert Delivery.objects.filter(client__unsubscribed_at__isnull=False).count() == 0


def test_the_link_follows_the_public_address_and_the_sites_script_prefix(browser, delivery, settings):
    settings.CRM_PUBLIC_URL = "https://mail.example.org/"
    set_script_prefix("/crm/")
    try:
        url = unsubscribe_url(delivery.pk, delivery.email)
    finally:
        set_script_prefix("/")

    assert url == f"https://mail.example.org/crm/u/{make_token(delivery.pk, delivery.email)}/"
    assert browser.get(url.removeprefix("https://mail.example.org/crm")).status_code == 200


def test_a_link_made_after_the_secret_key_changed_is_signed_with_the_new_key(browser, delivery, settings):
    before = path_of(delivery)
    settings.SECRET_KEY = f"rotated-{settings.SECRET_KEY}"

    assert path_of(delivery) != before
    assert browser.get(path_of(delivery)).status_code == 200
