import pytest

from mailing.launch import launch_campaign
from mailing.models import Delivery


@pytest.mark.parametrize("page", [
    "emailtemplate/", "emailtemplate/add/", "campaign/", "campaign/add/", "delivery/", "suppression/",
    "suppression/add/",
])
def test_it_shows_the_admin_pages(admin_client, make_client, make_campaign, segment, page):
    make_client([segment])
    launch_campaign(make_campaign())

    assert admin_client.get(f"/admin/mailing/{page}").status_code == 200


def test_it_shows_a_template_with_its_versions_and_a_campaign_with_its_counts(admin_client, make_client,
                                                                             make_campaign, segment, template):
    make_client([segment])
    campaign = make_campaign(slug="spring")
    launch_campaign(campaign)
    template.subject = "Second subject"
    template.save()

    page = admin_client.get(f"/admin/mailing/emailtemplate/{template.pk}/change/").content.decode()
    assert "Second subject" in page and "Hi {{ client.first_name }}" in page  # version 1 kept in the list

    changelist = admin_client.get("/admin/mailing/campaign/").content.decode()
    assert "spring" in changelist
    delivery = Delivery.objects.get()
    assert admin_client.get(f"/admin/mailing/delivery/{delivery.pk}/change/").status_code == 200


def test_only_users_who_may_change_campaigns_can_launch_them(client, django_user_model):
    from django.contrib.auth.models import Permission
    from django.urls import reverse

    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    client.force_login(viewer)
    def actions(response):
        form = response.context["action_form"]
        return [name for name, _ in form.fields["action"].choices] if form else []

    assert "launch" not in actions(client.get(reverse("admin:mailing_campaign_changelist")))
    viewer.user_permissions.add(Permission.objects.get(codename="change_campaign"))
    assert "launch" in actions(client.get(reverse("admin:mailing_campaign_changelist")))
