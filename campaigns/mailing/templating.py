"""Compile, validate and render email templates; build the personalization context in bulk.

Templates are Django templates run by the project's engine (so `humanize` and the built-in tags
work). A missing value renders as an empty string: `{{ client.first_name|default:"friend" }}`.
"""

import html
import re
from html.parser import HTMLParser

from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.template import Context, Engine, TemplateSyntaxError

from crm.models import Purchase
from segments.models import ClientScore

FIELDS = ("subject", "preheader", "html_body", "text_body")
LAST_ORDERS = 3
CLIENT_FIELDS = ("first_name", "last_name", "city", "country", "email", "external_id", "gender", "birth_date")
SCORE_FIELDS = ("rfm_segment", "churn_band", "churn_risk", "predicted_clv", "recency_days", "frequency", "monetary",
                "avg_order_value", "engagement_band")


def compile_template(source):
    return Engine.get_default().from_string(source)


def template_errors(content):
    """{field: message} for each part of a template that does not compile (unknown tag or filter, bad syntax)."""
    errors = {}
    for field in FIELDS:
        try:
            compile_template(content.get(field) or "")
        except TemplateSyntaxError as exc:
            errors[field] = f"Template error: {exc}"
    return errors


def render_message(version, context):
    """(subject, html, text) of a template version for one recipient's context.

    Every message gets the unsubscribe link: a footer is added when the template does not show it.
    """
    subject = " ".join(_render(version.subject, context, autoescape=False).split())
    body = _render(version.html_body, context, autoescape=True)
    unsubscribe_url = context.get("unsubscribe_url", "")
    if unsubscribe_url and html.escape(unsubscribe_url) not in body and unsubscribe_url not in body:
        body += (f'\n<p style="font-size:12px;color:#888">'
                 f'<a href="{html.escape(unsubscribe_url)}">Unsubscribe</a></p>')
    if version.preheader:
        preheader = html.escape(_render(version.preheader, context, autoescape=False))
        hidden = f'<div style="display:none;max-height:0;overflow:hidden">{preheader}</div>'
        body = _insert_after_body_tag(body, hidden)
    # An empty text body is generated from the HTML as rendered for this recipient.
    text = _render(version.text_body, context, autoescape=False) if version.text_body.strip() else html_to_text(body)
    if unsubscribe_url and unsubscribe_url not in text:
        text = f"{text.rstrip()}\n\nUnsubscribe: {unsubscribe_url}\n"
    return subject, body, text


def _render(source, context, autoescape):
    return compile_template(source).render(Context(context, autoescape=autoescape))


def _insert_after_body_tag(body, snippet):
    match = re.search(r"<body[^>]*>", body, flags=re.IGNORECASE)
    if not match:
        return snippet + body
    return body[: match.end()] + snippet + body[match.end():]


class _TextExtractor(HTMLParser):
    BLOCKS = {"p", "div", "br", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "li", "table", "ul", "ol"}
    SKIP = {"style", "script", "head", "title"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.skipping, self.hidden, self.href = [], 0, 0, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in self.SKIP:
            self.skipping += 1
        if "display:none" in (attrs.get("style") or "").replace(" ", ""):
            self.hidden += 1
        if tag in self.BLOCKS:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")
        if tag == "a":
            self.href = attrs.get("href")

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1
        if tag == "div" and self.hidden:
            self.hidden -= 1
        if tag == "a" and self.href:
            self.parts.append(f" ({self.href})")
            self.href = None
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skipping and not self.hidden:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(body):
    """A readable plain-text alternative: paragraphs kept, links written out, hidden preheader left out."""
    parser = _TextExtractor()
    parser.feed(body)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text + "\n"


def build_contexts(clients):
    """{client_id: context} for many clients in three queries (scores, last orders with items).
    The sender adds `campaign` and `unsubscribe_url`, which differ per message."""
    ids = [client.pk for client in clients]
    scores = {
        row["client_id"]: row for row in ClientScore.objects.current().filter(client_id__in=ids)
        .values("client_id", *SCORE_FIELDS)
    }
    orders = {}
    recent = (
        Purchase.objects.filter(client_id__in=ids, status=Purchase.Status.COMPLETED)
        .annotate(rank=Window(RowNumber(), partition_by=[F("client_id")], order_by=F("purchased_at").desc()))
        .filter(rank__lte=LAST_ORDERS)
        .prefetch_related("items")
        .order_by("client_id", "-purchased_at")
    )
    for purchase in recent:
        orders.setdefault(purchase.client_id, []).append({
            "external_id": purchase.external_id,
            "purchased_at": purchase.purchased_at,
            "amount": purchase.amount,
            "currency": purchase.currency,
            "items": [{"sku": item.sku, "name": item.name, "category": item.category, "quantity": item.quantity,
                       "price": item.price} for item in purchase.items.all()],
        })
    return {
        client.pk: {
            "client": {field: getattr(client, field) for field in CLIENT_FIELDS},
            "scores": {key: value for key, value in scores.get(client.pk, {}).items() if key != "client_id"},
            "last_orders": orders.get(client.pk, []),
        }
        for client in clients
    }
