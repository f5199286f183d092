"""What Google, TikTok and VK check, and what our modules do with their answers."""

import datetime as dt
import json

import pytest

from audiences import push as pushing
from audiences.apis import RejectedError
from audiences.apis.base import Batch
from audiences.apis.google import GoogleApi
from audiences.apis.tiktok import TikTokApi
from audiences.models import AudienceSync, ConnectedAccount
from crm.models import Client
from segments.models import Segment, SegmentMembership
from tests.audiences.test_api_platforms import connect

pytestmark = pytest.mark.django_db


def members(count, platform, fake, **extra):
    segment = Segment.objects.create(slug=f"contract-{platform}", name="Contract", kind=Segment.Kind.RULE)
    clients = Client.objects.bulk_create(
        Client(external_id=f"c{n}", email=f"client{n}@example.com", phone=f"+7912{n:07d}", ads_consent=True, **extra)
        for n in range(count))
    SegmentMembership.objects.bulk_create(
        SegmentMembership(segment=segment, client=client, entered_at=dt.date(2026, 6, 1)) for client in clients)
    return AudienceSync.objects.create(segment=segment, platform=platform, account=connect(platform, fake)), clients


# --- Google Data Manager ------------------------------------------------------------------------------


def test_google_gets_a_token_from_the_refresh_token_then_ingests_with_consent_in_batches(
        fake_google, credentials_key, waits, settings):
    settings.CRM_AUDIENCE_API_BATCH_LIMIT = 2
    sync, _ = members(5, "google", fake_google, first_name="Иван", last_name="Иванов", country="RU", zip="190000")

    push = pushing.sync_via_api(sync)

    assert push.status == "succeeded", push.error
    assert fake_google.requests[0].headers.get("authorization") in (None, "Bearer ")  # none stored yet: 401
    assert len(fake_google.calls("POST", "/token")) == 1
    ingests = [json.loads(call.body) for call in fake_google.calls("POST", ":ingest")]
    assert [len(body["audienceMembers"]) for body in ingests] == [2, 2, 1]
    body = ingests[0]
    assert body["consent"] == {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED"}
    assert body["encoding"] == "HEX" and body["termsOfService"]["customerMatchTermsOfServiceStatus"] == "ACCEPTED"
    identifiers = body["audienceMembers"][0]["userData"]["userIdentifiers"]
    assert [next(iter(identifier)) for identifier in identifiers] == ["emailAddress", "phoneNumber", "address"]
    assert identifiers[2]["address"]["regionCode"] == "RU" and identifiers[2]["address"]["postalCode"] == "190000"
    account = ConnectedAccount.objects.get(platform="google")
    assert account.credentials()["access_token"] == fake_google.access_token


def test_google_refuses_what_is_not_a_hex_digest_and_says_which_field(fake_google, credentials_key, waits):
    api = GoogleApi(connect("google", fake_google))
    list_id, _ = api.create("x", None)
    header = ("Email", "Phone", "First Name", "Last Name", "Country", "Zip")
    with pytest.raises(RejectedError, match="not a hex-encoded SHA-256") as raised:
        api.add(list_id, Batch(1, "add", "audience", header, [["ann@example.com", "", "", "", "", ""]], 1, 1, True))
    assert raised.value.reasons == {"INVALID_HEX_ENCODING": 1}


# --- TikTok --------------------------------------------------------------------------------------------


def test_tiktok_rate_limit_in_the_body_is_waited_out(fake_tiktok, credentials_key, waits):
    sync, _ = members(3, "tiktok", fake_tiktok)
    fake_tiktok.fail_next("POST", "/file/upload/", 200, {"code": 40100, "message": "Too many requests",
                                                         "request_id": "x", "data": {}})

    push = pushing.sync_via_api(sync)

    assert push.status == "succeeded", push.error
    assert waits == [2.0]
    (audience,) = fake_tiktok.audiences.values()
    assert len(audience["members"]) == 3


def test_tiktok_checks_the_files_md5_signature(fake_tiktok, credentials_key, waits):
    api = TikTokApi(connect("tiktok", fake_tiktok))
    content = f"Email_SHA256,Phone_SHA256\n{'a' * 64},\n".encode()
    fields = {"advertiser_id": fake_tiktok.advertiser, "calculate_type": "MULTIPLE_TYPES"}
    with pytest.raises(RejectedError, match="file_signature does not match"):
        api.call("POST", "dmp/custom_audience/file/upload/", data={**fields, "file_signature": "0" * 32},
                 files={"file": ("a.csv", content, "text/csv")})
    batch = Batch(1, "add", "audience", ("Email_SHA256", "Phone_SHA256"), [["a" * 64, ""]], 1, 1, True)
    audience_id, sent = api.create("x", batch)  # the module signs its files
    assert sent.received == 1 and fake_tiktok.members(audience_id) == {("a" * 64, "")}


def test_tiktok_refuses_an_update_that_leaves_fewer_than_1000_and_the_sync_says_so(
        fake_tiktok, credentials_key, waits):
    sync, clients = members(3, "tiktok", fake_tiktok)
    assert pushing.sync_via_api(sync).status == "succeeded"  # creating a small audience is allowed
    SegmentMembership.objects.filter(client=clients[0]).update(left_at=dt.date(2026, 6, 2))

    push = pushing.sync_via_api(sync)

    assert push.status == "failed"
    assert "less than 1000" in push.error and "40002" in push.error


# --- VK Ads --------------------------------------------------------------------------------------------


def test_vk_makes_a_list_per_file_with_plain_normalised_values(fake_vk, credentials_key, waits):
    sync, _ = members(2, "vk", fake_vk)
    Client.objects.filter(external_id="c1").update(phone="")

    push = pushing.sync_via_api(sync)

    assert push.status == "succeeded", push.error
    sync.refresh_from_db()
    assert fake_vk.members(sync.remote_ids["emails"]) == {("client0@example.com",), ("client1@example.com",)}
    assert fake_vk.members(sync.remote_ids["phones"]) == {("79120000000",)}
    assert {value["type"] for value in fake_vk.lists.values()} == {"emails", "phones"}
    assert len(fake_vk.calls("POST", "/oauth2/token.json")) == 1


def test_vk_addition_with_a_lost_answer_is_not_sent_twice_and_a_removal_is(fake_vk, credentials_key, waits):
    sync, clients = members(2, "vk", fake_vk)
    pushing.sync_via_api(sync)
    sync.refresh_from_db()
    SegmentMembership.objects.filter(client=clients[0]).update(left_at=dt.date(2026, 6, 2))
    newcomer = Client.objects.create(external_id="n", email="n@example.com", ads_consent=True)
    SegmentMembership.objects.create(segment=sync.segment, client=newcomer, entered_at=dt.date(2026, 6, 2))
    before = len(fake_vk.calls("POST", "users_lists.json"))
    fake_vk.lose_answer_of_next("POST", "users_lists.json")  # the first removal

    push = pushing.sync_via_api(sync)
    if push.status != "succeeded":
        push = pushing.run_push(push)

    assert push.status == "succeeded", push.error
    assert fake_vk.members(sync.remote_ids["emails"]) == {("client1@example.com",), ("n@example.com",)}
    assert ("79120000000",) not in fake_vk.members(sync.remote_ids["phones"])
    # Removals: emails (lost, then sent again) and phones; the addition: once.
    assert len(fake_vk.calls("POST", "users_lists.json")) - before == 4
