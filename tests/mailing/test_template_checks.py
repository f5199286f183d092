"""What a marketer's template editor promises: one list of variables (the panel, the check on save
and the docs follow it), unknown names refused with the closest one, a sandboxed engine that cannot
include, extend or load anything, the same engine when sending."""

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.template import Context

from crm.models import Purchase, PurchaseItem
from demo.campaigns import TEMPLATES
from loyalty.context import _context as loyalty_context
from mailing import tasks, variables
from mailing.launch import launch_campaign
from mailing.models import Campaign, CampaignVariant, Delivery, EmailTemplate
from mailing.sandbox import ENGINE, FILTERS, HUMANIZE_FILTERS, REFUSED, TAGS
from mailing.templating import build_contexts, compile_template, sample_client, template_errors
from recommendations.nightly import run_stage as recommend_tonight
from segments.models import ClientScore, ScoringRun

DOCS = Path(__file__).resolve().parents[2] / "docs" / "campaigns.md"



def refusal(**content):
    template = EmailTemplate(name="t", subject="Hi", html_body="<p>ok</p>")
    for field, source in content.items():
        setattr(template, field, source)
    with pytest.raises(ValidationError) as error:
        template.full_clean()
    return error.value.message_dict


@pytest.fixture
def full_client(make_client):
    """A client with everything a context can hold: scores, an order with a line, something to recommend."""
    client = make_client(first_name="Olga", city="Kazan", country="RU", gender="f", birth_date=dt.date(1990, 1, 2))
    run = ScoringRun.objects.create(as_of=dt.date(2026, 1, 31), status=ScoringRun.Status.SUCCEEDED,
                                    finished_at=dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
    ClientScore.objects.create(run=run, client=client, rfm_segment="champions", churn_band="low", churn_risk=0.1,
                               predicted_clv=Decimal("5"), recency_days=4, frequency=1, monetary=Decimal("5"),
                               avg_order_value=Decimal("5"), engagement_band="high")
    order = Purchase.objects.create(external_id="o1", client=client, amount=Decimal("5"),
                                    purchased_at=dt.datetime(2026, 1, 30, tzinfo=dt.UTC))
    PurchaseItem.objects.create(purchase=order, sku="B1", name="Book", category="books", quantity=1, price=5)
    other = make_client()
    bought = Purchase.objects.create(external_id="o2", client=other, amount=Decimal("3"),
                                     purchased_at=dt.datetime(2026, 1, 29, tzinfo=dt.UTC))
    PurchaseItem.objects.create(purchase=bought, sku="B1", name="Book", category="books", quantity=1, price=5)
    PurchaseItem.objects.create(purchase=bought, sku="P1", name="Pen", category="office", quantity=1, price=3)
    run.metrics = {"recommendations": recommend_tonight(run.as_of)}  # the night's lists, as the night keeps them
    run.save()
    return client


def test_the_context_holds_only_names_the_variable_list_declares(full_client):
    context = build_contexts([full_client], today=dt.date(2026, 2, 1))[full_client.pk]
    loyalty = loyalty_context([("L", None, 100, 0, 0, None, None), ("E", dt.date(2026, 2, 10), 50, 0, 0, None, None),
                               ("T", None, 0, 0, 0, "gold", "Gold"), ("S", None, 4, 0, 0, None, None)])
    declared = {entry.name: {var.name for var in getattr(entry, "fields", ())} for entry in variables.CONTEXT}
    items = {var.name for var in variables.ITEM_FIELDS}

    assert set(context) | {"campaign", "unsubscribe_url"} == set(declared)
    assert set(context["client"]) == declared["client"] - {"external_id"} | {"external_id"}
    assert set(context["scores"]) <= declared["scores"] and "favourite_category" in context["scores"]
    assert set(context["last_orders"][0]) == declared["last_orders"]
    assert set(context["last_orders"][0]["items"][0]) == items
    assert context["recommendations"] and set(context["recommendations"][0]) == declared["recommendations"]
    assert set(loyalty) == declared["loyalty"]


def test_the_panel_offers_every_variable_with_a_description(db):
    inserts = {insert: (name, what) for _, rows in variables.panel() for insert, name, what in rows}

    for expected in ("{{ client.first_name }}", "{{ scores.churn_risk }}", "{{ loyalty.points }}",
                     "{{ campaign.name }}", "{{ unsubscribe_url }}", "{{ order.amount }}", "{{ item.sku }}",
                     "{{ product.name }}", "{% for order in last_orders %}{{ order.external_id }} {% endfor %}",
                     "{% for item in order.items %}{{ item.sku }} {% endfor %}"):
        assert expected in inserts, expected
    assert all(what for _, what in inserts.values())
    # Whatever the panel inserts, the check on save accepts: they cannot disagree.
    body = "".join(f"{{% for order in last_orders %}}{{% for item in order.items %}}"
                   f"{{% for product in recommendations %}}{insert}{{% endfor %}}{{% endfor %}}{{% endfor %}}"
                   for insert in inserts)
    assert template_errors({"subject": "Hi", "html_body": body}) == {}


@pytest.mark.parametrize(("field", "source", "message"), [
    ("subject", "Hi {{ clinet.first_name }}", "Line 1: clinet.first_name: no variable 'clinet'; did you mean 'client'?"),
    ("html_body", "<p>\n{{ client.frist_name }}</p>",
     "Line 2: client.frist_name: 'client' has no 'frist_name'; did you mean 'first_name'?"),
    ("html_body", "{% for o in last_orders %}\n\n{{ o.amuont }}{% endfor %}",
     "Line 3: o.amuont: 'o' has no 'amuont'; did you mean 'amount'?"),
    ("html_body", "{% if scores.churn_rsk > 0.5 %}Come back{% endif %}",  # an operator swallows any error in Django
     "scores.churn_rsk: 'scores' has no 'churn_rsk'; did you mean 'churn_risk'?"),
    ("text_body", "{{ last_orders.first }}", "'last_orders' is a list"),
    ("preheader", "{{ loyalty.xyz }}", "'loyalty' has no 'xyz'; it has: expiring_on, expiring_points, points"),
])
def test_it_refuses_an_unknown_variable_or_attribute_naming_the_closest(db, field, source, message):
    errors = refusal(**{field: source})

    assert list(errors) == [field]
    assert message in errors[field][0]


def test_it_names_every_unknown_name_at_once(db):
    errors = refusal(html_body="{{ clinet.city }}\n{{ client.frist_name }}")

    assert [m.split(":")[0] for m in errors["html_body"]] == ["Line 1", "Line 2"]


def test_a_declared_value_a_client_lacks_is_fine_and_renders_empty(db, make_client):
    make_client(first_name="")  # the shop's sample client: no city, no scores
    template = EmailTemplate(name="t", subject="Hi {{ client.city }}", html_body="{{ loyalty.tier|default:'-' }}")

    template.full_clean()


@pytest.mark.parametrize(("source", "message"), [
    ("{% frobnicate %}", "Line 1: unknown tag {% frobnicate %}."),
    ("{% fro x in last_orders %}{% endfor %}", "Did you mean {% for %}?"),
    ("<p>\n{{ client.first_name|uper }}</p>", "Line 2: unknown filter |uper. Did you mean |upper?"),
    ("{% if client %}\nunclosed", "endif"),
])
def test_syntax_errors_name_the_line(db, source, message):
    assert message in refusal(html_body=source)["html_body"][0]


@pytest.mark.parametrize("source", [
    "{% include 'admin/base.html' %}", "{% extends 'admin/base.html' %}", "{% load i18n %}",
    "{% load static %}<img src=\"{% static 'x.png' %}\">", "{% ssi '/etc/passwd' %}", "{% debug %}",
    "{% url 'admin:index' %}", "{% csrf_token %}", "{% block content %}{% endblock %}",
])
def test_it_refuses_tags_that_reach_other_templates_or_the_project(db, source):
    message = refusal(html_body="<p>\n" + source)["html_body"][0]

    tag = re.search(r"{% (\w+)", source)[1]
    assert message.startswith(f"Line 2: {{% {tag} %}} is not allowed in email templates")


def test_the_engine_reaches_no_template_of_the_project():
    assert ENGINE.template_loaders[0].get_template_sources("admin/base.html") is not None
    with pytest.raises(Exception, match="admin/base.html"):
        ENGINE.get_template("admin/base.html")
    assert set(ENGINE.template_builtins[0].tags) == set(TAGS) | set(REFUSED)
    assert "pprint" not in ENGINE.template_builtins[0].filters


def test_humanize_and_money_are_built_in_and_their_old_load_tags_still_work(db):
    template = compile_template("{% load humanize money %}{{ n|intcomma }} {{ a|money }}")

    assert template.engine is ENGINE
    rendered = template.render(Context({"n": 12345, "a": Decimal("3")}))
    assert rendered.startswith("12,345 ") and rendered.endswith("3.00")


def test_sending_renders_with_the_same_sandboxed_engine(make_client, make_campaign, segment, mailoutbox):
    make_client([segment])
    # Saved without the form's check (as a template saved before it existed): sending still refuses it.
    template = EmailTemplate.objects.create(name="old", subject="Hi",
                                            html_body="<p>x</p>{% include 'admin/base.html' %}")
    campaign = make_campaign(slug="old")
    Campaign.objects.filter(pk=campaign.pk).update(template=template)
    launch_campaign(Campaign.objects.get(pk=campaign.pk))

    tasks.send_delivery_batch.delay(list(Delivery.objects.values_list("pk", flat=True)))

    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.reason) == (Delivery.State.FAILED, Delivery.Reason.RENDER_ERROR)
    assert "{% include %} is not allowed" in delivery.error
    assert mailoutbox == []


def test_the_demo_templates_and_subjects_pass_against_a_real_client_too(full_client):
    assert sample_client() == full_client
    for content in TEMPLATES.values():
        assert template_errors(content) == {}
    for subject in ('We miss you, {{ client.first_name|default:"friend" }}',
                    '{{ client.first_name|default:"Hi" }}, 15% off to come back'):
        assert template_errors({"subject": subject}) == {}


def test_a_variant_subject_is_checked_like_a_template_subject(make_campaign):
    variant = CampaignVariant(campaign=make_campaign(), name="A", weight=50, subject="{{ clinet.first_name }}")

    with pytest.raises(ValidationError) as error:
        variant.full_clean()

    assert "did you mean 'client'?" in error.value.message_dict["subject"][0]


def test_the_docs_list_every_variable_tag_and_filter():
    docs = DOCS.read_text()
    section = docs[docs.index("## Templates"):docs.index("## Campaigns")]

    for path in variables.all_paths():
        assert f"`{path.rsplit('.', 1)[-1]}`" in section, path
    for name in TAGS + REFUSED + FILTERS + HUMANIZE_FILTERS + ("money",):
        assert f"`{name}`" in section, name


def test_the_change_page_shows_the_panel_and_refuses_a_misspelt_name(admin_client, template):
    page = admin_client.get(f"/admin/mailing/emailtemplate/{template.pk}/change/").content.decode()

    assert 'data-insert="{{ client.first_name }}"' in page and "first name" in page
    assert 'id="variable-panel"' in page and "mailing/template_editor.js" in page

    response = admin_client.post(f"/admin/mailing/emailtemplate/{template.pk}/change/", {
        "name": "Hello", "subject": "Hi {{ clinet.first_name }}", "html_body": "<p>x</p>", "preheader": "",
        "text_body": "", "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0"})

    assert response.status_code == 200
    assert "clinet.first_name: no variable &#x27;clinet&#x27;; did you mean &#x27;client&#x27;?" in \
        response.content.decode()
