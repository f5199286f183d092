import datetime as dt
import html
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.utils import timezone

from crm.models import Purchase, PurchaseItem
from mailing.models import Delivery, EmailTemplate
from nightly.pipeline import rebuild_segments


@pytest.fixture
def styled(db):
    return EmailTemplate.objects.create(
        name="Styled", subject="{{ client.first_name|default:'Hello' }}, {{ scores.favourite_category|default:'news' }}",
        preheader="For {{ client.city|default:'you' }}",
        html_body='<html><head><style>h1 { color: #c00 }</style></head><body>'
                  '<h1>Hi {{ client.first_name|default:"friend" }}</h1>'
                  '{% for p in recommendations %}<p>{{ p.name }}</p>{% endfor %}'
                  '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>')


@pytest.fixture
def olga(make_client):
    client = make_client(first_name="Olga", city="Kazan", email="Olga@Example.com")
    client.external_id = "SHOP-7"
    client.save()
    order = Purchase.objects.create(external_id="o1", client=client, amount=Decimal("5"),
                                    purchased_at=timezone.now() - dt.timedelta(days=2))
    PurchaseItem.objects.create(purchase=order, sku="B1", name="Book", category="books", quantity=1, price=5)
    rebuild_segments(as_of=timezone.localdate())  # the night: favourite category and recommendations
    return client


def preview_url(template):
    return f"/admin/mailing/emailtemplate/{template.pk}/preview/"


def frame(admin_client, page):
    """The HTML the preview's sandboxed frame loads (from its own URL, with a policy of its own)."""
    frames = re.findall(r'<iframe class="(desktop|phone)" sandbox="" [^>]*src="([^"]+)"', page)
    assert [width for width, _ in frames] == ["desktop", "phone"] and frames[0][1] == frames[1][1]
    src = html.unescape(frames[0][1])
    response = admin_client.get(src)
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'none'" in policy and "sandbox" in policy and "frame-ancestors 'self'" in policy
    return response.content.decode()


def test_it_links_the_preview_from_the_template_page(admin_client, styled):
    page = admin_client.get(f"/admin/mailing/emailtemplate/{styled.pk}/change/").content.decode()

    assert f'href="{preview_url(styled)}"' in page and "Preview and test" in page


@pytest.mark.parametrize("who", ["SHOP-7", "olga@example.COM"])
def test_it_previews_the_template_for_a_client_chosen_by_id_or_email(admin_client, styled, olga, who):
    response = admin_client.get(preview_url(styled), {"client": who})

    page = response.content.decode()
    assert response.status_code == 200
    assert '<dd class="preview-subject">Olga, books</dd>' in page
    body = frame(admin_client, page)
    assert '<h1 style="color: #c00;">Hi Olga</h1>' in body  # CSS inlined, as sent
    assert "For Kazan" in body and "/u/" in body
    assert 'sandbox=""' in page  # the template's HTML cannot run scripts in the admin
    assert "Hi Olga" in page.split('class="preview-text">', 1)[1]


def test_it_previews_for_a_client_with_no_data_when_none_is_chosen(admin_client, styled, olga):
    page = admin_client.get(preview_url(styled), {"client": ""}).content.decode()

    assert '<dd class="preview-subject">Hello, news</dd>' in page
    body = frame(admin_client, page)
    assert "Hi friend" in body and "<p>Book</p>" in body  # best sellers as recommendations


def test_it_names_the_field_when_the_client_is_unknown(admin_client, styled):
    page = admin_client.get(preview_url(styled), {"client": "nobody@example.com"}).content.decode()

    assert "No client with the id or email address nobody@example.com." in page
    assert "preview-subject" not in page


def test_it_sends_a_marked_test_with_unsubscribe_headers_and_no_delivery(admin_client, client, styled, olga):
    response = admin_client.post(preview_url(styled), {"client": "SHOP-7", "send_to": "qa@shop.test"})

    assert response.status_code == 302
    (message,) = mail.outbox
    assert message.to == ["qa@shop.test"]
    assert message.subject == "[TEST] Olga, books"
    assert "Hi Olga" in message.alternatives[0][0] and "Hi Olga" in message.body
    assert message.extra_headers["List-Unsubscribe"].startswith("<https://crm.example.com/u/")
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.metadata == {"test": "true", "template": str(styled.pk)} and message.tags == ["test"]
    assert not Delivery.objects.exists()
    # The test's link unsubscribes nobody, neither the address nor the sample client.
    link = message.extra_headers["List-Unsubscribe"].strip("<>").replace("https://crm.example.com", "")
    assert client.post(link).status_code == 404
    olga.refresh_from_db()
    assert olga.unsubscribed_at is None
    page = admin_client.get(response["Location"]).content.decode()
    assert "Test message sent to qa@shop.test." in page


def test_it_refuses_a_test_without_a_valid_address(admin_client, styled, olga):
    page = admin_client.post(preview_url(styled), {"client": "SHOP-7", "send_to": "not-an-address"},
                             follow=True).content.decode()
    assert "Enter a valid email address." in page

    page = admin_client.post(preview_url(styled), {"client": "SHOP-7", "send_to": ""}, follow=True).content.decode()
    assert "Send a test to: enter the address" in page
    assert mail.outbox == []


def test_it_needs_the_change_permission_on_templates_and_to_view_clients_to_pick_one(client, django_user_model, styled, olga):
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_emailtemplate"))
    client.force_login(user)

    assert client.get(preview_url(styled), {"client": "SHOP-7"}).status_code == 403
    assert client.post(preview_url(styled), {"client": "SHOP-7", "send_to": "qa@shop.test"}).status_code == 403
    assert mail.outbox == []

    user.user_permissions.add(Permission.objects.get(codename="change_emailtemplate"))
    assert client.get(preview_url(styled)).status_code == 200  # the sample client with no data
    assert client.get(preview_url(styled), {"client": "SHOP-7"}).status_code == 403  # a person's data

    user.user_permissions.add(Permission.objects.get(codename="view_client"))
    user = django_user_model.objects.get(pk=user.pk)  # permissions are cached on the user object
    client.force_login(user)
    assert client.get(preview_url(styled), {"client": "SHOP-7"}).status_code == 200
