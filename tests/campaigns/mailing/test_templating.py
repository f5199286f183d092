import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from campaigns.mailing.models import EmailTemplate
from campaigns.mailing.templating import build_contexts, html_to_text, render_message
from crm.models import Purchase
from segments.models import ClientScore, ScoringRun


def render_for(template, client, **extra):
    context = build_contexts([client])[client.pk]
    context.update({"campaign": {"name": "Spring", "slug": "spring"}, "unsubscribe_url": "https://x.test/u/t/", **extra})
    return render_message(template.current_version(), context)


def test_it_renders_client_scores_and_last_orders(make_client):
    client = make_client(first_name="Olga", city="Kazan")
    run = ScoringRun.objects.create(as_of=dt.date(2026, 1, 31), status=ScoringRun.Status.SUCCEEDED,
                                    finished_at=dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
    ClientScore.objects.create(run=run, client=client, rfm_segment="champions", churn_band="low",
                               predicted_clv=Decimal("1234.50"), recency_days=4)
    for n in range(5):
        Purchase.objects.create(external_id=f"o{n}", client=client, amount=Decimal(10 + n),
                                purchased_at=dt.datetime(2026, 1, 1 + n, tzinfo=dt.UTC))
    template = EmailTemplate.objects.create(
        name="t", subject="{{ client.first_name }}, {{ campaign.name }}",
        html_body="<p>{{ client.city }} {{ scores.rfm_segment }} {{ scores.churn_band }} {{ scores.predicted_clv }} "
                  "{{ scores.recency_days }}</p>{% for o in last_orders %}<i>{{ o.external_id }}</i>{% endfor %}")

    subject, html, text = render_for(template, client)

    assert subject == "Olga, Spring"
    assert "Kazan champions low 1234.50 4" in html
    assert "<i>o4</i><i>o3</i><i>o2</i>" in html and "o1" not in html  # the newest three
    assert "Kazan champions low 1234.50 4" in text


def test_it_renders_missing_values_gracefully(make_client):
    client = make_client(first_name="")
    template = EmailTemplate.objects.create(
        name="t", subject="Hello {{ client.first_name|default:'friend' }}",
        html_body="<p>{{ scores.rfm_segment|default:'new' }}/{{ scores.nothing }}/{{ last_orders|length }}</p>")

    subject, html, _ = render_for(template, client)

    assert subject == "Hello friend"
    assert "<p>new//0</p>" in html


def test_it_generates_the_text_body_and_adds_preheader_and_unsubscribe_link(make_client):
    client = make_client(first_name="Ann")
    template = EmailTemplate.objects.create(
        name="t", subject="s", preheader="Only today, {{ client.first_name }}",
        html_body='<html><head><style>p{color:red}</style></head><body><h1>Hi {{ client.first_name }}</h1>'
                  '<p>See <a href="https://shop.test/">the shop</a></p></body></html>')

    _, html, text = render_for(template, client)

    assert '<body><div style="display:none' in html and "Only today, Ann" in html
    assert 'href="https://x.test/u/t/"' in html  # the template had no link: a footer adds one
    assert text.startswith("Hi Ann\n")
    assert "See the shop (https://shop.test/)" in text
    assert "color:red" not in text and "Only today" not in text
    assert "https://x.test/u/t/" in text


def test_it_escapes_client_data_in_html_but_not_in_text(make_client):
    client = make_client(first_name="<b>Bob</b>")
    template = EmailTemplate.objects.create(name="t", subject="{{ client.first_name }}",
                                            html_body="<p>{{ client.first_name }}</p>", text_body="{{ client.first_name }}")

    subject, html, text = render_for(template, client)

    assert subject == "<b>Bob</b>" and text.startswith("<b>Bob</b>")
    assert "&lt;b&gt;Bob&lt;/b&gt;" in html


def test_it_converts_html_to_readable_text():
    assert html_to_text("<p>One</p><p>Two <b>bold</b></p><ul><li>a</li><li>b</li></ul>") == "One\n\nTwo bold\n\n- a\n\n- b\n"


@pytest.mark.parametrize(("field", "source", "message"), [
    ("html_body", "<p>{% frobnicate %}</p>", "frobnicate"),
    ("subject", "Hi {{ client.first_name|shout }}", "shout"),
    ("text_body", "{% if client %}unclosed", "endif"),
    ("preheader", "{% load nosuchlib %}", "nosuchlib"),
])
def test_it_refuses_a_template_that_does_not_compile(db, field, source, message):
    template = EmailTemplate(name="broken", subject="s", html_body="<p>ok</p>")
    setattr(template, field, source)

    with pytest.raises(ValidationError) as error:
        template.full_clean()

    assert list(error.value.message_dict) == [field]
    assert message in error.value.message_dict[field][0]


def test_it_refuses_a_broken_template_in_the_admin(admin_client):
    response = admin_client.post("/admin/campaigns/emailtemplate/add/", {
        "name": "broken", "subject": "Hi", "html_body": "{% frobnicate %}", "preheader": "", "text_body": "",
        "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0",
    })

    assert response.status_code == 200
    assert "Invalid block tag" in response.content.decode() and "frobnicate" in response.content.decode()
    assert not EmailTemplate.objects.exists()


def test_it_keeps_every_version_and_makes_one_only_when_content_changes(db):
    template = EmailTemplate.objects.create(name="t", subject="First", html_body="<p>one</p>")
    first = template.current_version()

    template.save()  # nothing changed
    template.subject = "Second"
    template.save()

    template.refresh_from_db()
    assert template.version == 2
    assert [(v.number, v.subject) for v in template.versions.order_by("number")] == [(1, "First"), (2, "Second")]
    first.refresh_from_db()
    assert first.subject == "First" and first.html_body == "<p>one</p>"
