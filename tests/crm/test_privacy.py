"""Right to be forgotten, subject access export, and the audit log of personal data."""

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.urls import reverse

from audiences.export import export_audience
from crm.importing.run import run_import
from crm.models import Activity, AuditLog, Client, Purchase, PurchaseItem, SurveyAnswer
from mailing.launch import launch_campaign
from mailing.models import Campaign, Delivery, DeliveryEvent, EmailTemplate
from nightly.pipeline import rebuild_segments
from privacy.personal_data import erase_client, export_client, to_json
from segments.export import rows as score_rows
from segments.models import ClientScore, Segment, SegmentMembership

pytestmark = pytest.mark.django_db

AT = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)
PERSONAL = ["ann.smith@example.com", "+79123456789", "Ann", "Smith", "Kazan", "420000", "1990-05-17"]


@pytest.fixture
def segment(db):
    return Segment.objects.create(slug="vip", name="VIP")


@pytest.fixture
def person(segment, django_user_model):
    """A client with everything: purchases with items, activity, a survey answer, scores, an email history."""
    ann = Client.objects.create(
        external_id="c-ann", email="ann.smith@example.com", phone="+79123456789", first_name="Ann", last_name="Smith",
        city="Kazan", country="RU", zip="420000", birth_date=dt.date(1990, 5, 17), gender="f",
        acquisition_channel="ads", email_consent=True, ads_consent=True)
    bob = Client.objects.create(external_id="c-bob", email="bob@example.com", email_consent=True, ads_consent=True)
    for n, client in enumerate([ann, bob]):
        order = Purchase.objects.create(external_id=f"o{n}", client=client, purchased_at=AT, amount=Decimal("120.50"))
        PurchaseItem.objects.create(purchase=order, sku="BOOK", name="A book", quantity=1, price=Decimal("120.50"))
    Activity.objects.create(client=ann, kind="review", occurred_at=AT, properties={"text": "Ann from Kazan says hi"})
    SurveyAnswer.objects.create(client=ann, kind="nps", score=9, answered_at=AT)
    rebuild_segments(dt.date(2025, 12, 31))
    for client in (ann, bob):
        SegmentMembership.objects.create(segment=segment, client=client, entered_at=dt.date(2025, 12, 31))
    template = EmailTemplate.objects.create(name="Hi", subject="Hi {{ client.first_name }}", html_body="<p>x</p>")
    old = Campaign.objects.create(slug="spring", name="Spring", template=template, state=Campaign.State.DONE)
    sent = Delivery.objects.create(campaign=old, client=ann, email=ann.email, state=Delivery.State.SENT,
                                   subject="Hi Ann", message_id="m-1", sent_at=AT)
    DeliveryEvent.objects.create(delivery=sent, kind="opened", event_key="e1", message_id="m-1",
                                 recipient=ann.email, occurred_at=AT, detail={"email": ann.email})
    running = Campaign.objects.create(slug="summer", name="Summer", template=template, state=Campaign.State.SENDING)
    Delivery.objects.create(campaign=running, client=ann, email=ann.email)
    LogEntry.objects.create(content_type=ContentType.objects.get_for_model(Client), object_id=str(ann.pk),
                            object_repr=str(ann), action_flag=CHANGE,
                            user=django_user_model.objects.create_user("editor"))
    return ann


def test_it_erases_personal_fields_and_keeps_an_anonymous_row_with_its_history(person):
    revenue_before = sum(p.amount for p in Purchase.objects.all())
    # A bounce the ESP reported for her address that matched no delivery of ours.
    DeliveryEvent.objects.create(kind="bounced", event_key="e2", recipient="ANN.smith@example.com",
                                 occurred_at=AT, detail={"email": "ann.smith@example.com"})
    result = erase_client(person, actor_name="cli:test")

    ann = Client.objects.get(pk=person.pk)
    assert (ann.email, ann.phone, ann.first_name, ann.last_name, ann.city, ann.zip, ann.birth_date, ann.gender) == (
        "", "", "", "", "", "", None, "")
    assert ann.erased_at is not None and not ann.email_consent and not ann.ads_consent
    assert (ann.external_id, ann.country, ann.acquisition_channel) == ("c-ann", "RU", "ads")
    # Aggregates stay right: the row, its orders, items, survey answers and scores are all still there.
    assert sum(p.amount for p in Purchase.objects.all()) == revenue_before
    assert ann.purchases.get().items.count() == 1 and ann.survey_answers.count() == 1
    assert ClientScore.objects.current().filter(client=ann).exists()
    assert Activity.objects.get(client=ann).properties == {}
    # Mail: nothing pending any more, and no address or greeting kept on past messages.
    assert set(ann.deliveries.values_list("campaign__slug", "state", "reason", "email", "subject")) == {
        ("spring", "sent", "", "", ""), ("summer", "suppressed", "erased", "", "")}
    assert Campaign.objects.get(slug="summer").state == Campaign.State.DONE
    assert [(e.recipient, e.detail) for e in DeliveryEvent.objects.all()] == [("", {}), ("", {})]
    assert LogEntry.objects.get().object_repr == "c-ann"
    assert result == {"external_id": "c-ann", "again": False, "activities_cleared": 1,
                      "pending_deliveries_suppressed": 1}

    entry = AuditLog.objects.get()
    assert (entry.action, entry.target, entry.actor_name) == ("erase_client", f"crm.client:{ann.pk}", "cli:test")
    # Nothing that names the person is left anywhere in the client's row or the audit log.
    kept = json.dumps([list(Client.objects.filter(pk=ann.pk).values())[0], entry.detail], default=str)
    assert not [value for value in PERSONAL if value in kept]


def test_erased_clients_are_left_out_of_audiences_campaigns_and_the_scores_file(person, segment, settings):
    erase_client(person)

    export = export_audience(segment, "meta")
    assert (export.members, export.erased, export.exported) == (2, 1, 1)
    with default_storage.open(export.files["audience"], "rb") as handle:
        assert len(handle.read().decode().splitlines()) == 2  # the header and Bob

    campaign = Campaign.objects.create(slug="autumn", name="Autumn", template=EmailTemplate.objects.get())
    campaign.segments.set([segment])
    result = launch_campaign(campaign)
    assert (result.created, result.pending, result.suppressed) == (2, 1, 1)
    assert Delivery.objects.get(campaign=campaign, client=person).reason == Delivery.Reason.ERASED

    assert [row[0] for row in score_rows()][1:] == ["c-bob"]


def test_it_exports_everything_about_one_client_as_json_and_records_it(person):
    data = json.loads(to_json(export_client(person, actor_name="cli:test")))

    assert data["client"]["email"] == "ann.smith@example.com" and data["client"]["birth_date"] == "1990-05-17"
    assert data["purchases"] == [{"external_id": "o0", "purchased_at": "2025-06-01T12:00:00Z", "amount": "120.50",
                                  "currency": "RUB", "status": "completed",
                                  "items": [{"sku": "BOOK", "name": "A book", "category": "", "quantity": "1.000",
                                             "price": "120.50"}]}]
    assert data["activity"][0]["properties"] == {"text": "Ann from Kazan says hi"}
    assert data["survey_answers"][0]["score"] == 9
    assert data["scores"][0]["as_of"] == "2025-12-31" and data["scores"][0]["frequency"] == 1
    assert {"all-clients", "vip"} <= {m["segment"] for m in data["segments"]}
    spring = next(d for d in data["deliveries"] if d["campaign"] == "spring")
    assert spring["subject"] == "Hi Ann" and spring["events"][0]["kind"] == "opened"
    assert "claim_token" not in spring

    entry = AuditLog.objects.get()
    assert (entry.action, entry.target, entry.actor_name) == ("export_client", f"crm.client:{person.pk}", "cli:test")
    # The next export lists the previous one among the audit entries about the client.
    again = export_client(person)
    assert [e["action"] for e in again["audit_log"]] == ["export_client"]


def test_the_commands_erase_and_export_by_the_shops_id(person, tmp_path, capsys):
    out = tmp_path / "ann.json"
    call_command("export_client", "c-ann", "--out", str(out))
    assert json.loads(out.read_text())["client"]["last_name"] == "Smith"

    call_command("erase_client", "c-ann")
    assert "client c-ann: personal data erased; 1 activity properties cleared, 1 pending emails suppressed" in (
        capsys.readouterr().out)
    assert Client.objects.get(external_id="c-ann").email == ""
    assert list(AuditLog.objects.order_by("at").values_list("action", "actor_name")) == [
        ("export_client", AuditLog.objects.first().actor_name), ("erase_client", AuditLog.objects.first().actor_name)]
    assert AuditLog.objects.first().actor_name.startswith("cli")

    with pytest.raises(CommandError, match="no client with client id 'nobody'"):
        call_command("erase_client", "nobody")
    with pytest.raises(CommandError, match="--out /no/such/dir/x.json: No such file or directory"):
        call_command("export_client", "c-ann", "--out", "/no/such/dir/x.json")
    assert AuditLog.objects.count() == 2  # a failed export is not an export


def staff(django_user_model, name, *codenames):
    user = django_user_model.objects.create_user(name, password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_client", "change_client", *codenames]))
    return user


def action(client, name, person, **extra):
    return client.post(reverse("admin:crm_client_changelist"),
                       {"action": name, "_selected_action": [person.pk], **extra})


def test_the_admin_actions_need_their_own_permission(client, django_user_model, person):
    client.force_login(staff(django_user_model, "clerk"))
    page = client.get(reverse("admin:crm_client_changelist")).content.decode()
    assert "export_personal_data" not in page and "erase_personal_data" not in page
    action(client, "erase_personal_data", person, confirm="yes")
    assert Client.objects.get(pk=person.pk).erased_at is None and not AuditLog.objects.exists()


def test_the_admin_exports_one_client_as_a_json_download_and_records_who(client, django_user_model, person):
    user = staff(django_user_model, "dpo", "export_client_data")
    client.force_login(user)
    response = action(client, "export_personal_data", person)
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert 'filename="client-c-ann.json"' in response["Content-Disposition"]
    assert json.loads(response.content)["client"]["first_name"] == "Ann"
    entry = AuditLog.objects.get()
    assert (entry.actor, entry.actor_name, entry.action) == (user, "dpo", "export_client")


def test_the_admin_erases_after_a_confirmation(client, django_user_model, person):
    user = staff(django_user_model, "dpo", "erase_client")
    client.force_login(user)
    page = action(client, "erase_personal_data", person).content.decode()
    assert "This cannot be undone" in page and 'name="confirm" value="yes"' in page
    assert Client.objects.get(pk=person.pk).erased_at is None

    response = action(client, "erase_personal_data", person, confirm="yes")
    assert response.status_code == 302
    assert Client.objects.get(pk=person.pk).erased_at is not None
    entry = AuditLog.objects.get()
    assert (entry.actor, entry.action, entry.target) == (user, "erase_client", f"crm.client:{person.pk}")


def test_downloads_of_personal_data_are_recorded(admin_client, admin_user, person, segment, tmp_path, settings):
    export = export_audience(segment, "meta")
    response = admin_client.get(reverse("admin:audiences_audienceexport_download", args=[export.pk, "audience"]))
    assert response.status_code == 200
    scores = admin_client.get(reverse("admin:segments_scores_csv"))
    assert [row[0] for row in csv.reader(io.StringIO(b"".join(scores.streaming_content).decode()))][1:] == [
        "c-ann", "c-bob"]

    (tmp_path / "media" / "imports").mkdir(parents=True)
    (tmp_path / "media" / "imports" / "x.rejected.csv").write_text("client_id,error\n")
    assert admin_client.get(reverse("admin:crm_importrun_upload"), {"rejected": "x.rejected.csv"}).status_code == 200

    entries = list(AuditLog.objects.order_by("at", "pk").values_list("action", "actor", "target"))
    assert entries == [("download", admin_user.pk, f"audiences.audienceexport:{export.pk}/audience"),
                       ("download", admin_user.pk, "segments:scores.csv"),
                       ("download", admin_user.pk, "crm.import:x.rejected.csv")]


def test_the_audit_log_is_listed_in_the_admin_and_read_only(admin_client, person):
    erase_client(person, actor_name="cli:ops")
    page = admin_client.get(reverse("admin:crm_auditlog_changelist")).content.decode()
    assert "cli:ops" in page and f"crm.client:{person.pk}" in page
    entry = AuditLog.objects.get()
    assert admin_client.post(reverse("admin:crm_auditlog_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    assert admin_client.get(reverse("admin:crm_auditlog_add")).status_code == 403
    assert AuditLog.objects.count() == 1


def test_re_importing_an_erased_clients_row_does_not_bring_their_data_back(person, tmp_path):
    erase_client(person)
    clients = tmp_path / "clients.csv"
    clients.write_text("client_id,email,first_name,email_consent\nc-ann,ann.smith@example.com,Ann,yes\n"
                       "c-bob,bob@example.com,Bob,yes\n")
    activity = tmp_path / "activity.csv"
    activity.write_text('client_id,kind,occurred_at,properties\n'
                        'c-ann,review,2025-06-01T12:00:00Z,"{""text"": ""Ann from Kazan says hi""}"\n'
                        'c-ann,login,2025-06-02,"{""ip"": ""10.0.0.1""}"\n')

    assert run_import("clients", clients).imported and run_import("activity", activity).imported

    ann = Client.objects.get(external_id="c-ann")
    assert (ann.email, ann.first_name, ann.email_consent) == ("", "", False)
    assert Client.objects.get(external_id="c-bob").first_name == "Bob"  # the rest of the file still counts
    assert sorted(ann.activities.values_list("kind", "properties")) == [("login", {}), ("review", {})]
