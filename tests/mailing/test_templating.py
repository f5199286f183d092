import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.template import Context
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import Purchase, PurchaseItem
from mailing.models import EmailTemplate
from mailing.templating import (
    _render_derived_text,
    build_contexts,
    compile_template,
    html_to_text,
    inline_css,
    pair_template_from_html,
    render_message,
    split_pair,
    text_template_from_html,
)
from nightly.pipeline import rebuild_segments
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


@pytest.mark.parametrize("expression", ["{{ client.first_name }}", "{{ client.first_name|escape }}",
                                        "{{ client.first_name|force_escape }}"])
def test_the_generated_text_body_shows_names_as_written(make_client, expression):
    client = make_client(first_name="Tom & Jerry")
    template = EmailTemplate.objects.create(name="t", subject="s", html_body=f"<p>Hi {expression}</p>")

    _, html, text = render_for(template, client)

    assert "Hi Tom &amp; Jerry" in html and text.startswith("Hi Tom & Jerry\n")


def test_it_converts_html_to_readable_text():
    assert html_to_text("<p>One</p><p>Two <b>bold</b></p><ul><li>a</li><li>b</li></ul>") == "One\n\nTwo bold\n\n- a\n\n- b\n"


@pytest.mark.parametrize(("field", "source", "message"), [
    ("html_body", "<p>{% frobnicate %}</p>", "frobnicate"),
    ("subject", "Hi {{ client.first_name|shout }}", "shout"),
    ("text_body", "{% if client %}unclosed", "endif"),
    ("preheader", "{% load nosuchlib %}", "{% load %} is not allowed"),
])
def test_it_refuses_a_template_that_does_not_compile(db, field, source, message):
    template = EmailTemplate(name="broken", subject="s", html_body="<p>ok</p>")
    setattr(template, field, source)

    with pytest.raises(ValidationError) as error:
        template.full_clean()

    assert list(error.value.message_dict) == [field]
    assert message in error.value.message_dict[field][0]


def test_it_refuses_a_broken_template_in_the_admin(admin_client):
    response = admin_client.post("/admin/mailing/emailtemplate/add/", {
        "name": "broken", "subject": "Hi", "html_body": "{% frobnicate %}", "preheader": "", "text_body": "",
        "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0",
    })

    assert response.status_code == 200
    assert "Line 1: unknown tag {% frobnicate %}" in response.content.decode()
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


def order(client, *items, days_ago=3, status=Purchase.Status.COMPLETED):
    purchase = Purchase.objects.create(
        external_id=f"{client.external_id}-{Purchase.objects.count()}", client=client, amount=Decimal("1"),
        status=status, purchased_at=timezone.now() - dt.timedelta(days=days_ago))
    for sku, category in items:
        PurchaseItem.objects.create(purchase=purchase, sku=sku, name=f"Nice {sku}", category=category, quantity=1,
                                    price=Decimal("99.90"))
    return purchase


def test_it_inlines_css_into_style_attributes(make_client):
    client = make_client(first_name="Ann")
    template = EmailTemplate.objects.create(
        name="t", subject="s", preheader="Hi",
        html_body='<html><head><style>p.lead { color: #c00; font-size: 18px } a { color: green }'
                  '@media (max-width: 600px) { p.lead { font-size: 14px } }</style></head>'
                  '<body><p class="lead" style="margin: 0">Hello {{ client.first_name }}</p></body></html>')

    _, html, text = render_for(template, client)

    assert '<p class="lead" style="color: #c00;font-size: 18px;margin: 0">Hello Ann</p>' in html
    assert '<a href="https://x.test/u/t/" style="color: green;">Unsubscribe</a>' in html  # the added footer too
    assert "p.lead { color" not in html  # the rules that could be inlined are gone from <style> ...
    assert "@media (max-width: 600px)" in html  # ... media queries cannot be inlined and stay
    assert '<div style="display:none;max-height:0;overflow:hidden">Hi</div>' in html
    assert text.startswith("Hello Ann\n") and "color" not in text


def test_it_leaves_html_without_style_blocks_untouched_and_fetches_no_stylesheet():
    fragment = '<p>Hi &amp; bye</p><a href="https://shop.test/?a=1&amp;b=2">x</a>'
    assert inline_css(fragment) == fragment

    linked = ('<html><head><link rel="stylesheet" href="http://127.0.0.1:9/nowhere.css"><style>p{color:red}</style>'
              '</head><body><p>x</p></body></html>')
    inlined = inline_css(linked)  # a remote stylesheet would fail the inliner (nothing listens there)
    assert '<p style="color: red;">x</p>' in inlined and 'href="http://127.0.0.1:9/nowhere.css"' in inlined


def test_it_renders_favourite_category_days_since_last_order_and_recommendations(make_client):
    client, peer = make_client(first_name="Olga"), make_client()
    order(client, ("BOOK-1", "books"), days_ago=40)
    order(client, ("BOOK-2", "books"), ("TOY-1", "toys"), days_ago=12)
    order(client, ("PEN-1", "stationery"), days_ago=12, status=Purchase.Status.REFUNDED)
    order(peer, ("BOOK-1", "books"), ("LAMP-1", "home"), ("TOY-1", "toys"), ("PEN-1", "stationery"))
    template = EmailTemplate.objects.create(
        name="t", subject="{{ scores.favourite_category|title }} for you",
        html_body="<p>{{ scores.days_since_last_order }} days.</p>"
                  "{% for p in recommendations %}<i>{{ p.name }} ({{ p.category }}) {{ p.price }}</i>{% endfor %}")
    rebuild_segments(as_of=timezone.localdate())  # the night makes the lists and finds the favourite category

    subject, html, _ = render_for(template, client)

    assert subject == "Books for you"
    assert "<p>12 days.</p>" in html
    # What the peer bought with BOOK-1 and TOY-1, that Olga does not have (the refund does not count).
    assert "<i>Nice LAMP-1 (home) 99.90</i><i>Nice PEN-1 (stationery) 99.90</i>" in html
    assert "BOOK" not in html and "TOY" not in html


def test_it_renders_a_client_without_orders_or_scores_gracefully(make_client):
    buyer, newcomer = make_client(), make_client(first_name="", city="")
    order(buyer, ("MUG-1", "home"))
    template = EmailTemplate.objects.create(
        name="t", subject="{{ scores.favourite_category|default:'Our shop' }}",
        html_body="<p>[{{ client.city }}|{{ client.birth_date }}|{{ scores.days_since_last_order }}|"
                  "{{ scores.rfm_segment|default:'new' }}|{{ last_orders|length }}]</p>"
                  "{% for p in recommendations %}<i>{{ p.sku }}</i>{% empty %}<i>none</i>{% endfor %}")
    rebuild_segments(as_of=timezone.localdate())

    subject, html, _ = render_for(template, newcomer)

    assert subject == "Our shop"
    assert "<p>[|||new|0]</p>" in html  # no "None" anywhere
    assert "<i>MUG-1</i>" in html  # no history: the shop's popular products


def test_it_builds_contexts_with_the_same_queries_for_a_batch_of_any_size(make_client):
    clients = [make_client() for _ in range(12)]
    for n, client in enumerate(clients):
        order(client, (f"SKU-{n % 4}", "books"), (f"SKU-{(n + 1) % 4}", "toys"))
        order(client, (f"SKU-{n % 3 + 10}", "home"), days_ago=30)
    rebuild_segments(as_of=timezone.localdate())

    with CaptureQueriesContext(connection) as few:
        build_contexts(clients[:2])
    with CaptureQueriesContext(connection) as many:
        contexts = build_contexts(clients)

    assert len(many) == len(few)
    assert all(len(context["recommendations"]) == 3 for context in contexts.values())
    assert all(len(context["last_orders"]) == 2 for context in contexts.values())


LOOPY = """<html><head>{% if campaign.name %}<title>{{ campaign.name }}</title>{% endif %}
<style>p { color: red } {% if client.city %}h1 { color: blue }{% endif %}</style></head><body>
<div style="display: none">{% for o in last_orders %}{{ o.external_id }}{% endfor %}</div>
<h1>Hi {{ client.first_name|default:"friend" }} &amp; co</h1>
{% if last_orders %}<table>{% for o in last_orders %}<tr><td>{{ o.external_id }}</td><td>{{ o.amount }}</td></tr>
{% endfor %}</table>{% else %}<p>No orders yet.</p>{% endif %}
<ul>{% for p in recommendations %}<li><a href="https://shop.test/{{ p.sku|urlencode }}">{{ p.name }}</a></li>
{% empty %}<li>Nothing</li>{% endfor %}</ul>
<p>{{ client.city|upper }} &middot; <a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>"""


LOOPY_CONTEXTS = [
    {"client": {"first_name": "<Ann & Bob>", "city": "Kazan"}, "campaign": {"name": "Spring"},
     "last_orders": [{"external_id": "o1", "amount": Decimal("10.50")}, {"external_id": "o2", "amount": 3}],
     "recommendations": [{"sku": "a b", "name": "Mug <XL>"}, {"sku": "c", "name": "Pen"}],
     "unsubscribe_url": "https://x.test/u/a:b/?q=1&r=2"},
    {"client": {}, "campaign": {}, "last_orders": [], "recommendations": [], "unsubscribe_url": ""},
    {"client": {"first_name": "Ann \t Lee &amp; co", "city": "a  &copy; b"}, "campaign": {"name": "<i>"},
     "last_orders": [], "recommendations": [{"sku": "&", "name": "\"Quoted\" 'name'"}], "unsubscribe_url": "&<>"},
]


@pytest.mark.parametrize("context", LOOPY_CONTEXTS)
def test_it_derives_the_text_template_once_with_the_same_text_as_converting_each_message(context):
    derived = text_template_from_html(LOOPY)

    assert derived is not None
    expected = html_to_text(compile_template(LOOPY).render(Context(context)))
    assert _render_derived_text(derived, context) == expected


@pytest.mark.parametrize("context", LOOPY_CONTEXTS)
def test_it_renders_the_html_and_its_derived_text_in_one_pass(context):
    pair = pair_template_from_html(LOOPY)

    assert pair is not None
    assert split_pair(pair.render(Context(context))) == (
        compile_template(LOOPY).render(Context(context)),
        _render_derived_text(text_template_from_html(LOOPY), context))


def test_it_renders_the_two_bodies_apart_when_a_value_carries_one_of_the_marks():
    context = {**LOOPY_CONTEXTS[1], "client": {"first_name": "Ann\x02"}}
    version = SimpleNamespace(subject="Hi", preheader="", html_body=LOOPY, text_body="")

    subject, html, text = render_message(version, context)

    assert split_pair(pair_template_from_html(LOOPY).render(Context(context))) is None
    assert "Hi Ann\x02 &amp; co" in html
    assert text.startswith("Hi Ann\x02 & co\n")


@pytest.mark.parametrize("source", [
    "{% spaceless %}<p> {{ x }} </p>{% endspaceless %}", "<p>{% filter upper %}{{ x }}{% endfilter %}</p>",
    '<p>{{ x|default:"Tom &amp; Jerry" }}</p>', '<a href="{% if x %}/a{% else %}/b{% endif %}">x</a>',
    "<p>{{ x|default:'<b>' }}</p>",
])
def test_it_renders_the_two_bodies_apart_for_a_template_it_cannot_mark(source):
    assert text_template_from_html(source) is not None
    assert pair_template_from_html(source) is None


@pytest.mark.parametrize("source", [
    "<p>{{ note|linebreaks }}</p>", "<p>{{ html|safe }}</p>", "{% autoescape off %}{{ x }}{% endautoescape %}",
    '{% load static %}<img src="{% static "x.png" %}">',
])
def test_it_converts_each_message_when_the_html_template_makes_markup(source):
    assert text_template_from_html(source) is None


def test_it_generates_text_from_values_that_are_markup(make_client):
    client = make_client(first_name="Ann")
    template = EmailTemplate.objects.create(name="t", subject="s",
                                            html_body="<div>{{ client.first_name|linebreaks }}</div><p>Bye</p>")

    _, _, text = render_for(template, client)

    assert text.startswith("Ann\n\nBye\n")  # from the rendered HTML: the <p> linebreaks made is a paragraph
