"""Audience syncs through the platforms' APIs, against local fakes that check what the platforms check."""

import datetime as dt
import hashlib
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from audiences import export as exporting
from audiences import push as pushing
from audiences.apis import base
from audiences.export import export_audience
from audiences.models import AudienceLines, AudiencePush, AudienceSync, ConnectedAccount, PushBatch
from audiences.syncs import run_syncs
from crm.models import Client
from segments.models import SegmentMembership
from tests.audiences.test_audience import leave, line

pytestmark = pytest.mark.django_db

# From the audiences spec's test vectors.
JOHN = "836f82db99121b3481011f16b49dfa5fbc714a0d1b1b9f784a1ebbbf5b39577f"  # "  John.Doe@Example.com "
PHONE = "dbae582ee1f37b15623829ece40b66a8eb5162337ab0a8b7cf1b86cb300391bc"  # "8 912 345-67-89" in RU


def account(platform, credentials_key, **secrets):
    acc = ConnectedAccount(platform=platform, name=f"{platform} shop", account_id={"meta": "act_1001"}.get(platform, "shop"))
    acc.set_credentials(secrets)
    acc.save()
    return acc


@pytest.fixture
def meta_sync(segment, credentials_key, fake_meta):
    return AudienceSync.objects.create(segment=segment, platform="meta",
                                       account=account("meta", credentials_key, access_token=fake_meta.token))


@pytest.fixture
def yandex_sync(segment, credentials_key, fake_yandex):
    acc = account("yandex", credentials_key, access_token=fake_yandex.token, refresh_token="ya-refresh",
                  client_id="app", client_secret="app-secret")
    return AudienceSync.objects.create(segment=segment, platform="yandex", account=acc)


def meta_members(fake, sync):
    """The emails (hashed) the fake Meta audience holds."""
    sync.refresh_from_db()
    return {row[0] for row in fake.audiences[sync.remote_ids["audience"]]["members"]}


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


# --- Meta -------------------------------------------------------------------------------------------


def test_meta_first_sync_creates_the_audience_and_adds_every_member_with_consent(
        meta_sync, member, fake_meta, waits):
    member("c1", email="  John.Doe@Example.com ", phone="8 912 345-67-89", country="RU")
    member("c2")
    member("no-consent", ads_consent=False)

    push = pushing.sync_via_api(meta_sync)

    assert push.status == "succeeded", push.error
    (audience,) = fake_meta.audiences.values()
    assert audience["name"] == f"CRM at-risk-vip #{push.pk}"
    assert meta_members(fake_meta, meta_sync) == {JOHN, sha("c2@example.com")}
    row = next(row for row in audience["members"] if row[0] == JOHN)
    assert row[1] == PHONE and row[-1] == "c1"  # EXTERN_ID plain
    assert (push.added, push.removed, push.batches, push.rejected) == (2, 0, 1, 0)
    call = fake_meta.calls("POST", "/users")[0]
    assert call.headers["authorization"] == f"Bearer {fake_meta.token}"


def test_meta_next_sync_sends_only_who_entered_and_who_left(meta_sync, member, segment, fake_meta, waits):
    staying, leaving = member("c1"), member("c2")
    pushing.sync_via_api(meta_sync)
    leave(segment, leaving)
    member("c3")

    push = pushing.sync_via_api(meta_sync)

    assert push.status == "succeeded", push.error
    assert meta_members(fake_meta, meta_sync) == {sha("c1@example.com"), sha("c3@example.com")}
    assert (push.added, push.removed) == (1, 1)
    assert len(fake_meta.audiences) == 1  # the same audience
    removed = fake_meta.calls("DELETE", "/users")
    assert len(removed) == 1 and [sha("c2@example.com")] == [row[0] for row in removed[0].json()["payload"]["data"]]
    assert staying.pk


def test_nightly_deltas_read_only_the_changes_and_leave_the_platform_exactly_the_eligible_members(
        meta_sync, member, segment, fake_meta, waits, monkeypatch):
    monkeypatch.setattr(exporting, "FETCH_SIZE", 3)  # held batches of three lines: c0-c2, c3-c5, c6-c8, c9-c11
    clients = [member(f"c{number}") for number in range(12)]
    assert pushing.sync_via_api(meta_sync).added == 12
    untouched = {batch.pk: batch.members() for batch in AudienceLines.objects.order_by("pk")[2:]}
    formatted = []
    format_all = exporting.write_batches

    def format_counted(platform, batches, *args):
        return format_all(platform, ([formatted.extend(row[0] for row in batch) or batch for batch in batches]), *args)

    monkeypatch.setattr(exporting, "write_batches", format_counted)

    def platform_holds_the_eligible():
        rows = fake_meta.audiences[meta_sync.remote_ids["audience"]]["members"]
        eligible = Client.objects.filter(memberships__segment=segment, memberships__left_at__isnull=True,
                                         ads_consent=True, erased_at__isnull=True)
        return rows == {tuple(line("meta", client).split(",")) for client in eligible}

    # c1 leaves (its batch keeps two lines of three), c4 withdraws consent and c5's email changes (one
    # line of their batch left live: written anew), a newcomer; the last two batches are not touched.
    sent = {client: line("meta", client) for client in clients}
    leave(segment, clients[1])
    Client.objects.filter(pk=clients[4].pk).update(ads_consent=False)
    Client.objects.filter(pk=clients[5].pk).update(email="new5@example.com", updated_at=timezone.now())
    newcomer = member("c12")

    push = pushing.sync_via_api(meta_sync)

    assert push.status == "succeeded", push.error
    assert platform_holds_the_eligible()
    assert (push.added, push.removed) == (2, 3)
    (removal,) = fake_meta.calls("DELETE", "/users")
    assert sorted(",".join(row) for row in removal.json()["payload"]["data"]) == sorted(
        sent[client] for client in (clients[1], clients[4], clients[5]))
    assert sorted(formatted) == [clients[5].pk, newcomer.pk]  # only the changed are read and formatted
    assert {batch.pk: batch.members() for batch in AudienceLines.objects.filter(pk__in=untouched)} == untouched
    assert AudienceLines.objects.get(pk=min(untouched) - 2).client_ids == f"{clients[0].pk},,{clients[2].pk}"

    # c1 comes back (a new membership), c4 consents again, c3 is deleted, c10 is erased.
    formatted.clear()
    SegmentMembership.objects.create(segment=segment, client=clients[1], entered_at=dt.date(2026, 6, 3))
    Client.objects.filter(pk=clients[4].pk).update(ads_consent=True)
    clients[3].delete()
    Client.objects.filter(pk=clients[10].pk).update(email="", erased_at=timezone.now())

    push = pushing.sync_via_api(meta_sync)

    assert push.status == "succeeded", push.error
    assert platform_holds_the_eligible()
    assert (push.added, push.removed) == (2, 2)
    assert sorted(formatted) == [clients[1].pk, clients[4].pk]
    # Nothing changed since: nothing read, nothing sent.
    formatted.clear()
    assert pushing.sync_via_api(meta_sync).batches == 0 and formatted == [] and platform_holds_the_eligible()


def test_meta_batches_go_in_one_session_in_order(meta_sync, member, fake_meta, waits, settings):
    settings.CRM_AUDIENCE_API_BATCH_LIMIT = 3
    for number in range(7):
        member(f"c{number}")

    push = pushing.sync_via_api(meta_sync)

    assert push.status == "succeeded", push.error
    calls = fake_meta.calls("POST", "/users")
    assert [len(call.json()["payload"]["data"]) for call in calls] == [3, 3, 1]
    sessions = [call.json()["session"] for call in calls]
    assert [s["batch_seq"] for s in sessions] == [1, 2, 3] and [s["last_batch_flag"] for s in sessions] == [
        False, False, True]
    assert len({s["session_id"] for s in sessions}) == 1 and sessions[0]["estimated_num_total"] == 7


def test_meta_reports_the_share_its_upload_session_matched(meta_sync, member, fake_meta, waits, settings):
    settings.CRM_AUDIENCE_API_BATCH_LIMIT = 2
    member("c1")
    member("c2", email="c2@example.com", phone="+79161234567", country="RU")
    member("c3", email="", phone="+79161234568", country="RU")  # the fake matches by email only
    member("c4", email="", phone="+79161234569", country="RU")

    push = pushing.sync_via_api(meta_sync)

    assert push.status == "succeeded", push.error
    assert push.match_rate == 0.5  # read once, after the session's last batch
    assert len(fake_meta.calls("GET", "/sessions")) == 1


def test_the_fake_meta_refuses_more_than_10000_rows(meta_sync, fake_meta, waits):
    from audiences.apis.meta import MetaApi

    api = MetaApi(meta_sync.account)
    audience_id, _ = api.create("x", None)
    batch = base.Batch(1, "add", "audience", ("email",), [[sha(str(n))] for n in range(10_001)], 1, 10_001, True)
    with pytest.raises(base.RejectedError, match="maximum is 10000"):
        api.add(audience_id, batch)


def test_meta_counts_the_rows_it_calls_invalid(meta_sync, fake_meta, waits):
    from audiences.apis.meta import MetaApi

    api = MetaApi(meta_sync.account)
    audience_id, _ = api.create("x", None)
    batch = base.Batch(1, "add", "audience", ("email",), [[sha("a")], ["not-hashed@example.com"]], 1, 2, True)
    sent = api.add(audience_id, batch)
    assert (sent.received, sent.rejected) == (2, 1)
    assert "EMAIL is not hashed as SHA-256" in next(iter(sent.reasons))


def test_the_fake_meta_checks_every_hashed_value_however_the_batch_hides_a_bad_one(meta_sync, fake_meta, waits):
    # The fake checks a batch's columns at once; each of these must still fall to the row-by-row count.
    from audiences.apis.meta import MetaApi

    api = MetaApi(meta_sync.account)
    audience_id, _ = api.create("x", None)
    good = sha("a")
    for push_id, bad in enumerate((good.upper(), f"{good}\n{good}", good[:-1], 7), 1):  # a session each
        batch = base.Batch(push_id, "add", "audience", ("email", "extern_id"), [[good, "c1"], [bad, "c2"], ["", "c3"]],
                           1, 3, True)
        sent = api.add(audience_id, batch)
        assert (sent.received, sent.rejected) == (3, 1), bad
    assert fake_meta.members(audience_id) == {(good, "c1"), ("", "c3")}


def test_a_rate_limit_is_waited_out_as_the_platform_asks(meta_sync, member, fake_meta, waits):
    member("c1")
    fake_meta.fail_next("POST", "/users", 429, {"error": {"message": "(#80003) too many calls", "code": 80003}},
                        headers={"Retry-After": "7"})

    push = pushing.sync_via_api(meta_sync)

    assert push.status == "succeeded", push.error
    assert waits == [7.0]
    assert meta_members(fake_meta, meta_sync) == {sha("c1@example.com")}
    (session,) = fake_meta.session_received(meta_sync.remote_ids["audience"]).values()
    assert session == 1


def test_meta_throttling_in_the_body_waits_the_time_meta_gives(meta_sync, member, fake_meta, waits):
    member("c1")
    usage = '{"1001": [{"type": "ads_management", "call_count": 100, "estimated_time_to_regain_access": 2}]}'
    fake_meta.fail_next("POST", "/users", 400, {"error": {"message": "User request limit reached", "code": 17}},
                        headers={"X-Business-Use-Case-Usage": usage})

    push = pushing.sync_via_api(meta_sync)

    assert push.status == "succeeded" and waits == [120]


def test_server_errors_are_retried_with_a_doubling_back_off(meta_sync, member, fake_meta, waits):
    member("c1")
    fake_meta.fail_next("POST", "/customaudiences", 500, {"error": {"message": "An unknown error occurred",
                                                                   "code": 1}}, times=3)

    push = pushing.sync_via_api(meta_sync)

    assert push.status == "succeeded", push.error
    assert waits == [2.0, 4.0, 8.0]
    assert len(fake_meta.audiences) == 1


def test_a_platform_that_stays_down_fails_the_sync_which_resumes_at_its_next_run(
        meta_sync, member, segment, fake_meta, waits, settings):
    settings.CRM_AUDIENCE_API_ATTEMPTS = 2
    member("c1")
    fake_meta.fail_next("POST", "/users", 503, {"error": {"message": "Service temporarily unavailable", "code": 2}},
                        times=2)

    failed = pushing.sync_via_api(meta_sync)

    assert failed.status == "failed" and "503" in failed.error
    assert not PushBatch.objects.filter(push=failed).exists()  # refused: nothing of it applied
    member("c2")  # a change meanwhile waits for the unfinished push

    resumed = pushing.sync_via_api(meta_sync)

    assert resumed.status == "succeeded"
    failed.refresh_from_db()
    assert failed.status == "succeeded" and failed.attempts == 2
    assert resumed.pk != failed.pk and resumed.added == 1
    assert meta_members(fake_meta, meta_sync) == {sha("c1@example.com"), sha("c2@example.com")}


def test_a_refused_token_is_reported_with_the_platforms_message(meta_sync, member, fake_meta, waits):
    member("c1")
    fake_meta.token = "rotated"

    push = pushing.sync_via_api(meta_sync)

    assert push.status == "failed"
    assert "Invalid OAuth access token" in push.error and "code 190" in push.error


def test_a_lost_answer_is_looked_up_in_the_session_not_sent_twice(meta_sync, member, fake_meta, waits, settings):
    settings.CRM_AUDIENCE_API_BATCH_LIMIT = 2
    for number in range(5):
        member(f"c{number}")
    fake_meta.lose_answer_of_next("POST", "/users")  # the first batch arrives; its answer does not

    first = pushing.sync_via_api(meta_sync)

    assert first.status == "failed" and "unknown" in first.error
    assert PushBatch.objects.get(push=first).state == "sending"

    again = pushing.run_push(first)

    assert again.status == "succeeded", again.error
    meta_sync.refresh_from_db()
    (received,) = fake_meta.session_received(meta_sync.remote_ids["audience"]).values()
    assert received == 5  # each row once in the session
    assert len(fake_meta.calls("POST", "/users")) == 3
    assert again.added == 5


def test_a_lost_answer_that_never_arrived_is_sent_again(meta_sync, member, fake_meta, waits):
    member("c1")
    pushing.sync_via_api(meta_sync)
    member("c2")
    export = export_audience(meta_sync.segment, "meta", delta=True, sync=meta_sync, push_account=meta_sync.account)
    push = export.push
    # As if the worker had written its journal entry and died before the request left.
    PushBatch.objects.create(push=push, seq=1, kind="add", file_key="audience", lines=1, state="sending")

    pushing.run_push(push)

    push.refresh_from_db()
    assert push.status == "succeeded" and push.added == 1
    assert meta_members(fake_meta, meta_sync) == {sha("c1@example.com"), sha("c2@example.com")}


def test_a_full_replace_fills_a_new_audience_and_names_the_old_one(meta_sync, member, fake_meta, waits):
    member("c1")
    pushing.sync_via_api(meta_sync)
    meta_sync.refresh_from_db()
    old = meta_sync.remote_ids["audience"]
    AudienceSync.objects.filter(pk=meta_sync.pk).update(replace_requested=True)

    push = pushing.sync_via_api(meta_sync)

    meta_sync.refresh_from_db()
    assert push.status == "succeeded" and push.new_audience
    assert meta_sync.remote_ids["audience"] != old and push.replaced_ids == {"audience": old}
    assert not meta_sync.replace_requested
    assert meta_members(fake_meta, meta_sync) == {sha("c1@example.com")}


def test_a_push_held_by_a_live_worker_is_left_to_it(meta_sync, member, fake_meta, waits):
    member("c1")
    export = export_audience(meta_sync.segment, "meta", sync=meta_sync, push_account=meta_sync.account,
                             new_audience=True)
    AudiencePush.objects.filter(pk=export.push.pk).update(
        status="running", lease_until=dt.datetime(2100, 1, 1, tzinfo=dt.UTC))

    push = pushing.run_push(export.push)

    assert push.status == "running" and not fake_meta.requests


# --- Yandex -----------------------------------------------------------------------------------------


def test_yandex_first_sync_uploads_confirms_then_later_adds_and_subtracts(
        yandex_sync, member, segment, fake_yandex, waits):
    first = member("c1", email="  John.Doe@Example.com ", phone="8 912 345-67-89", country="RU")
    member("c2")

    push = pushing.sync_via_api(yandex_sync)

    assert push.status == "succeeded", push.error
    yandex_sync.refresh_from_db()
    segment_id = yandex_sync.remote_ids["audience"]
    assert fake_yandex.segments[int(segment_id)]["name"] == f"CRM at-risk-vip #{push.pk}"
    assert ("c1", PHONE, JOHN) in fake_yandex.members(segment_id)
    assert push.match_rate == 0.5  # the fake matches three quarters, rounded down: 1 of 2
    confirm = fake_yandex.calls("POST", "/confirm")[0]
    assert confirm.json()["segment"]["hashing_alg"] == "SHA256" and confirm.query["check_size"] == "false"

    leave(segment, first)
    member("c3")
    later = pushing.sync_via_api(yandex_sync)

    assert later.status == "succeeded", later.error
    assert {row[0] for row in fake_yandex.members(segment_id)} == {"c2", "c3"}
    assert [call.query["modification_type"] for call in fake_yandex.calls("POST", "/modify_data")] == [
        "subtraction", "addition"]


def test_yandex_oauth_token_is_renewed_with_the_refresh_token_and_kept_encrypted(
        yandex_sync, member, fake_yandex, waits):
    member("c1")
    fake_yandex.token = "ya-token-expired-elsewhere"  # our token no longer works

    push = pushing.sync_via_api(yandex_sync)

    assert push.status == "succeeded", push.error
    acc = ConnectedAccount.objects.get(pk=yandex_sync.account_id)
    assert acc.credentials()["access_token"] == fake_yandex.token
    assert fake_yandex.token not in acc.secrets and acc.token_expires_at is not None


def test_yandex_addition_with_a_lost_answer_is_not_sent_twice(yandex_sync, member, fake_yandex, waits):
    member("c1")
    pushing.sync_via_api(yandex_sync)
    yandex_sync.refresh_from_db()
    segment_id = yandex_sync.remote_ids["audience"]
    member("c2")
    fake_yandex.lose_answer_of_next("POST", "/modify_data")

    failed = pushing.sync_via_api(yandex_sync)
    assert failed.status == "failed"
    resumed = pushing.run_push(failed)

    assert resumed.status == "succeeded"
    assert fake_yandex.item_quantity(segment_id) == 2  # c2 once, not twice
    assert len(fake_yandex.calls("POST", "/modify_data")) == 1
    assert any("not sent again" in reason for reason in resumed.reasons)


def test_a_removal_whose_answer_was_lost_is_sent_again(yandex_sync, member, segment, fake_yandex, waits):
    client = member("c1")
    member("c2")
    pushing.sync_via_api(yandex_sync)
    yandex_sync.refresh_from_db()
    segment_id = yandex_sync.remote_ids["audience"]
    leave(segment, client)
    fake_yandex.lose_answer_of_next("POST", "/modify_data")

    push = pushing.sync_via_api(yandex_sync)

    # Removals are safe to repeat: sent again at once, nothing left over.
    assert push.status == "succeeded", push.error
    assert {row[0] for row in fake_yandex.members(segment_id)} == {"c2"}
    assert len(fake_yandex.calls("POST", "/modify_data")) == 2


def test_the_fake_yandex_refuses_md5_and_unhashed_lines(yandex_sync, fake_yandex, waits):
    from audiences.apis.yandex import YandexApi, _file

    api = YandexApi(yandex_sync.account)
    batch = base.Batch(1, "add", "audience", ("external_id", "phone", "email"), [["c1", "", "a@example.com"]], 1, 1,
                       True)
    with pytest.raises(base.RejectedError, match="not a SHA256 hash"):
        api.create("x", batch)
    uploaded = api.call("POST", "segments/upload_csv_file", files=_file(base.Batch(
        1, "add", "audience", ("external_id", "phone", "email"), [["c1", "", sha("a")]], 1, 1, True)))
    with pytest.raises(base.RejectedError, match="MD5 is no longer accepted"):
        api.call("POST", f"segment/{uploaded['segment']['id']}/confirm", json={"segment": {
            "id": uploaded["segment"]["id"], "name": "x", "hashed": True, "hashing_alg": "MD5",
            "content_type": "crm"}})


# --- the nightly run, the command ---------------------------------------------------------------


def test_the_nightly_syncs_push_api_syncs_and_keep_file_syncs_as_files(
        meta_sync, member, segment, fake_meta, waits):
    segment.is_active = True
    segment.save()
    member("c1")
    AudienceSync.objects.create(segment=segment, platform="tiktok", mode="full")

    exports = run_syncs()

    by_platform = {export.platform: export for export in exports}
    assert by_platform["meta"].push.status == "succeeded"
    assert not AudiencePush.objects.filter(export=by_platform["tiktok"]).exists()
    assert meta_members(fake_meta, meta_sync) == {sha("c1@example.com")}


def test_dry_run_prints_the_requests_and_changes_nothing(meta_sync, member, fake_meta, waits):
    member("c1")
    out = io.StringIO()

    call_command("sync_audience", str(meta_sync.pk), "--dry-run", stdout=out)

    text = out.getvalue()
    assert "POST " in text and "/customaudiences" in text and "/users" in text
    assert fake_meta.token not in text  # the token is masked
    assert not fake_meta.requests
    assert not AudiencePush.objects.exists()
    meta_sync.refresh_from_db()
    assert meta_sync.remote_ids == {}


def test_a_sync_that_did_not_go_through_is_a_warning_on_the_health_page(
        meta_sync, member, fake_meta, waits, client, settings):
    settings.CRM_AUDIENCE_API_ATTEMPTS = 1
    member("c1")
    fake_meta.fail_next("POST", "/customaudiences", 500, {"error": {"message": "An unknown error occurred", "code": 1}})
    pushing.sync_via_api(meta_sync)

    body = client.get("/health/background/").json()

    assert body["checks"]["audiences"]["status"] == "warning"
    assert body["checks"]["audiences"]["failing"][0] | {"since": None} == {
        "segment": "at-risk-vip", "platform": "meta", "step": "api", "since": None}

    pushing.sync_via_api(meta_sync)  # the platform is back: the push resumes and goes through
    assert client.get("/health/background/").json()["checks"]["audiences"] == {"status": "ok"}


def test_a_segment_whose_creation_answer_was_lost_is_made_once_with_everybody(yandex_sync, member, fake_yandex, waits):
    member("c1")
    member("c2")
    fake_yandex.lose_answer_of_next("POST", "/upload_csv_file")  # uploaded, never confirmed

    failed = pushing.sync_via_api(yandex_sync)
    assert failed.status == "failed"
    push = pushing.run_push(failed)

    assert push.status == "succeeded", push.error
    confirmed = [key for key, value in fake_yandex.segments.items() if value["confirmed"]]
    assert len(confirmed) == 1
    assert {row[0] for row in fake_yandex.members(confirmed[0])} == {"c1", "c2"}
    assert push.added == 2


def test_a_newer_push_waits_while_an_older_one_of_the_sync_has_not_gone_through(
        meta_sync, member, segment, fake_meta, waits):
    member("c1")
    first = export_audience(segment, "meta", sync=meta_sync, push_account=meta_sync.account, new_audience=True)
    AudiencePush.objects.filter(pk=first.push.pk).update(status="running",
                                                         lease_until=dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
    member("c2")
    second = export_audience(segment, "meta", delta=True, sync=meta_sync, push_account=meta_sync.account)

    assert pushing.run_push(second.push).status == "pending" and not fake_meta.requests

    AudiencePush.objects.filter(pk=first.push.pk).update(lease_until=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    pushing.sync_via_api(meta_sync)  # the next run: the older first, then the newer
    assert meta_members(fake_meta, meta_sync) == {sha("c1@example.com"), sha("c2@example.com")}
    assert set(AudiencePush.objects.values_list("status", flat=True)) == {"succeeded"}
