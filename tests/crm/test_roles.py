"""The three roles: each sees and can do only what it should (groups made by the data migration)."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from audiences.export import export_audience
from crm import roles
from crm.models import Client
from mailing.models import Campaign, EmailTemplate
from segments.models import Segment, SegmentMembership

pytestmark = pytest.mark.django_db



@pytest.fixture
def export(db):
    segment = Segment.objects.create(slug="at-risk-vip", name="At risk, high value", kind=Segment.Kind.RULE)
    client = Client.objects.create(external_id="c1", email="c1@example.com", ads_consent=True)
    SegmentMembership.objects.create(segment=segment, client=client, entered_at=dt.date(2026, 6, 1))
    return export_audience(segment, "yandex")


def status(client, url_name, *args, method="get", **data):
    return getattr(client, method)(reverse(url_name, args=args), data).status_code


def test_it_creates_the_three_groups_in_the_migration():
    assert set(Group.objects.values_list("name", flat=True)) >= {"Administrator", "Marketing manager", "Analyst"}
    assert Group.objects.get(name="Analyst").permissions.filter(codename="export_scores").exists()


def test_it_keeps_personal_data_downloads_from_the_working_roles():
    for codename in ("download_audience", "export_client_data", "erase_client"):
        assert not Group.objects.filter(name__in=[roles.MARKETING_MANAGER, roles.ANALYST],
                                        permissions__codename=codename).exists()
        assert Group.objects.filter(name=roles.ADMINISTRATOR, permissions__codename=codename).exists()
    assert not Group.objects.filter(name=roles.MARKETING_MANAGER, permissions__codename="export_scores").exists()


def test_it_lets_a_marketing_manager_work_on_campaigns_and_segments_but_not_download(login, export):
    manager = login(roles.MARKETING_MANAGER)
    assert status(manager, "admin:mailing_campaign_add") == 200
    assert status(manager, "admin:mailing_emailtemplate_add") == 200
    assert status(manager, "admin:segments_segment_add") == 200
    assert status(manager, "admin:segments_dashboard") == 200
    assert status(manager, "admin:analytics_dashboard_changelist") == 200
    assert status(manager, "admin:analytics_marketingspend_add") == 200
    assert status(manager, "admin:loyalty_pointrule_add") == 200
    assert status(manager, "admin:loyalty_pointsentry_add") == 200  # a manual adjustment
    assert status(manager, "admin:crm_client_changelist") == 200
    assert status(manager, "admin:crm_client_add") == 403  # clients come from the shop's data
    assert status(manager, "admin:audiences_audienceexport_download", export.pk, "audience") == 403
    assert status(manager, "admin:segments_scores_csv") == 403
    assert status(manager, "admin:auth_user_changelist") == 403
    assert status(manager, "admin:api_apitoken_changelist") == 403
    form = manager.get(reverse("admin:crm_client_changelist")).context["action_form"]  # None: no action left
    assert not form or not {"export_personal_data", "erase_personal_data"} & dict(form.fields["action"].choices).keys()


def test_it_gives_an_analyst_read_only_pages_and_the_score_file(login, export):
    analyst = login(roles.ANALYST)
    template = EmailTemplate.objects.create(name="Hi", subject="Hi", html_body="<p>Hi</p>")
    campaign = Campaign.objects.create(slug="winback", name="Win-back", template=template)
    assert status(analyst, "admin:mailing_campaign_changelist") == 200
    assert status(analyst, "admin:mailing_campaign_change", campaign.pk) == 200
    assert status(analyst, "admin:mailing_campaign_change", campaign.pk, method="post", name="Changed") == 403
    assert Campaign.objects.get().name == "Win-back"
    assert status(analyst, "admin:mailing_campaign_add") == 403
    assert status(analyst, "admin:segments_segment_add") == 403
    assert status(analyst, "admin:segments_dashboard") == 200
    assert status(analyst, "admin:analytics_retention") == 200
    assert status(analyst, "admin:loyalty_analytics") == 200  # linked from the dashboards' tabs
    assert status(analyst, "admin:loyalty_pointrule_changelist") == 200
    assert status(analyst, "admin:loyalty_pointrule_add") == 403
    assert status(analyst, "admin:loyalty_pointsentry_add") == 403
    assert status(analyst, "admin:analytics_marketingspend_add") == 403
    assert status(analyst, "admin:segments_run_now", method="post") == 403
    response = analyst.get(reverse("admin:segments_scores_csv"))
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert status(analyst, "admin:audiences_audienceexport_download", export.pk, "audience") == 403
    assert status(analyst, "admin:crm_auditlog_changelist") == 403


def test_it_lets_an_administrator_do_everything(login, export):
    administrator = login(roles.ADMINISTRATOR)
    assert status(administrator, "admin:auth_user_changelist") == 200
    assert status(administrator, "admin:audiences_audienceexport_download", export.pk, "audience") == 200
    assert status(administrator, "admin:segments_scores_csv") == 200
    assert status(administrator, "admin:crm_auditlog_changelist") == 200


def test_it_places_a_new_model_by_rule():
    # A model added later to a shop app is readable by both working roles, editable by neither.
    assert roles.holds(roles.ANALYST, "mailing", "newthing", "view_newthing")
    assert not roles.holds(roles.ANALYST, "mailing", "newthing", "change_newthing")
    assert not roles.holds(roles.MARKETING_MANAGER, "mailing", "newthing", "delete_newthing")
    assert not roles.holds(roles.ANALYST, "auth", "user", "view_user")
