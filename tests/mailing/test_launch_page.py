"""Launching from the admin: the list action and the "Launch..." button open a confirmation page
(reach, sample subjects, a test to oneself); confirming queues a task and the request sends nothing."""

from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.cache import cache
from django.urls import reverse

from mailing import tasks
from mailing.models import Campaign, CampaignVariant, Delivery, EmailTemplate


@pytest.fixture(autouse=True)
def _no_marks():
    cache.clear()  # launch marks of another test's campaign with the same id
    yield
    cache.clear()


@pytest.fixture
def marketer(db, client):
    user = get_user_model().objects.create_superuser("mia", "mia@shop.example", "pw")
    client.force_login(user)
    return user


@pytest.fixture
def campaign(make_client, make_campaign, segment):
    for name in ("Olga", "Pavel", "Rita"):
        make_client([segment], first_name=name)
    make_client([segment], consent=False, first_name="Quiet")
    return make_campaign(slug="spring")


def page_of(campaign):
    return reverse("admin:mailing_campaign_launch", args=[campaign.pk])


def test_the_list_action_opens_the_confirmation_page_and_sends_nothing(client, marketer, campaign, make_campaign):
    response = client.post("/admin/mailing/campaign/", {"action": "launch", "_selected_action": [campaign.pk]})
    assert response.status_code == 302 and response["Location"] == page_of(campaign)
    assert not Delivery.objects.exists() and not mail.outbox

    other = make_campaign(slug="autumn")
    response = client.post("/admin/mailing/campaign/", {
        "action": "launch", "_selected_action": [campaign.pk, other.pk]}, follow=True)
    assert "select one campaign" in response.content.decode()


def test_the_page_shows_the_reach_and_personal_subjects(client, marketer, campaign):
    change = client.get(reverse("admin:mailing_campaign_change", args=[campaign.pk])).content.decode()
    assert page_of(campaign) in change  # the Launch... button

    page = client.get(page_of(campaign)).content.decode()
    assert "no email consent" in page
    assert 'id="will-receive">3<' in page
    for name in ("Olga", "Pavel", "Rita"):
        assert f"Hi {name}" in page
    assert "Hi Quiet" not in page
    assert "Sending starts as soon as you confirm." in page


def test_a_variants_subject_shows_for_its_recipients(client, marketer, campaign):
    CampaignVariant.objects.create(campaign=campaign, name="B", weight=100, subject="Just for you, {{ client.first_name }}")
    page = client.get(page_of(campaign)).content.decode()
    assert "Just for you, Olga" in page and "Hi Olga" not in page


def test_a_test_goes_to_me_marked_and_records_nothing(client, marketer, campaign):
    response = client.post(page_of(campaign), {"test": "1"}, follow=True)
    assert "Test message sent to mia@shop.example" in response.content.decode()
    [message] = mail.outbox
    assert message.to == ["mia@shop.example"]
    assert message.subject == "[TEST] Hi Olga"
    assert message.tags == ["test"]
    assert not Delivery.objects.exists()
    assert Campaign.objects.get(pk=campaign.pk).state == Campaign.State.DRAFT


def test_a_test_is_refused_to_a_user_with_no_email(client, marketer, campaign):
    marketer.email = ""
    marketer.save()
    response = client.post(page_of(campaign), {"test": "1"}, follow=True)
    assert "your user has no email address" in response.content.decode()
    assert not mail.outbox


def test_confirming_queues_a_task_and_the_request_sends_nothing(client, marketer, campaign,
                                                                django_capture_on_commit_callbacks):
    queued = []
    with mock.patch.object(tasks.launch_campaign_task, "delay", side_effect=queued.append):
        response = client.post(page_of(campaign), {"confirm": "1"}, follow=True)
        page = response.content.decode()
        assert "is launching" in page
        assert not Delivery.objects.exists() and not mail.outbox
        assert Campaign.objects.get(pk=campaign.pk).state == Campaign.State.DRAFT
        assert "launch-progress" in page and 'data-busy="1"' in page  # the page reloads itself

        # A double click or a second tab: told, and not queued again.
        again = client.post(page_of(campaign), {"confirm": "1"}, follow=True).content.decode()
        assert "already launching" in again
    assert queued == [campaign.pk]

    # The worker runs the task.
    with django_capture_on_commit_callbacks(execute=True):
        tasks.launch_campaign_task(campaign.pk)
    assert len(mail.outbox) == 3
    page = client.get(reverse("admin:mailing_campaign_change", args=[campaign.pk])).content.decode()
    assert "<th>sent</th>" in page and "<td>3</td>" in page and 'data-busy=""' in page


def test_a_refused_launch_says_why_and_sends_nothing(client, marketer, campaign, make_campaign, excluded):
    campaign.state = Campaign.State.DONE
    campaign.save()
    with mock.patch.object(tasks.launch_campaign_task, "delay") as delay:
        page = client.post(page_of(campaign), {"confirm": "1"}, follow=True).content.decode()
        assert "is done; only a draft or scheduled campaign can be launched" in page
        nobody = make_campaign(slug="nobody", segments=[excluded])
        page = client.post(page_of(nobody), {"confirm": "1"}, follow=True).content.decode()
        assert "has nobody to email: its audience segments (Excluded) have no members now" in page
    delay.assert_not_called()
    assert not Delivery.objects.exists() and not mail.outbox


def test_a_launch_refused_in_the_worker_shows_on_the_campaign_page(client, marketer, campaign):
    with mock.patch.object(tasks.launch_campaign_task, "delay"):
        client.post(page_of(campaign), {"confirm": "1"})
    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.CANCELLED)  # meanwhile
    tasks.launch_campaign_task(campaign.pk)
    page = client.get(reverse("admin:mailing_campaign_change", args=[campaign.pk])).content.decode()
    assert "is cancelled; only a draft or scheduled campaign" in page
    assert not Delivery.objects.exists()


def test_in_process_tasks_launch_at_confirmation(client, marketer, campaign, django_capture_on_commit_callbacks):
    """No REDIS_URL (the demo): the task runs in-process, so confirming launches and sends."""
    with django_capture_on_commit_callbacks(execute=True):
        client.post(page_of(campaign), {"confirm": "1"})
    assert len(mail.outbox) == 3
    assert Campaign.objects.get(pk=campaign.pk).state == Campaign.State.DONE


def test_duplicating_a_campaign_copies_its_settings_as_a_draft(client, marketer, campaign, excluded, template):
    other = EmailTemplate.objects.create(name="Other", subject="B", html_body="<p>b</p>")
    campaign.exclude_segments.set([excluded])
    campaign.conditions = {"field": "frequency", "op": ">", "value": 1}
    campaign.holdout_percent = 10
    campaign.state = Campaign.State.DONE
    campaign.save()
    CampaignVariant.objects.create(campaign=campaign, name="A", weight=50)
    CampaignVariant.objects.create(campaign=campaign, name="B", weight=50, template=other, subject="S")

    for _ in range(2):
        client.post("/admin/mailing/campaign/", {"action": "duplicate", "_selected_action": [campaign.pk]})

    first, second = Campaign.objects.exclude(pk=campaign.pk).order_by("pk")
    assert (first.slug, second.slug) == ("spring-copy", "spring-copy-2")
    assert first.name == "Spring sale (copy)" and first.state == Campaign.State.DRAFT
    assert first.launched_at is None and first.template == template
    assert list(first.segments.all()) == list(campaign.segments.all())
    assert list(first.exclude_segments.all()) == [excluded]
    assert first.conditions == campaign.conditions and first.holdout_percent == 10
    assert sorted(first.variants.values_list("name", "weight", "template", "subject")) == [
        ("A", 50, None, ""), ("B", 50, other.pk, "S")]


def test_duplicating_a_template_starts_the_copy_from_the_current_version(client, marketer, template):
    template.subject = "Second subject"
    template.save()
    for _ in range(2):
        client.post("/admin/mailing/emailtemplate/", {"action": "duplicate", "_selected_action": [template.pk]})
    first, second = EmailTemplate.objects.exclude(pk=template.pk).order_by("pk")
    assert (first.name, second.name) == ("Hello (copy)", "Hello (copy) 2")
    [version] = first.versions.all()
    assert version.number == 1 and version.subject == "Second subject"
    assert version.html_body == template.current_version().html_body


def test_who_may_not_view_clients_sees_no_sample_recipients(client, campaign):
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user("ed", "ed@shop.example", "pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(
        content_type__app_label="mailing", codename__in=["change_campaign", "view_campaign"]))
    client.force_login(user)
    page = client.get(page_of(campaign)).content.decode()
    assert 'id="will-receive">3<' in page
    assert "Olga" not in page and "client1@example.com" not in page
    assert "shown to users who may view clients" in page
    sent = client.post(page_of(campaign), {"test": "1"}, follow=True).content.decode()
    assert "Test message sent to ed@shop.example" in sent, sent[sent.find("messagelist"):][:500]
    [message] = mail.outbox
    assert message.to == ["ed@shop.example"] and "Olga" not in message.subject
