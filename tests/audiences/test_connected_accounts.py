"""Connected ad accounts: credentials encrypted with the key from the environment, shown masked, tested."""

import logging

import pytest
from cryptography.fernet import Fernet
from django.core import checks
from django.urls import reverse

from audiences import push as pushing
from audiences.accounts import check_credentials_key
from audiences.credentials import CredentialsKeyError
from audiences.models import AudienceSync, ConnectedAccount
from crm.models import Client
from segments.models import Segment, SegmentMembership

pytestmark = pytest.mark.django_db

TOKEN = "EAAB-very-secret-system-user-token-0042"


@pytest.fixture
def superuser(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="x"))
    return client


def make_account(platform="meta", **secrets):
    account = ConnectedAccount(platform=platform, name=f"{platform} shop", account_id="act_1001")
    account.set_credentials(secrets or {"access_token": TOKEN})
    account.save()
    return account


def test_credentials_are_stored_encrypted_and_read_back(credentials_key):
    account = make_account()

    stored = ConnectedAccount.objects.get(pk=account.pk)
    assert TOKEN not in stored.secrets
    assert stored.credentials() == {"access_token": TOKEN}


def test_a_wrong_or_missing_key_is_a_start_up_error_naming_the_variable(credentials_key, settings):
    make_account()
    assert check_credentials_key(databases=["default"]) == []

    settings.CRM_CREDENTIALS_KEY = Fernet.generate_key().decode()
    (error,) = check_credentials_key(databases=["default"])
    assert error.id == "audiences.E003" and "CRM_CREDENTIALS_KEY is not the key" in error.msg
    assert error.level == checks.ERROR

    settings.CRM_CREDENTIALS_KEY = ""
    (error,) = check_credentials_key(databases=["default"])
    assert error.id == "audiences.E002" and "CRM_CREDENTIALS_KEY is not set" in error.msg
    with pytest.raises(CredentialsKeyError, match="CRM_CREDENTIALS_KEY is not set"):
        ConnectedAccount.objects.get().credentials()


def test_the_admin_stores_what_is_typed_and_never_shows_it_again(superuser, credentials_key):
    response = superuser.post(reverse("admin:audiences_connectedaccount_add"), {
        "platform": "meta", "name": "Shop ads", "account_id": "act_1001", "access_token": TOKEN})
    assert response.status_code == 302, response.content.decode()[:3000]
    account = ConnectedAccount.objects.get()
    assert account.credentials() == {"access_token": TOKEN}

    page = superuser.get(reverse("admin:audiences_connectedaccount_change", args=[account.pk])).content.decode()
    assert TOKEN not in page and "••••0042" in page

    # An empty field keeps the stored token.
    superuser.post(reverse("admin:audiences_connectedaccount_change", args=[account.pk]), {
        "platform": "meta", "name": "Shop ads (renamed)", "account_id": "act_1001", "access_token": ""})
    account.refresh_from_db()
    assert account.name == "Shop ads (renamed)" and account.credentials() == {"access_token": TOKEN}


def test_the_admin_asks_for_what_the_platform_needs(superuser, credentials_key):
    response = superuser.post(reverse("admin:audiences_connectedaccount_add"), {
        "platform": "yandex", "name": "Direct", "account_id": "shop", "refresh_token": "r"})
    assert response.status_code == 200
    assert "yandex needs: access token" in response.content.decode()
    assert not ConnectedAccount.objects.exists()


def test_without_a_key_the_admin_says_so_instead_of_storing(superuser, settings):
    settings.CRM_CREDENTIALS_KEY = ""
    response = superuser.post(reverse("admin:audiences_connectedaccount_add"), {
        "platform": "meta", "name": "Shop ads", "account_id": "act_1001", "access_token": TOKEN})
    assert response.status_code == 200 and "CRM_CREDENTIALS_KEY is not set" in response.content.decode()
    assert not ConnectedAccount.objects.exists()


def test_test_connection_reads_the_account_and_says_what_it_found(superuser, credentials_key, fake_meta):
    account = make_account(access_token=fake_meta.token)

    response = superuser.post(reverse("admin:audiences_connectedaccount_test", args=[account.pk]), follow=True)

    page = response.content.decode()
    assert "the connection works" in page and "Shop ads" in page
    assert [r.method for r in fake_meta.requests] == ["GET", "GET"]  # reads only
    account.refresh_from_db()
    assert account.check_ok is True


def test_test_connection_shows_the_platforms_refusal(superuser, credentials_key, fake_meta):
    account = make_account(access_token="expired")

    response = superuser.post(reverse("admin:audiences_connectedaccount_test", args=[account.pk]), follow=True)

    assert "Invalid OAuth access token" in response.content.decode()
    account.refresh_from_db()
    assert account.check_ok is False


def test_a_marketing_manager_sees_accounts_but_cannot_change_them(login, credentials_key):
    account = make_account()
    manager = login("Marketing manager")

    assert manager.get(reverse("admin:audiences_connectedaccount_change", args=[account.pk])).status_code == 200
    assert manager.post(reverse("admin:audiences_connectedaccount_test", args=[account.pk])).status_code == 403
    assert manager.get(reverse("admin:audiences_connectedaccount_add")).status_code == 403


def test_tokens_never_reach_the_logs(credentials_key, fake_meta, waits, caplog, settings):
    settings.CRM_AUDIENCE_API_ATTEMPTS = 2
    fake_meta.token = TOKEN
    segment = Segment.objects.create(slug="vip", name="VIP", kind=Segment.Kind.RULE)
    client = Client.objects.create(external_id="c1", email="c1@example.com", ads_consent=True)
    SegmentMembership.objects.create(segment=segment, client=client, entered_at="2026-06-01")
    sync = AudienceSync.objects.create(segment=segment, platform="meta", account=make_account(access_token=TOKEN))
    fake_meta.fail_next("POST", "/users", 500, {"error": {"message": "oops", "code": 1}}, times=2)

    with caplog.at_level(logging.DEBUG):
        push = pushing.sync_via_api(sync)

    assert push.status == "failed"
    assert caplog.records and all(TOKEN not in record.getMessage() for record in caplog.records)
    assert TOKEN not in push.error


def test_the_sync_pages_show_the_account_and_the_last_api_sync(superuser, credentials_key, fake_meta, waits):
    segment = Segment.objects.create(slug="vip", name="VIP", kind=Segment.Kind.RULE)
    client = Client.objects.create(external_id="c1", email="c1@example.com", ads_consent=True)
    SegmentMembership.objects.create(segment=segment, client=client, entered_at="2026-06-01")
    sync = AudienceSync.objects.create(segment=segment, platform="meta",
                                       account=make_account(access_token=fake_meta.token))
    push = pushing.sync_via_api(sync)

    listing = superuser.get(reverse("admin:audiences_audiencesync_changelist")).content.decode()
    assert "meta shop" in listing and reverse("admin:audiences_audiencepush_change", args=[push.pk]) in listing
    page = superuser.get(reverse("admin:audiences_audiencepush_change", args=[push.pk])).content.decode()
    sync.refresh_from_db()
    assert sync.remote_ids["audience"] in page
    superuser.post(reverse("admin:audiences_audiencesync_changelist"),
                   {"action": "replace_at_next_sync", "_selected_action": [sync.pk]})
    sync.refresh_from_db()
    assert sync.replace_requested
