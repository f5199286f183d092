import datetime as dt

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone

from audiences import export as audience
from audiences import syncs
from audiences.export import UnknownSegment, export_audience, purge_old_exports
from audiences.exports import ClientRow, get_platform
from audiences.models import AudienceExport, AudienceLines, AudienceSync
from crm.models import Client
from demo import shop as demo
from nightly.pipeline import rebuild_segments
from segments.models import Segment, SegmentMembership

pytestmark = pytest.mark.django_db

# Hashes from the audiences spec's test vectors (docs: shared/specs/audiences.md).
JOHN_GOOGLE = "06a240d11cc201676da976f7b49341181fd180da37cbe40a77432c0a366c80c3"  # John.Doe+promo@GMail.com
PHONE_GOOGLE = "694e8de862e4f3198b67f7a4aa9f4dfb123c5b78b0a72460ce882c405b111e63"  # +7 (912) 345-67-89
IVAN = "74f46a588dd2b0d94ec4067f21fc7127c16ba0f1af96ece7a7ebfefe3ddedc92"
IVANOV = "918d04eb5d3eeab4305518c541c9734f993d780039bdb6b89a40d96a1b02365b"


def leave(segment, client):
    SegmentMembership.objects.filter(segment=segment, client=client).update(left_at=dt.date(2026, 6, 2))


def content(export, key):
    with default_storage.open(export.files[key], "rb") as handle:
        return handle.read().decode("utf-8")


def data_lines(export, key):
    return content(export, key).splitlines()[1:]


def held(**filters):
    """(client id, line) of every held line of the states matching `filters`, by client."""
    return sorted(member for batch in AudienceLines.objects.filter(**filters) for member in batch.members())


def line(platform, client, key="audience"):
    """The CSV line the platform's formatter gives this client (for the file `key`)."""
    row = get_platform(platform).rows(ClientRow(*(getattr(client, name) for name in ClientRow._fields)))[key]
    return ",".join(row)


def test_it_exports_only_members_with_ads_consent_who_are_not_erased(segment, member):
    member("c1")
    member("c2")
    member("no-consent", ads_consent=False)
    member("erased", email="", erased_at=timezone.now())
    Client.objects.create(external_id="not-a-member", email="x@example.com", ads_consent=True)

    export = export_audience(segment, "yandex")

    assert export.status == "succeeded"
    assert (export.members, export.no_consent, export.erased, export.skipped, export.exported) == (4, 1, 1, 0, 2)
    assert [row.split(",")[0] for row in data_lines(export, "audience")] == ["c1", "c2"]
    assert export.rows == {"audience": 2} and export.audience == 2


def test_it_counts_the_clients_without_a_usable_identifier(segment, member):
    member("c1")
    member("no-contact", email="", phone="")
    member("bad-contact", email="not an address", phone="12")
    member("phone-only", email="", phone="+79123456789")

    export = export_audience(segment, "tiktok")

    assert (export.members, export.skipped, export.exported) == (4, 2, 2)
    assert len(data_lines(export, "audience")) == 2


def test_a_full_export_goes_through_the_storage_byte_for_byte(segment, member):
    member("c1", email="John.Doe+promo@GMail.com", phone="+7 (912) 345-67-89", first_name=" Иван ",
           last_name="Иванов", country="RU", zip="190000")

    export = export_audience(segment, "google")

    name = export.files["audience"]
    stamp = timezone.localtime(export.created_at).strftime("%Y%m%d-%H%M%S")
    assert name == f"audiences/google/at-risk-vip/{stamp}-full-audience.csv"
    with default_storage.open(name, "rb") as handle:
        assert handle.read() == (
            "Email,Phone,First Name,Last Name,Country,Zip\n"
            f"{JOHN_GOOGLE},{PHONE_GOOGLE},{IVAN},{IVANOV},RU,190000\n").encode()
    # One client: far below Google's minimum of 100, written all the same and flagged.
    assert export.below_minimum and export.rows == {"audience": 1}


def test_the_first_delta_adds_everybody(segment, member):
    member("c1")
    member("c2")

    export = export_audience(segment, "meta", delta=True)

    assert (export.exported, export.removed, export.updated, export.audience) == (2, 0, 0, 2)
    assert set(export.files) == {"add/audience", "remove/audience"}
    assert data_lines(export, "remove/audience") == []
    assert content(export, "remove/audience") == "email,phone,fn,ln,ct,zip,country,doby,gen,extern_id\n"
    assert len(data_lines(export, "add/audience")) == 2
    assert "-add-audience.csv" in export.files["add/audience"]


def test_a_delta_adds_new_members_and_removes_whoever_may_no_longer_be_shown_ads(segment, member):
    stays, leaves = member("stays"), member("leaves")
    withdraws, erased, deleted = member("withdraws"), member("erased"), member("deleted")
    sent = {client.external_id: line("tiktok", client) for client in (leaves, withdraws, erased, deleted)}
    export_audience(segment, "tiktok")

    newcomer = member("newcomer")
    leave(segment, leaves)
    Client.objects.filter(pk=withdraws.pk).update(ads_consent=False)
    # Erasure clears the personal fields: the removal still goes out with what the platform was given.
    Client.objects.filter(pk=erased.pk).update(email="", erased_at=timezone.now())
    deleted.delete()

    delta = export_audience(segment, "tiktok", delta=True)

    assert (delta.exported, delta.removed, delta.updated) == (1, 4, 0)
    assert data_lines(delta, "add/audience") == [line("tiktok", newcomer)]
    assert sorted(data_lines(delta, "remove/audience")) == sorted(sent.values())
    assert delta.audience == 2 and delta.rows == {"add/audience": 1, "remove/audience": 4}
    assert (delta.members, delta.no_consent, delta.erased) == (4, 1, 1)
    # Nothing changed since: the next delta is empty, and the state holds exactly the two.
    again = export_audience(segment, "tiktok", delta=True)
    assert (again.exported, again.removed, again.updated, again.audience) == (0, 0, 0, 2)
    kept = held(state__segment=segment, state__platform="tiktok")
    assert kept == sorted([(stays.pk, line("tiktok", stays)), (newcomer.pk, line("tiktok", newcomer))])


def test_a_delta_sends_changed_identifiers_again(segment, member):
    moved = member("moved", email="old@example.com")
    member("same")
    export_audience(segment, "vk", delta=True)
    old = line("vk", moved, "emails")

    Client.objects.filter(pk=moved.pk).update(email="New@Example.com", phone="+79990001122",
                                              updated_at=timezone.now() + dt.timedelta(seconds=1))
    delta = export_audience(segment, "vk", delta=True)

    assert (delta.exported, delta.removed, delta.updated) == (0, 0, 1)
    assert data_lines(delta, "remove/emails") == [old]
    assert data_lines(delta, "add/emails") == ["new@example.com"]
    assert data_lines(delta, "add/phones") == ["79990001122"]
    assert data_lines(delta, "remove/phones") == []
    assert delta.rows == {"add/emails": 1, "add/phones": 1, "remove/emails": 1, "remove/phones": 0}


def test_a_full_export_resets_what_the_next_delta_starts_from(segment, member):
    first, second = member("c1"), member("c2")
    export_audience(segment, "yandex", delta=True)
    leave(segment, first)
    third = member("c3")

    full = export_audience(segment, "yandex")
    delta = export_audience(segment, "yandex", delta=True)

    assert full.exported == 2 and [row.split(",")[0] for row in data_lines(full, "audience")] == ["c2", "c3"]
    assert (delta.exported, delta.removed, delta.audience) == (0, 0, 2)
    assert [client_id for client_id, _ in held(state__segment=segment, state__platform="yandex")] == [
        second.pk, third.pk]


def test_a_delta_writes_again_only_the_batches_of_held_lines_that_lost_one(segment, member, monkeypatch):
    monkeypatch.setattr(audience, "FETCH_SIZE", 2)
    clients = [member(f"c{number}") for number in range(6)]
    export_audience(segment, "tiktok")
    first, second, third = AudienceLines.objects.order_by("pk")  # two lines each
    Client.objects.filter(pk=clients[2].pk).update(ads_consent=False)
    newcomer = member("c6")

    delta = export_audience(segment, "tiktok", delta=True)

    assert data_lines(delta, "remove/audience") == [line("tiktok", clients[2])]
    assert data_lines(delta, "add/audience") == [line("tiktok", newcomer)]
    kept = [*clients[:2], *clients[3:], newcomer]
    assert held() == sorted((client.pk, line("tiktok", client)) for client in kept)
    untouched = AudienceLines.objects.filter(pk__in=[first.pk, third.pk])
    assert [batch.members() for batch in untouched.order_by("pk")] == [first.members(), third.members()]
    assert not AudienceLines.objects.filter(pk=second.pk).exists()
    # Everybody leaves: each is removed with the line held, whichever batch it is in.
    Client.objects.update(ads_consent=False)
    last = export_audience(segment, "tiktok", delta=True)
    assert sorted(data_lines(last, "remove/audience")) == sorted(line("tiktok", client) for client in kept)
    assert (last.removed, last.audience) == (6, 0) and not AudienceLines.objects.exists()


def test_lines_with_commas_quotes_tabs_and_line_breaks_are_removed_exactly_as_sent(segment, member):
    odd = member('odd,"id"\twith\nbreaks\\', phone="+79123456789")
    plain = member("plain")
    full = export_audience(segment, "yandex")
    sent = data_lines(full, "audience")
    assert content(full, "audience").startswith('external_id,phone,email\n"odd,""id""\twith\nbreaks\\",')

    Client.objects.filter(pk__in=[odd.pk, plain.pk]).update(ads_consent=False)
    delta = export_audience(segment, "yandex", delta=True)

    assert delta.removed == 2 and content(delta, "remove/audience") == content(full, "audience")
    assert len(sent) == 3  # the quoted id spans two physical lines


def test_a_failed_export_is_recorded_and_changes_nothing(segment, member, monkeypatch):
    member("c1")
    export_audience(segment, "meta", delta=True)
    member("c2")
    before = held()

    def broken_save(name, content, max_length=None):
        raise OSError("the storage is full")

    monkeypatch.setattr(default_storage, "save", broken_save)
    with pytest.raises(OSError, match="the storage is full"):
        export_audience(segment, "meta", delta=True)

    failed = AudienceExport.objects.first()
    assert failed.status == "failed" and "the storage is full" in failed.error and failed.files == {}
    assert held() == before
    monkeypatch.undo()
    retried = export_audience(segment, "meta", delta=True)
    assert (retried.exported, retried.audience) == (1, 2)


def test_a_failure_after_some_files_were_stored_deletes_them(segment, member, monkeypatch):
    member("c1")
    saved = []
    real_save = default_storage.save

    def save_once(name, content, max_length=None):
        if saved:
            raise OSError("connection reset")
        saved.append(real_save(name, content, max_length))
        return saved[-1]

    monkeypatch.setattr(default_storage, "save", save_once)
    with pytest.raises(OSError):
        export_audience(segment, "vk")  # two files: emails is stored, phones fails

    assert saved and not default_storage.exists(saved[0])


def test_unknown_segments_and_platforms_are_refused_by_name(segment):
    with pytest.raises(ValueError, match="unknown ad platform 'bing'; known: google, meta, yandex, vk, tiktok"):
        export_audience(segment, "bing")
    with pytest.raises(UnknownSegment, match="unknown segment 'nope'; known: .*at-risk-vip"):
        export_audience("nope", "meta")
    assert not AudienceExport.objects.exists()


def test_rows_stream_from_the_database_in_batches(segment, member, monkeypatch):
    for number in range(11):
        member(f"c{number:02d}")
    monkeypatch.setattr(audience, "FETCH_SIZE", 3)
    fetches = []
    real_chunked_cursor = connection.chunked_cursor

    def spy():
        cursor = real_chunked_cursor()
        real_fetchmany = cursor.fetchmany

        def fetchmany(size):
            rows = real_fetchmany(size)
            fetches.append((size, len(rows)))
            return rows

        cursor.fetchmany = fetchmany
        return cursor

    monkeypatch.setattr(connection, "chunked_cursor", spy)
    export = export_audience(segment, "yandex")

    assert export.exported == 11
    assert [row.split(",")[0] for row in data_lines(export, "audience")] == [f"c{n:02d}" for n in range(11)]
    # Never more than FETCH_SIZE rows in memory from the cursor, whatever the segment's size.
    assert fetches and {size for size, _ in fetches} == {3} and max(count for _, count in fetches) == 3
    # Held lines are stored FETCH_SIZE to a row.
    assert len(held()) == 11 and AudienceLines.objects.count() == 4


@pytest.fixture
def demo_shop(db):
    as_of = dt.date(2026, 6, 30)
    demo.build(300, seed=7, end=as_of)
    return as_of


def test_the_syncs_run_after_the_nightly_rebuild(demo_shop, eager):
    everybody = Segment.objects.get(slug="all-clients")
    full = AudienceSync.objects.create(segment=everybody, platform="meta", mode="full")
    delta = AudienceSync.objects.create(segment=everybody, platform="vk", mode="delta")
    AudienceSync.objects.create(segment=everybody, platform="google", is_active=False)

    run = rebuild_segments(demo_shop)

    exports = {export.sync_id: export for export in AudienceExport.objects.filter(run=run)}
    assert set(exports) == {full.pk, delta.pk}
    consenting = Client.objects.filter(ads_consent=True, erased_at__isnull=True).count()
    assert exports[full.pk].status == "succeeded" and exports[full.pk].mode == "full"
    assert exports[full.pk].exported + exports[full.pk].skipped == consenting
    assert exports[delta.pk].mode == "delta" and exports[delta.pk].exported > 0
    assert exports[full.pk].members == Client.objects.count()

    rerun = rebuild_segments(demo_shop)  # nothing changed: the delta is empty
    again = AudienceExport.objects.get(run=rerun, sync=delta)
    assert (again.exported, again.removed, again.updated) == (0, 0, 0)


def test_a_failing_sync_does_not_stop_the_others(segment, member, monkeypatch):
    segment.is_active = True
    segment.save()
    member("c1")
    AudienceSync.objects.create(segment=segment, platform="meta", mode="full")
    AudienceSync.objects.create(segment=segment, platform="tiktok", mode="full")
    real_save = default_storage.save

    def no_meta(name, content, max_length=None):
        if "/meta/" in name:
            raise OSError("meta bucket unavailable")
        return real_save(name, content, max_length)

    monkeypatch.setattr(default_storage, "save", no_meta)
    exports = syncs.run_syncs()

    assert sorted((export.platform, export.status) for export in exports) == [
        ("meta", "failed"), ("tiktok", "succeeded")]


def test_old_exports_have_their_files_deleted_and_their_records_kept(segment, member, settings, tmp_path):
    settings.CRM_AUDIENCE_RETENTION_DAYS = 30
    member("c1")
    old, recent = export_audience(segment, "vk"), export_audience(segment, "meta")
    in_folder = export_audience(segment, "tiktok", out_dir=tmp_path / "out")
    long_ago = timezone.now() - dt.timedelta(days=31)
    AudienceExport.objects.filter(pk__in=[old.pk, in_folder.pk]).update(created_at=long_ago)

    assert purge_old_exports() == 1

    old.refresh_from_db()
    assert old.purged_at is not None and set(old.files) == {"emails", "phones"}
    assert not any(default_storage.exists(name) for name in old.files.values())
    assert all(default_storage.exists(name) for name in recent.files.values())
    recent.refresh_from_db()
    assert recent.purged_at is None
    # The command's --out folder is the user's: left alone.
    assert all((tmp_path / "out").joinpath(name).exists() for name in in_folder.files.values())
    assert purge_old_exports() == 0


def test_files_no_record_names_are_purged_by_age(settings):
    settings.CRM_AUDIENCE_RETENTION_DAYS = 30
    name = default_storage.save("audiences/meta/gone/20260101-000000-full-audience.csv", ContentFile(b"email\n"))
    purge_old_exports(now=timezone.now() + dt.timedelta(days=31))
    assert not default_storage.exists(name)


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_export_reads_on_a_connection_of_its_own(segment, member, monkeypatch):
    clients = [member(f"c{number}", phone=f"+7912000000{number}") for number in range(5)]
    clients.append(member('quoted,"id"\twith a tab'))
    opened = []
    real_reading_connection = audience._reading_connection

    def spy():
        opened.append(True)
        return real_reading_connection()

    monkeypatch.setattr(audience, "_reading_connection", spy)
    monkeypatch.setattr(audience, "FETCH_SIZE", 2)
    assert not connection.in_atomic_block

    full = export_audience(segment, "meta")

    # A second connection reads while the held lines stream in one COPY, and a third counts the
    # members meanwhile.
    assert opened == [True, True]
    assert (full.members, full.no_consent, full.erased) == (6, 0, 0)
    assert data_lines(full, "audience")[:5] == [line("meta", client) for client in clients[:5]]
    assert full.exported == 6 and len(held()) == 6 and AudienceLines.objects.count() == 3
    Client.objects.filter(pk=clients[-1].pk).update(ads_consent=False)
    delta = export_audience(segment, "meta", delta=True)
    assert (delta.exported, delta.removed, delta.audience) == (0, 1, 5)
    assert data_lines(delta, "remove/audience") == data_lines(full, "audience")[5:]
