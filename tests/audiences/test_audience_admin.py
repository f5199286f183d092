import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from audiences.export import export_audience
from audiences.models import AudienceDownload, AudienceExport, AudienceSync
from crm.models import Client
from segments.models import Segment, SegmentMembership

pytestmark = pytest.mark.django_db


@pytest.fixture
def export(db):
    segment = Segment.objects.create(slug="at-risk-vip", name="At risk, high value", kind=Segment.Kind.RULE)
    for number in range(3):
        client = Client.objects.create(external_id=f"c{number}", email=f"c{number}@example.com", ads_consent=True)
        SegmentMembership.objects.create(segment=segment, client=client, entered_at=dt.date(2026, 6, 1))
    return export_audience(segment, "yandex")


def staff(django_user_model, username, *codenames):
    user = django_user_model.objects.create_user(username, password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="audiences", codename__in=codenames))
    return user


@pytest.fixture
def viewer(client, django_user_model):
    client.force_login(staff(django_user_model, "viewer", "view_audienceexport"))
    return client


@pytest.fixture
def downloader(client, django_user_model):
    client.force_login(staff(django_user_model, "dana", "view_audienceexport", "download_audience"))
    return client


def download_url(export, key="audience"):
    return reverse("admin:audiences_audienceexport_download", args=[export.pk, key])


def test_without_the_download_permission_the_list_shows_but_nothing_downloads(viewer, export):
    page = viewer.get(reverse("admin:audiences_audienceexport_changelist"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "at-risk-vip" in html and download_url(export) not in html
    assert "deleted 30 days after the export" in html and "not download their files" in html
    assert viewer.get(reverse("admin:audiences_audienceexport_change", args=[export.pk])).status_code == 200
    assert viewer.get(download_url(export)).status_code == 403
    assert not AudienceDownload.objects.exists()


def test_with_the_permission_the_file_downloads_and_the_download_is_recorded(downloader, export):
    html = downloader.get(reverse("admin:audiences_audienceexport_changelist")).content.decode()
    assert download_url(export) in html

    response = downloader.get(download_url(export))

    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[0] == "external_id,phone,email" and len(body.splitlines()) == 4
    stamp = export.files["audience"].rsplit("/", 1)[-1]
    assert response["Content-Disposition"] == f'attachment; filename="yandex-at-risk-vip-{stamp}"'
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    download = AudienceDownload.objects.get()
    assert (download.export, download.file_key, download.username) == (export, "audience", "dana")
    page = downloader.get(reverse("admin:audiences_audienceexport_change", args=[export.pk])).content.decode()
    assert "dana" in page and download.at.strftime("%Y-%m-%d %H:%M") in page


def test_unknown_or_purged_files_are_not_found(downloader, export):
    assert downloader.get(download_url(export, "phones")).status_code == 404
    AudienceExport.objects.filter(pk=export.pk).update(purged_at=export.created_at)
    assert downloader.get(download_url(export)).status_code == 404
    assert not AudienceDownload.objects.exists()


def test_the_list_warns_when_an_audience_is_below_the_platform_minimum(admin_client, export):
    html = admin_client.get(reverse("admin:audiences_audienceexport_changelist")).content.decode()
    assert "below Yandex Audiences&#x27; minimum of 100" in html
    assert admin_client.get(reverse("admin:audiences_audienceexport_add")).status_code == 403


def test_export_now_runs_a_sync_as_the_user(admin_client, admin_user, export, eager):
    sync = AudienceSync.objects.create(segment=export.segment, platform="vk", mode="delta")
    form = admin_client.get(reverse("admin:audiences_audiencesync_change", args=[sync.pk])).content.decode()
    assert "admin-autocomplete" in form  # the segment is picked by search, not from a list of all

    response = admin_client.post(reverse("admin:audiences_audiencesync_changelist"),
                                 {"action": "export_now", "_selected_action": [sync.pk]}, follow=True)

    assert "1 export started" in response.content.decode()
    done = AudienceExport.objects.get(sync=sync)
    assert (done.status, done.started_by, done.mode, done.exported) == ("succeeded", admin_user, "delta", 3)
