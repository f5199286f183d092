"""Small things a marketer's first week turned up: counts said in words, a refusal that says what is
missing, import messages that name the uploaded file, birth dates in the future refused."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone, translation

from crm import admin_paging, roles
from crm.admin_paging import CAPPED, ESTIMATE, EstimatedCountPaginator, count_of, count_words
from crm.importing import run_import
from crm.models import Client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _language_back():
    # LocaleMiddleware leaves a Russian request's language active in the thread: later tests expect English.
    yield
    translation.deactivate()



# --- 1. Counts that are not exact say so -----------------------------------------------------------

@pytest.mark.parametrize(("language", "kind", "count", "expected"), [
    ("en", ESTIMATE, 20_013, "about 20,000 results"),
    ("ru", ESTIMATE, 20_013, "примерно 20\xa0000 результатов"),
    ("en", ESTIMATE, 1_234_567, "about 1,200,000 results"),
    ("en", CAPPED, 10_001, "more than 10,000 results"),
    ("ru", CAPPED, 10_001, "более 10\xa0000 результатов"),
])
def test_a_count_that_is_not_exact_is_said_in_words(language, kind, count, expected):
    with translation.override(language):
        assert count_words(count, kind) == expected


def test_an_exact_count_keeps_djangos_own_wording():
    assert count_words(12, admin_paging.EXACT) is None and count_of("clients", 12, admin_paging.EXACT) is None


def test_the_client_list_says_about_how_many_on_a_big_table(admin_client, monkeypatch):
    Client.objects.bulk_create(Client(external_id=f"c{i}") for i in range(3))
    monkeypatch.setattr(admin_paging, "estimated_rows", lambda model: 20_013)
    page = admin_client.get(reverse("admin:crm_client_changelist")).content.decode()
    assert "Clients: about 20,000" in page and "about 20,000 results" in page
    assert "20013" not in page and "20,013" not in page and "Select all: about 20,000" in page


def test_a_broad_search_says_more_than_the_cap_instead_of_a_count(admin_client, monkeypatch):
    Client.objects.bulk_create(Client(external_id=f"c{i}", country="RU") for i in range(4))
    monkeypatch.setattr(admin_paging, "COUNT_CAP", 3)
    page = admin_client.get(reverse("admin:crm_client_changelist"), {"country": "RU"}).content.decode()
    assert "more than 3 results" in page and "Clients: more than 3" in page


def test_the_paginator_says_which_count_it_gave(monkeypatch):
    Client.objects.bulk_create(Client(external_id=f"c{i}") for i in range(2))
    exact = EstimatedCountPaginator(Client.objects.order_by("pk"), 50)
    assert exact.count == 2 and exact.count_kind == admin_paging.EXACT


# --- 2. A refused permission says which one and who grants it ---------------------------------------

def test_a_refused_download_names_the_permission_and_the_administrator_role(login):
    client = login(roles.MARKETING_MANAGER)
    response = client.get(reverse("admin:segments_scores_csv"))
    page = response.content.decode()
    assert response.status_code == 403
    assert "“Can export client scores”" in page and "Administrator role" in page
    assert "Retention CRM" in page  # the admin's own page, not Django's bare "403 Forbidden"


def test_a_refused_admin_page_names_the_permission_in_russian(login):
    client = login(roles.ANALYST, "ru")
    response = client.get(reverse("admin:crm_importrun_upload"))
    page = response.content.decode()
    assert response.status_code == 403
    assert "«Can add" not in page and "добавление: клиенты" in page and "Администратор" in page


def test_a_refused_model_page_names_the_action_on_that_model(login):
    client = login(roles.ANALYST)
    response = client.get(reverse("admin:mailing_campaign_add"))
    assert response.status_code == 403 and "“add email campaigns”" in response.content.decode()


def test_links_a_role_cannot_follow_are_not_shown(login):
    client = login(roles.ANALYST)
    imports = client.get(reverse("admin:crm_importrun_changelist")).content.decode()
    assert reverse("admin:crm_importrun_upload") not in imports
    runs = client.get(reverse("admin:segments_scoringrun_changelist")).content.decode()
    assert reverse("admin:segments_run_now") not in runs


def test_an_administrator_still_sees_those_links(admin_client):
    imports = admin_client.get(reverse("admin:crm_importrun_changelist")).content.decode()
    assert reverse("admin:crm_importrun_upload") in imports


# --- 3. Import messages name the uploaded file -------------------------------------------------------

def test_import_errors_and_the_rejected_rows_name_the_uploaded_file(admin_client, settings):
    upload = SimpleUploadedFile("my shop.csv", b"client_id,birth_date\nc1,2990-01-01\nc2,1990-01-01\n")
    response = admin_client.post(reverse("admin:crm_importrun_upload"),
                                 {"kind": "clients", "file": upload, "skip_invalid": "on"})
    page = response.content.decode()
    assert "my shop.csv:2: birth_date" in page
    assert str(settings.MEDIA_ROOT) not in page and "imports/" not in page
    assert "Download the rejected rows (my_shop.rejected.csv)" in page
    download = admin_client.get(reverse("admin:crm_importrun_upload"),
                                {"rejected": response.context["report"].rejected_name})
    assert 'filename="my_shop.rejected.csv"' in download["Content-Disposition"]
    run = admin_client.get(reverse("admin:crm_importrun_changelist")).context["cl"].result_list[0]
    assert run.file_name == "my shop.csv"


def test_a_file_that_cannot_be_read_is_named_as_uploaded(admin_client, settings):
    upload = SimpleUploadedFile("empty.csv", b"")
    page = admin_client.post(reverse("admin:crm_importrun_upload"), {"kind": "clients", "file": upload})
    assert "empty.csv: the file is empty" in page.content.decode() or "submitted file is empty" in page.content.decode()
    upload = SimpleUploadedFile("bad.csv", b"nope\n1\n")
    page = admin_client.post(reverse("admin:crm_importrun_upload"), {"kind": "clients", "file": upload}).content.decode()
    assert "bad.csv:1: unknown column(s): nope" in page and str(settings.MEDIA_ROOT) not in page


# --- 4. A birth date in the future is refused ---------------------------------------------------------

def test_the_import_refuses_a_birth_date_after_today_naming_line_and_field(write_csv):
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    path = write_csv("c.csv", f"client_id,birth_date\nc1,{timezone.localdate().isoformat()}\nc2,{tomorrow}\n")
    report = run_import("clients", path, record=False)
    assert not report.imported and report.problems == [(3, "birth_date", f"'{tomorrow}' is in the future")]


def test_the_admin_form_refuses_a_birth_date_after_today(admin_client):
    client = Client.objects.create(external_id="c1")
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    response = admin_client.post(reverse("admin:crm_client_change", args=[client.pk]),
                                 {"external_id": "c1", "birth_date": tomorrow.isoformat()})
    assert response.status_code == 200  # the form again, not a redirect
    assert response.context["adminform"].form.errors["birth_date"] == ["A birth date cannot be in the future."]
    client.refresh_from_db()
    assert client.birth_date is None


# --- The header: the product's name, and "View site" to the dashboards ----------------------------------

@pytest.mark.parametrize(("language", "name"), [("en", "Retention CRM"), ("ru", "CRM удержания")])
def test_the_header_names_the_product_and_view_site_leads_to_the_dashboards(login, language, name):
    page = login(roles.MARKETING_MANAGER, language).get(reverse("admin:index")).content.decode()
    assert f'<a href="/admin/">{name}</a>' in page and "Django administration" not in page
    assert f'<a href="{reverse("admin:analytics_dashboard_changelist")}">' in page


def test_every_admin_page_gets_the_projects_stylesheet_for_wide_tables(admin_client):
    from django.contrib.staticfiles import finders

    page = admin_client.get(reverse("admin:crm_client_changelist")).content.decode()
    assert "crm/admin.css" in page
    css = open(finders.find("crm/admin.css")).read()  # noqa: SIM115
    assert "overflow-x: auto" in css
