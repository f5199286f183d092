"""Compile, validate and render email templates; build the personalization context in bulk.

Templates are Django templates run by the sandboxed engine of `sandbox` (its own tags and filters,
nothing to include or load), the same one when saving, previewing and sending. What the context holds
is listed once, in `variables`; saving renders a template against a sample client with every name
checked (`template_errors`). A missing value renders as an empty string:
`{{ client.first_name|default:"friend" }}`.
CSS from <style> blocks is inlined into style="" attributes after rendering, because many email
clients (Gmail apps, Outlook) drop or ignore <style>; @media rules cannot be inlined and stay in a
<style> block for the clients that honour them.
"""

import difflib
import functools
import html
import logging
import re
from html.parser import HTMLParser
from types import SimpleNamespace

import css_inline
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.template import Context, TemplateSyntaxError
from django.utils import timezone
from django.utils.translation import gettext

from crm.models import Client, Purchase, PurchaseItem
from loyalty.context import loyalty_contexts
from loyalty.models import PointsEntry
from recommendations.reading import for_clients as recommendations_for
from segments.models import ClientScore, ScoringRun
from segments.reasons import DESCRIBED_BY, describe

from . import fastrender, variables
from .sandbox import ENGINE, FILTERS, HUMANIZE_FILTERS, TAGS

log = logging.getLogger(__name__)

FIELDS = ("subject", "preheader", "html_body", "text_body")
LAST_ORDERS = 3
CLIENT_FIELDS = variables.model_fields("client")
SCORE_FIELDS = variables.model_fields("scores")
# What the drivers' words (churn_why, value_why) are made of: segments/reasons.py, describe.
WHY_FIELDS = tuple(name for name in ("churn_reasons", "value_reasons", *DESCRIBED_BY) if name not in SCORE_FIELDS)


# No remote stylesheets: fetching URLs named in a template would be a request per message to
# anywhere; <link> tags are left as they are. Inlined once per message, after rendering, since what
# the CSS applies to depends on the rendered markup.
INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False, keep_link_tags=True)
_STYLE_TAG = re.compile(r"<style[\s>]", re.IGNORECASE)


@functools.lru_cache(maxsize=256)
def compile_template(source):
    """The compiled template for a source text. Kept: a batch renders the same few sources hundreds of
    times, and compiling costs more than rendering. A compiled Django template is safe to share."""
    return ENGINE.from_string(source)


def template_errors(content, contexts=None):
    """{field: [messages]} for each part of a template that does not compile (unknown tag or filter, bad
    syntax, a refused tag: with its line), or that names a variable or attribute the context does not
    have, rendered against `contexts` (default: `sample_contexts()`), with the closest name."""
    errors = {}
    for field in FIELDS:
        source = content.get(field) or ""
        try:
            template = compile_template(source)
        except TemplateSyntaxError as exc:
            errors[field] = [syntax_message(exc)]
            continue
        if contexts is None:
            contexts = sample_contexts()  # read once for the fields, only when one compiles
        found = []
        for context in contexts:
            found += [message for message in render_problems(template, source, context) if message not in found]
        if found:
            errors[field] = found
    return errors


def _line(exc):
    debug = getattr(exc, "template_debug", None)
    return debug["line"] if debug else None


def _with_line(line, message):
    return gettext("Line %(line)s: %(error)s") % {"line": line, "error": message} if line else message


def syntax_message(exc):
    """The compile error in plain words, with its line, the closest allowed tag or filter where one was unknown."""
    text = str(exc)
    tag = re.match(r"Invalid block tag on line \d+: '([^']+)'", text)
    filter_ = re.match(r"Invalid filter: '([^']+)'", text)
    if tag:
        message = gettext("unknown tag {%% %(name)s %%}.") % {"name": tag[1]}
        closest = difflib.get_close_matches(tag[1], TAGS, n=1)
        text = message + (" " + gettext("Did you mean {%% %(name)s %%}?") % {"name": closest[0]} if closest else "")
    elif filter_:
        message = gettext("unknown filter |%(name)s.") % {"name": filter_[1]}
        closest = difflib.get_close_matches(filter_[1], FILTERS + HUMANIZE_FILTERS + ("money",), n=1)
        text = message + (" " + gettext("Did you mean |%(name)s?") % {"name": closest[0]} if closest else "")
    return _with_line(_line(exc), text)


class _StrictContext(Context):
    """A context that reports a top-level name it does not have (Django renders it as "")."""

    def __init__(self, values, problems, autoescape):
        super().__init__(values, autoescape=autoescape)
        self.problems = problems

    def __getitem__(self, key):
        try:
            return super().__getitem__(key)
        except KeyError:
            known = {name for values in self.dicts for name in values if name not in ("True", "False", "None")}
            problem = variables.UnknownName("", key, known)
            problem.top = True
            self.problems.append(problem)
            raise


def render_problems(template, source, context):
    """What is wrong when `template` is rendered with `context`: unknown names first (Django would
    render them as empty text, and a few tags swallow any error), else an error of the render itself."""
    problems = []
    try:
        template.render(_StrictContext(variables.strict_context(context, problems), problems, autoescape=True))
        error = None
    except Exception as exc:  # a filter failing on the sample's values fails when sending too
        error = _with_line(_line(exc), f"{type(exc).__name__}: {exc}")
    messages = []
    for problem in problems:
        message = _unknown_message(problem, source)
        if message not in messages:
            messages.append(message)
    return messages or ([error] if error else [])


def _unknown_message(problem, source):
    name = re.escape(problem.name)
    closest = problem.closest()
    if getattr(problem, "top", False):
        found = re.search(rf"(?<![\w.'\"]){name}(?:\.\w+)*", source)
        expression = found[0] if found else problem.name
        text = gettext("%(expression)s: no variable '%(name)s'") % {"expression": expression, "name": problem.name}
    else:
        found = re.search(rf"(?<![\w.'\"])([A-Za-z_]\w*(?:\.\w+)*?)\.{name}(?!\w)", source)
        owner = found[1] if found else "?"
        expression = f"{owner}.{problem.name}"
        if getattr(problem, "is_list", False):
            text = gettext("%(expression)s: '%(owner)s' is a list: loop over it with {%% for %%}, or take one "
                           "by its number, e.g. %(owner)s.0") % {"expression": expression, "owner": owner}
            closest = None
        else:
            text = gettext("%(expression)s: '%(owner)s' has no '%(name)s'") % {
                "expression": expression, "owner": owner, "name": problem.name}
    if closest:
        text += "; " + gettext("did you mean '%(name)s'?") % {"name": closest}
    elif problem.known:
        text += "; " + gettext("it has: %(names)s") % {"names": ", ".join(problem.known)}
    line = source.count("\n", 0, found.start()) + 1 if found else None
    return _with_line(line, text)


def sample_contexts():
    """The contexts a template is checked against on save: the built-in sample (every value set, every
    list two items long) and, when the shop has one, a real client with scores, orders and loyalty."""
    contexts = [variables.sample_context()]
    client = sample_client()
    if client is not None:
        contexts.append({**build_contexts([client])[client.pk], "campaign": contexts[0]["campaign"],
                         "unsubscribe_url": contexts[0]["unsubscribe_url"]})
    return contexts


def sample_client():
    """A client with as much to show as the shop has: current scores, completed orders, loyalty points."""
    clients = Client.objects.filter(erased_at__isnull=True).order_by("pk")
    scored = clients.filter(pk__in=ClientScore.objects.current().values("client_id"))
    bought = Purchase.objects.filter(status=Purchase.Status.COMPLETED)
    for candidates in (scored.filter(pk__in=bought.values("client_id")).filter(
                           pk__in=PointsEntry.objects.values("client_id")),
                       scored.filter(pk__in=bought.values("client_id")), scored, clients.filter(
                           pk__in=bought.values("client_id"))):
        client = candidates.first()
        if client is not None:
            return client
    return None


def render_message(version, context):
    """(subject, html, text) of a template version for one recipient's context.

    Every message gets the unsubscribe link: a footer is added when the template does not show it.
    """
    subject = " ".join(_render(version.subject, context, autoescape=False).split())
    text = _render(version.text_body, context, autoescape=False) if version.text_body.strip() else None
    body = None
    if text is None and (pair := pair_template_from_html(version.html_body)):
        # An empty text body comes with the HTML from one render (see `pair_template_from_html`).
        body, text = split_pair(fastrender.render(pair, context, autoescape=True)) or (None, None)
    if body is None:
        body = _render(version.html_body, context, autoescape=True)
    unsubscribe_url = context.get("unsubscribe_url", "")
    if unsubscribe_url and html.escape(unsubscribe_url) not in body and unsubscribe_url not in body:
        body += (f'\n<p style="font-size:12px;color:#888">'
                 f'<a href="{html.escape(unsubscribe_url)}">Unsubscribe</a></p>')
    if version.preheader:
        preheader = html.escape(_render(version.preheader, context, autoescape=False))
        hidden = f'<div style="display:none;max-height:0;overflow:hidden">{preheader}</div>'
        body = _insert_after_body_tag(body, hidden)
    if text is None:
        # An empty text body is generated from the HTML: from a text template derived once from the
        # HTML template where possible (rendering it costs what rendering the HTML does), else by
        # converting this recipient's rendered HTML (about the same cost).
        derived = text_template_from_html(version.html_body)
        text = _render_derived_text(derived, context) if derived else html_to_text(body)
    body = inline_css(body)
    if unsubscribe_url and unsubscribe_url not in text:
        text = f"{text.rstrip()}\n\nUnsubscribe: {unsubscribe_url}\n"
    return subject, body, text


def inline_css(body):
    """The HTML with the rules of its <style> blocks written into each element's style attribute."""
    if not _STYLE_TAG.search(body):
        return body  # nothing to inline: keep the markup exactly as rendered
    try:
        return INLINER.inline(body)
    except Exception:  # an inliner failure must not stop a send: mail clients that read <style> still do
        log.exception("CSS inlining failed; sending the HTML with its <style> blocks")
        return body


def _render(source, context, autoescape):
    # Sending renders each template once per recipient: fastrender gives Django's output in less time.
    return fastrender.render(compile_template(source), context, autoescape)


def _insert_after_body_tag(body, snippet):
    match = re.search(r"<body[^>]*>", body, flags=re.IGNORECASE)
    if not match:
        return snippet + body
    return body[: match.end()] + snippet + body[match.end():]


class _TextExtractor(HTMLParser):
    """Text of an HTML document; with `keep_template_tags`, of an HTML *template*: the text keeps the
    template's {{ variables }} and {% tags %}, and a left-out part (style, head, a hidden block) keeps
    its {% tags %} so that blocks opened there still close."""

    BLOCKS = {"p", "div", "br", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "li", "table", "ul", "ol"}
    SKIP = {"style", "script", "head", "title"}

    def __init__(self, keep_template_tags=False):
        super().__init__(convert_charrefs=True)
        self.parts, self.skipping, self.hidden, self.href = [], 0, 0, None
        self.keep_template_tags = keep_template_tags

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
            if self.keep_template_tags and "{" in self.href:
                # The link is only known once rendered and may be empty then: marked, so that
                # `_render_derived_text` can drop an empty "()" as html_to_text leaves out an empty href.
                self.parts.append(f" {_LINK}({self.href}){_LINK}")
            else:
                self.parts.append(f" ({self.href})")
            self.href = None
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skipping and not self.hidden:
            self.parts.append(re.sub(r"\s+", " ", data))
        elif self.keep_template_tags:
            self.parts.extend(_BLOCK_TAG.findall(data))


_BLOCK_TAG = re.compile(r"{%.*?%}", re.DOTALL)
_LINK = "\x1e"  # a control character no template text or value has in practice
# Filters and tags whose output is markup in the HTML (or is unknown here): a text template derived
# from such an HTML template would carry raw markup, so those templates convert each rendered message.
_MARKUP_MAKERS = re.compile(
    r"\|\s*(?:safe|safeseq|escape|force_escape|linebreaks|linebreaksbr|urlize|urlizetrunc|unordered_list|json_script)\b"
    r"|{%\s*(?:autoescape|include|extends|load(?!\s+humanize\s*%}))")


def html_to_text(body):
    """A readable plain-text alternative: paragraphs kept, links written out, hidden preheader left out."""
    parser = _TextExtractor()
    parser.feed(body)
    parser.close()
    return tidy_text("".join(parser.parts))


def tidy_text(text):
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def _render_derived_text(template, context):
    text = fastrender.render(template, context, autoescape=False)
    return tidy_text(text.replace(f"{_LINK}(){_LINK}", "").replace(_LINK, ""))


@functools.lru_cache(maxsize=256)
def text_template_from_html(source):
    """A text template made from an HTML template (what `html_to_text` does, done once to the source):
    rendered with a recipient's context and tidied, it gives the text of that recipient's HTML.
    None when the HTML template makes markup from values or its text does not compile."""
    if _MARKUP_MAKERS.search(source):
        return None
    parser = _TextExtractor(keep_template_tags=True)
    parser.feed(source)
    parser.close()
    try:
        return compile_template("".join(parser.parts))
    except TemplateSyntaxError:
        return None


# Both bodies from one render. Rendering the derived text template costs what rendering the HTML does
# (the same loops, lookups and filters, run twice per message). So the HTML template is compiled once
# more as a "pair" template: its own source with each piece only the HTML shows (markup, skipped
# parts) between _HTML_ONLY marks, and what the text template has in its place (paragraph breaks,
# written-out links, literal text with its spaces collapsed) between _TEXT_ONLY marks; the values and
# tags of the visible text are there once, unmarked. One autoescaped render then gives both: without
# the text-only pieces it is exactly the HTML the template renders, and without the HTML-only ones,
# unescaped (an escaped value unescapes to itself), the derived text.
_HTML_ONLY, _TEXT_ONLY = ("\x01", "\x02"), ("\x03", "\x04")  # control characters, like _LINK
_HTML_PIECE, _TEXT_PIECE = re.compile("\x01[^\x02]*\x02"), re.compile("\x03[^\x04]*\x04")
_TOKEN = re.compile(r"({%.*?%}|{{.*?}}|{#.*?#})")  # what Django's lexer takes as a tag or variable
# The built-in tags that open, divide or close a block: kept unmarked so that a mark never spans one.
_STRUCTURE = {"if", "elif", "else", "endif", "for", "empty", "endfor", "with", "endwith", "block", "endblock",
              "comment", "endcomment"}
# Tags that re-process their content as a whole (it would carry the marks) or keep state between renders.
_NOT_PAIRED = re.compile(r"{%\s*(?:spaceless|filter|ifchanged|cycle|resetcycle|verbatim)\b|[\x01-\x04]")


class _SourcePieces(_TextExtractor):
    """The text extractor (template mode) noting where each piece of the source starts: (offset, kind,
    index of its first text part); kind "tag" (its text: a paragraph break, a link), "text" (visible
    text), "hidden" (text left out) or "other" (a comment, a declaration)."""

    def __init__(self, source):
        super().__init__(keep_template_tags=True)
        self.line_starts = [0] + [match.end() for match in re.finditer("\n", source)]
        self.pieces = [(0, "other", 0)]

    def _note(self, kind):
        line, column = self.getpos()
        self.pieces.append((self.line_starts[line - 1] + column, kind, len(self.parts)))

    def handle_starttag(self, tag, attrs):
        self._note("tag")
        super().handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        self._note("tag")
        super().handle_endtag(tag)

    def handle_data(self, data):
        self._note("hidden" if self.skipping or self.hidden else "text")
        super().handle_data(data)

    def handle_comment(self, data):
        self._note("other")

    handle_decl = handle_pi = unknown_decl = handle_comment


@functools.lru_cache(maxsize=256)
def pair_template_from_html(source):
    """The pair template of an HTML template (above), or None where the text is not derived from a text
    template, or the template has a tag the marks cannot go around."""
    # The text template has its tags' character references decoded and spaces collapsed: none to differ here.
    if (text_template_from_html(source) is None or _NOT_PAIRED.search(source)
            or re.search(r"&|\s\s|[^\S ]", "".join(_TOKEN.findall(source)))):
        return None
    parser = _SourcePieces(source)
    parser.feed(source)
    parser.close()
    out = []
    ends = [(start, first) for start, _, first in parser.pieces[1:]] + [(len(source), len(parser.parts))]
    for (start, kind, first), (end, last) in zip(parser.pieces, ends):
        for piece in _TOKEN.split(source[start:end]):
            if _TOKEN.fullmatch(piece):  # a value or tag of the visible text, or a tag the text template keeps
                both = kind == "text" or _is_structure(piece) or kind == "hidden" and piece.startswith("{%")
                out.append(piece if both else _marked(_HTML_ONLY, piece))
            elif kind != "text":
                out.append(_marked(_HTML_ONLY, piece))
            else:  # visible literal text: the text body has it decoded, its spaces collapsed (re-escaped here)
                text = html.escape(re.sub(r"\s+", " ", html.unescape(piece)))
                out.append(piece if text == piece else _marked(_HTML_ONLY, piece) + _marked(_TEXT_ONLY, text))
        if kind == "tag":
            for piece in _TOKEN.split("".join(parser.parts[first:last])):
                token = _TOKEN.fullmatch(piece)
                if token and _is_structure(piece):
                    return None  # a block in a link's address, repeated by the text: a mark cannot go around it
                out.append(_marked(_TEXT_ONLY, piece if token else html.escape(piece)))
    paired = "".join(out).replace(_HTML_ONLY[1] + _HTML_ONLY[0], "").replace(_TEXT_ONLY[1] + _TEXT_ONLY[0], "")
    if (_TEXT_PIECE.sub("", paired).replace(_HTML_ONLY[0], "").replace(_HTML_ONLY[1], "") != source
            or re.search("[\x01-\x04]", "".join(_TOKEN.findall(paired)))):
        return None  # the parser cut a tag or a value in two (markup inside it): no marks in there
    try:
        return compile_template(paired)
    except TemplateSyntaxError:
        return None


def _marked(marks, piece):
    return f"{marks[0]}{piece}{marks[1]}" if piece else ""


def _is_structure(token):
    words = token[2:-2].split()
    return token.startswith("{#") or (token.startswith("{%") and bool(words) and words[0] in _STRUCTURE)


def split_pair(output):
    """(html, text) from a pair template's output; None when a value carried one of the marks."""
    if any(output.count(opening) != output.count(closing) for opening, closing in (_HTML_ONLY, _TEXT_ONLY)):
        return None
    body = _TEXT_PIECE.sub("", output).replace(_HTML_ONLY[0], "").replace(_HTML_ONLY[1], "")
    text = html.unescape(_HTML_PIECE.sub("", output).replace(_TEXT_ONLY[0], "").replace(_TEXT_ONLY[1], ""))
    return body, tidy_text(text.replace(f"{_LINK}(){_LINK}", "").replace(_LINK, ""))


def build_contexts(clients, today=None):
    """{client_id: context} for many clients in a few queries per batch, whatever its size: scores,
    last orders with their items, the category each buys most, and the products recommended to them
    (the nightly run's lists: recommendations/reading.py).
    The sender adds `campaign` and `unsubscribe_url`, which differ per message.

    Values that are not known are left out rather than set to None, so they render as empty text
    and `default` applies.
    """
    today = today or timezone.localdate()
    ids = [client.pk for client in clients]
    scores = {
        row["client_id"]: row for row in ClientScore.objects.current().filter(client_id__in=ids)
        .values("client_id", *SCORE_FIELDS, *WHY_FIELDS)
    }
    run = ScoringRun.objects.current()
    typicals = run.metrics.get("reasons", {}) if run else {}
    orders = {}
    # Plain rows, not model instances: a batch reads a few thousand orders and items.
    recent = list(
        Purchase.objects.filter(client_id__in=ids, status=Purchase.Status.COMPLETED)
        .annotate(rank=Window(RowNumber(), partition_by=[F("client_id")], order_by=F("purchased_at").desc()))
        .filter(rank__lte=LAST_ORDERS)
        .order_by("client_id", "-purchased_at")
        .values("id", "client_id", "external_id", "purchased_at", "amount", "currency")
    )
    items = {}
    for item in (PurchaseItem.objects.filter(purchase_id__in=[order["id"] for order in recent]).order_by("pk")
                 .values("purchase_id", "sku", "name", "category", "quantity", "price")):
        items.setdefault(item.pop("purchase_id"), []).append(item)
    for order in recent:
        orders.setdefault(order.pop("client_id"), []).append({
            "external_id": order["external_id"], "purchased_at": order["purchased_at"], "amount": order["amount"],
            "currency": order["currency"], "items": items.get(order["id"], []),
        })
    picks = recommendations_for(ids)
    loyalty = loyalty_contexts(ids, today)  # points, tier, streak, expiring points: one query
    contexts = {}
    for client in clients:
        row = scores.get(client.pk, {})
        score = {key: value for key, value in row.items() if key in SCORE_FIELDS and value is not None}
        for kind in ("churn", "value") if row else ():
            if row[f"{kind}_reasons"]:
                score[f"{kind}_why"] = "; ".join(describe(row[f"{kind}_reasons"], SimpleNamespace(**row), typicals))
        last = orders.get(client.pk, [])
        if last:  # from the newest order itself, not the nightly run: right on the day of sending
            score["days_since_last_order"] = (today - timezone.localdate(last[0]["purchased_at"])).days
        if picks[client.pk].favourite_category:
            score["favourite_category"] = picks[client.pk].favourite_category
        contexts[client.pk] = {
            "client": {field: value for field in CLIENT_FIELDS if (value := getattr(client, field)) is not None},
            "scores": score,
            "last_orders": last,
            "recommendations": picks[client.pk].products,
            "loyalty": loyalty.get(client.pk, {}),
        }
    return contexts
