import datetime as dt
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from audiences.models import AudienceExport
from crm.models import Client
from segments.models import Segment, SegmentMembership

pytestmark = pytest.mark.django_db


@pytest.fixture
def segment(db):
    segment = Segment.objects.get(slug="champions")  # built in (RFM)
    for number in range(4):
        client = Client.objects.create(external_id=f"c{number}", email=f"c{number}@example.com",
                                       phone=f"+7912000000{number}", ads_consent=number != 3)
        SegmentMembership.objects.create(segment=segment, client=client, entered_at=dt.date(2026, 6, 1))
    Client.objects.create(external_id="nobody", ads_consent=True)
    SegmentMembership.objects.create(segment=segment, client=Client.objects.get(external_id="nobody"),
                                     entered_at=dt.date(2026, 6, 1))
    return segment


def printed_paths(out):
    return [Path(line.split(" -> ", 1)[1]) for line in out.splitlines() if " -> " in line]


def test_it_prints_the_counts_and_the_paths_it_wrote(run_command_output, segment, settings):
    out = run_command_output("export_audience", "--segment", "champions", "--platform", "vk")

    assert "champions to VK Ads, full" in out
    assert "5 members; not eligible: 1 without ads consent, 0 erased; 1 without a usable identifier" in out
    assert "3 exported" in out and "3 clients on the platform after this export" in out
    assert "below the minimum audience of VK Ads (2000 per list)" in out
    paths = printed_paths(out)
    assert [path.name.split("-full-")[1] for path in paths] == ["emails.csv", "phones.csv"]
    assert all(path.is_file() and str(path).startswith(str(settings.MEDIA_ROOT)) for path in paths)
    assert paths[0].read_text().splitlines() == ["id", "c0@example.com", "c1@example.com", "c2@example.com"]
    assert "emails: 3 rows" in out and "phones: 3 rows" in out


def test_a_delta_prints_added_and_removed_and_two_sets_of_files(run_command_output, segment):
    run_command_output("export_audience", "--segment", "champions", "--platform", "tiktok", "--delta")
    Client.objects.filter(external_id="c0").update(ads_consent=False)

    out = run_command_output("export_audience", "--segment", "champions", "--platform", "tiktok", "--delta")

    assert "0 added, 1 removed, 0 updated" in out and "2 clients on the platform" in out
    # Two exports within a second: the storage makes the second name unique with a suffix.
    names = [path.name for path in printed_paths(out)]
    assert len(names) == 2 and "-add-audience" in names[0] and "-remove-audience" in names[1]


def test_out_writes_into_a_folder_and_the_export_is_recorded(run_command_output, segment, tmp_path):
    out = run_command_output("export_audience", "--segment", "champions", "--platform", "meta",
                             "--out", str(tmp_path / "files"))

    paths = printed_paths(out)
    assert len(paths) == 1 and paths[0].parent == tmp_path / "files" and paths[0].name.startswith("meta-champions-")
    assert len(paths[0].read_text().splitlines()) == 1 + 3
    export = AudienceExport.objects.get()
    assert export.out_dir == str(tmp_path / "files") and export.files == {"audience": str(paths[0])}
    assert "delete them once uploaded" in out


def test_unknown_segments_and_platforms_are_named_with_the_known_ones(segment):
    with pytest.raises(CommandError, match=r"Unknown segment 'champs'; known: .*, champions, .*\."):
        call_command("export_audience", "--segment", "champs", "--platform", "meta")
    with pytest.raises(CommandError, match=r"Unknown platform 'bing'; known: google, meta, yandex, vk, tiktok\."):
        call_command("export_audience", "--segment", "champions", "--platform", "bing")
    assert not AudienceExport.objects.exists()


def test_a_failed_export_is_reported_and_recorded(segment, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(CommandError, match="not a folder"):
        call_command("export_audience", "--segment", "champions", "--platform", "meta", "--out", str(blocker))
