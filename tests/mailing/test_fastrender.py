"""mailing/fastrender.py against Django: every template and context here rendered by both, in English
and Russian, with and without autoescaping; the outputs must be the same text, and where Django raises
the fast render must raise too (`render` then gives Django's own error)."""

import datetime as dt
import itertools
import random
import sys
import zoneinfo
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.template import Context, TemplateSyntaxError, VariableDoesNotExist
from django.utils import translation
from django.utils.safestring import SafeString, mark_safe

from demo.campaigns import TEMPLATES as DEMO_TEMPLATES
from mailing import fastrender
from mailing.sandbox import FILTERS, HUMANIZE_FILTERS, TAGS
from mailing.templating import compile_template, pair_template_from_html, render_message, text_template_from_html
from mailing.variables import sample_context

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from campaign_throughput import HTML as BENCH_HTML  # noqa: E402
from campaign_throughput import PREHEADER as BENCH_PREHEADER  # noqa: E402
from campaign_throughput import SUBJECT as BENCH_SUBJECT  # noqa: E402

MOSCOW = zoneinfo.ZoneInfo("Europe/Moscow")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


class Thing:
    """An object as a template may meet one: attributes, a property, methods of every kind."""

    colour = "<red>"
    alters = None

    def __init__(self, name):
        self.name = name
        self.calls = 0

    @property
    def title(self):
        return self.name.title()

    def shout(self):
        self.calls += 1
        return self.name.upper()

    def needs_argument(self, argument):
        return argument

    def delete(self):
        raise AssertionError("a template must not call a method that alters data")

    delete.alters_data = True

    def __str__(self):
        return f"Thing {self.name} & co"


class Maker:
    do_not_call_in_templates = True
    label = "maker"

    def __call__(self):
        raise AssertionError("not to be called")

    def __str__(self):
        return "a maker"


def values():
    """A fresh context (generators and counters are used up by a render)."""
    return {
        "name": '<b>Tom & "Jerry"</b>', "safe": mark_safe("<i>ok</i>"), "empty": "", "none": None, "zero": 0,
        "false": False, "true": True, "dec": Decimal("1234.50"), "dec1": Decimal("1.0"), "dec2": Decimal("1.00"),
        "float": 3.14159, "negzero": -0.0, "fzero": 0.0,
        # One wall time of New York twice (the hour repeated in November): equal datetimes, two instants.
        "fold0": dt.datetime(2024, 11, 3, 1, 30, tzinfo=NEW_YORK),
        "fold1": dt.datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=NEW_YORK),
        "days": [dt.datetime(2024, 3, 5, hour, 59, tzinfo=dt.UTC) for hour in (0, 18, 19, 23)]
        + [dt.datetime(2024, 3, 6, 1, tzinfo=MOSCOW), dt.datetime(2024, 12, 31, 20, tzinfo=dt.UTC)], "big": 1234567, "neg": -42, "date": dt.date(2024, 3, 5),
        "aware": dt.datetime(2024, 3, 5, 22, 30, tzinfo=dt.UTC),
        "moscow": dt.datetime(2024, 3, 6, 1, 30, tzinfo=MOSCOW),
        "words": "the quick brown fox jumps over the lazy dog " * 3, "url": "https://example.com/a b?c=d&e=<f>",
        "numbers": [3, 1, 2], "pairs": [("a", 1), ("b", 2)], "triples": [(1, 2, 3)], "letters": ("x", "y"),
        "gen": (n * n for n in range(3)), "nested": [[1, 2], [], [3]],
        "people": [{"name": "Ann", "city": "Kazan", "tags": ["a", "b"]}, {"name": "<Bob>", "city": "Kazan", "tags": []},
                   {"name": "Cid", "city": "Omsk", "tags": ["c"]}],
        "client": {"first_name": "Анна", "city": "", "items": "a key named items", "0": "zero key"},
        "plain": {"a": {"b": {"c": "deep"}}}, "intkeys": {1: "one"},
        "thing": Thing("widget"), "maker": Maker(), "html": SafeString("<p>safe & sound</p>"),
        "spaces": "  a   b  ", "newlines": "line one\nline two\n\nnew paragraph", "json": {"k": "</script>"},
    }


NAMES = ["name", "safe", "empty", "none", "zero", "false", "dec", "dec1", "float", "negzero", "big", "date", "aware",
         "numbers", "people", "client", "thing", "html", "newlines", "missing"]
ARGUMENTS = ['"2"', '"j M Y H:i"', "big", '"a,b,c"', "missing", "3"]

TAG_TEMPLATES = [
    # if: every operator, failures, filters in conditions
    "{% if name %}yes{% else %}no{% endif %}",
    "{% if missing %}yes{% elif zero %}zero{% elif empty or none %}e{% else %}none{% endif %}",
    "{% if not missing and true %}a{% endif %}{% if false or zero or empty %}b{% endif %}",
    "{% if 2 in numbers %}in{% endif %}{% if 5 not in numbers %}out{% endif %}{% if 'x' in missing %}?{% endif %}",
    "{% if none is None %}is{% endif %}{% if zero is not None %}isnot{% endif %}{% if missing is None %}m{% endif %}",
    "{% if dec == 1234.5 %}eq{% endif %}{% if dec != big %}ne{% endif %}{% if big > 5 %}gt{% endif %}",
    "{% if big >= big %}ge{% endif %}{% if zero < 1 %}lt{% endif %}{% if zero <= missing %}le{% endif %}",
    "{% if name > 3 %}bad compare{% else %}no{% endif %}{% if numbers|length > 2 %}long{% endif %}",
    "{% if not not name %}nn{% endif %}{% if thing.shout == 'WIDGET' %}shout{% endif %}",
    "{% if client.first_name|default:'x' == 'Анна' %}anna{% endif %}{% if missing.deeper %}x{% endif %}",
    "{% if name|cut:missing %}cut{% endif %}",
    # for: counters, parentloop, reversed, unpacking, empty, generators, strings
    "{% for n in numbers %}{{ forloop.counter }}{{ forloop.counter0 }}{{ forloop.revcounter }}"
    "{{ forloop.revcounter0 }}{{ forloop.first }}{{ forloop.last }}{{ n }};{% endfor %}",
    "{% for row in nested %}[{% for n in row %}{{ forloop.parentloop.counter }}.{{ forloop.counter }}={{ n }}"
    "{% empty %}empty{{ forloop.parentloop.counter }}{% endfor %}]{% endfor %}",
    "{% for n in numbers reversed %}{{ n }}{% if not forloop.last %},{% endif %}{% endfor %}",
    "{% for key, value in pairs %}{{ key }}={{ value }}{{ forloop.counter }} {% endfor %}",
    "{% for a, b in triples %}{{ a }}{{ b }}{% endfor %}",
    "{% for a, b in numbers %}{{ a }}{% endfor %}",
    "{% for n in missing %}x{% empty %}nothing{% endfor %}{% for n in none %}x{% empty %}none{% endfor %}",
    "{% for n in gen %}{{ n }}{% endfor %}|{% for c in name %}{{ c }}{% endfor %}|{% for x in big %}{% endfor %}",
    "{% for p in people %}{{ p.name }} {{ p.tags|join:',' }} {% for t in p.tags %}{{ t }}{% empty %}-{% endfor %}"
    "{% endfor %}",
    "{% for p in people %}{% for q in people %}{% if forloop.parentloop.counter == forloop.counter %}"
    "{{ q.name }}{% endif %}{% endfor %}{% endfor %}{{ forloop }}",
    "{% for k, v in client.items %}{{ k }}{% endfor %}{% for k, v in plain.items %}{{ k }}:{{ v }}{% endfor %}",
    "{% for n in numbers %}{{ forloop }}{% endfor %}",
    "{% for x in letters %}{% for y in letters %}{{ forloop.parentloop.parentloop }}{% endfor %}{% endfor %}",
    # with
    "{% with first=people.0 count=numbers|length %}{{ first.name }} {{ count }}{% endwith %}",
    "{% with people as folks %}{% for p in folks %}{{ p.city }}{% endfor %}{% endwith %}{{ folks }}",
    "{% with n=missing %}[{{ n }}]{% endwith %}{% with name='<lit>' %}{{ name }}{% endwith %}{{ name }}",
    # the tags left to Django, inside and around the fast ones
    "{% for p in people %}{% cycle 'odd' 'even' %}{% cycle name safe as c silent %}{{ c }}{% endfor %}",
    "{% for p in people %}{% cycle 'a' 'b' 'c' %}{% if forloop.counter == 2 %}{% resetcycle %}{% endif %}{% endfor %}",
    "{% for p in people %}{% ifchanged p.city %}{{ p.city }}{% else %}same{% endifchanged %}{% endfor %}",
    "{% for p in people %}{% ifchanged %}{{ p.city }}{% endifchanged %}{% endfor %}",
    "{% firstof missing empty name 'fallback' %}{% firstof missing none %}{% firstof missing 'lit<' %}",
    "{% filter upper %}{{ name }} and {{ safe }}{% endfilter %}{% filter force_escape|lower %}<A>{% endfilter %}",
    "{% now 'Y' %}",
    "{% regroup people by city as cities %}{% for c in cities %}{{ c.grouper }}:{% for p in c.list %}"
    "{{ p.name }}{% endfor %};{% endfor %}",
    "{% spaceless %}<p> <b> {{ name }} </b> </p>{% endspaceless %}",
    "{% templatetag openblock %}{% templatetag closevariable %}{% verbatim %}{{ name }}{% endverbatim %}",
    "{% widthratio zero big 100 %}{% widthratio big 10 2 %}{% widthratio missing 1 1 %}",
    "{% autoescape off %}{{ name }}{% for p in people %}{{ p.name }}{% endfor %}{% endautoescape %}{{ name }}",
    "{% autoescape on %}{{ name }}{% endautoescape %}",
    "{% lorem 3 w %}{% lorem 1 p %}",
    "{% comment %}{{ name }}{% endcomment %}{# a note #}x{% load humanize %}{% load money %}",
    # variables: lookups of every kind
    "{{ thing.name }}|{{ thing.title }}|{{ thing.shout }}|{{ thing.colour }}|{{ thing.delete }}|"
    "{{ thing.needs_argument }}|{{ thing }}|{{ thing.missing }}|{{ maker.label }}|{{ maker }}",
    "{{ numbers.0 }}{{ numbers.5 }}{{ letters.1 }}{{ client.0 }}{{ intkeys.1 }}{{ client.items }}{{ plain.items }}",
    "{{ plain.a.b.c }}{{ plain.a.x.c }}{{ plain.keys }}{{ none.x }}{{ missing }}{{ missing.x.y }}{{ True }}{{ None }}",
    "{{ 'literal <b>' }}{{ 42 }}{{ 1.5 }}{{ _('Hello') }}{{ 'x'|add:name }}",
    "{{ forloop }}{{ forloop.counter }}{{ block }}{{ csrf_token }}",
    "{{ dec }} {{ dec1 }} {{ dec2 }} {{ float }} {{ negzero }} {{ big }} {{ neg }} {{ zero }} {{ true }} {{ false }}",
    "{{ date }} {{ aware }} {{ moscow }} {{ none }} {{ numbers }} {{ pairs }} {{ people }} {{ json }}",
    "{{ aware|date:'j M Y H:i e' }} {{ moscow|date:'j M Y H:i T' }} {{ aware|date }} {{ date|date:'l, N jS' }}"
    " {{ aware|date:missing }} {{ date|date:big }} {{ aware|time }} {{ moscow|timesince:aware }}",
    "{% for p in people %}{{ aware|date:'D d F' }}{{ dec }}{{ p.name|default:dec1 }}{% endfor %}",
    # values that are equal and print differently: the formatted values kept must tell them apart
    "{{ dec1 }} {{ dec2 }} {{ fzero }} {{ negzero }} {{ zero }} {{ false }} {{ fold0|date:'H:i T U' }} "
    "{{ fold1|date:'H:i T U' }} {{ fold0 }} {{ fold1 }}",
    # a day's output is kept for the local day: instants of one local day, and of one UTC day in two local days
    "{% for when in days %}{{ when|date:'j M Y' }},{{ when|date:'l jS \\H N o-W' }},{{ when|date:'D H' }},{{ when|date:'' }};{% endfor %}",
]


def _filter_templates():
    names = FILTERS + HUMANIZE_FILTERS + ("money",)
    out = []
    for name in names:
        for value in NAMES:
            out.append(f"{{{{ {value}|{name} }}}}")
        for argument in ARGUMENTS:
            out.append(f"{{{{ name|{name}:{argument} }}}}|{{{{ big|{name}:{argument} }}}}|{{{{ dec|{name}:{argument} }}}}"
                       f"|{{{{ aware|{name}:{argument} }}}}|{{{{ missing|{name}:{argument} }}}}")
        out.append(f"{{{{ safe|{name}|upper }}}}{{{{ name|{name}|safe }}}}{{{{ numbers|{name}|join:', ' }}}}")
    return out


def _compiled(sources):
    templates = []
    for source in sources:
        try:
            templates.append((source, compile_template(source)))
        except TemplateSyntaxError:
            continue  # wrong number of arguments for a filter: nothing to render
    return templates


def _django(template, context, autoescape):
    random.seed(24)  # the `random` filter: the same choice for both
    try:
        return template.render(Context(context, autoescape=autoescape)), None
    except Exception as exc:
        return None, exc


def _fast(template, context, autoescape):
    random.seed(24)
    try:
        return fastrender.render_fast(template, context, autoescape), None
    except Exception as exc:
        return None, exc


def assert_same(source, template, make_context, autoescape):
    expected, error = _django(template, make_context(), autoescape)
    got, fast_error = _fast(template, make_context(), autoescape)
    if error is not None:
        assert fast_error is not None, f"Django raised {error!r} and the fast render gave {got!r}: {source!r}"
        with pytest.raises(type(error)):
            fastrender.render(template, make_context(), autoescape)
        return
    assert fast_error is None, f"the fast render raised {fast_error!r} where Django gave {expected!r}: {source!r}"
    assert got == expected, f"{source!r} (autoescape {autoescape}, {translation.get_language()})"
    assert type(got) is type(expected)
    random.seed(24)
    assert fastrender.render(template, make_context(), autoescape) == expected


LANGUAGES = ("en", "ru")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("autoescape", (True, False))
def test_tags_and_lookups(language, autoescape, settings):
    settings.TIME_ZONE = "Asia/Yekaterinburg"  # neither the values' zone nor UTC
    with translation.override(language):
        for source, template in _compiled(TAG_TEMPLATES):
            assert_same(source, template, values, autoescape)


@pytest.mark.parametrize("language", LANGUAGES)
def test_filters(language):
    with translation.override(language):
        for source, template in _compiled(_filter_templates()):
            for autoescape in (True, False):
                assert_same(source, template, values, autoescape)


def test_every_tag_and_filter_is_in_the_corpus():
    corpus = " ".join(TAG_TEMPLATES + _filter_templates())
    assert [tag for tag in TAGS if "{% " + tag not in corpus] == []
    assert [name for name in FILTERS + HUMANIZE_FILTERS + ("money",) if f"|{name}" not in corpus] == []


def _email_sources():
    sources = [BENCH_SUBJECT, BENCH_PREHEADER, BENCH_HTML]
    for content in DEMO_TEMPLATES.values():
        sources += [content.get(field) or "" for field in ("subject", "preheader", "html_body", "text_body")]
    return sources


def _email_templates():
    templates = []
    for source in _email_sources():
        templates.append((source, compile_template(source)))
        for derived in (pair_template_from_html(source), text_template_from_html(source)):
            if derived is not None:
                templates.append((source, derived))
    return templates


def _recipient_contexts():
    """sample_context() and variations of it: empty lists, missing and None values, markup in names."""
    def sample():
        return sample_context()

    def bare():
        context = sample_context()
        context["client"] = {"first_name": "<Zoë & Co>"}
        context["scores"] = {}
        context["last_orders"] = []
        context["recommendations"] = []
        context["loyalty"] = {}
        return context

    def odd():
        context = sample_context()
        context["client"]["first_name"] = mark_safe("<b>Bold</b>")
        context["client"]["city"] = None
        context["scores"]["days_since_last_order"] = 0
        context["scores"]["rfm_segment"] = "champions"
        for order in context["last_orders"]:
            order["purchased_at"] = dt.datetime(2025, 12, 31, 23, 30, tzinfo=dt.UTC)
            order["amount"] = Decimal("1234567.891")
            order["items"] = ()
        context["recommendations"] = [{"name": "A&B", "price": Decimal("0.10"), "sku": "a b/ç"}]
        context.pop("unsubscribe_url", None)
        return context

    return sample, bare, odd


@pytest.mark.parametrize("language", LANGUAGES)
def test_email_templates(language):
    with translation.override(language):
        for (source, template), make_context, autoescape in itertools.product(
                _email_templates(), _recipient_contexts(), (True, False)):
            assert_same(source, template, make_context, autoescape)


def test_a_divergence_fails(monkeypatch):
    """The comparison above catches a renderer that differs (here: numbers not localised)."""
    template = compile_template("{{ dec }}")
    monkeypatch.setattr(fastrender, "render_value_in_context", lambda value, context: str(value))
    fastrender._formatted.clear()
    fastrender._programs.clear()
    with translation.override("ru"), pytest.raises(AssertionError):
        assert_same("{{ dec }}", template, values, True)
    fastrender._programs.clear()


def test_formatted_values_follow_language_and_settings(settings):
    template = compile_template("{{ big }} {{ aware|date:'j E Y H:i' }}")
    context = {"big": 1234567, "aware": dt.datetime(2024, 3, 5, 22, 30, tzinfo=dt.UTC)}
    with translation.override("en"):
        english = fastrender.render(template, context)
    with translation.override("ru"):
        russian = fastrender.render(template, context)
    settings.TIME_ZONE = "Asia/Tokyo"
    settings.USE_THOUSAND_SEPARATOR = True
    with translation.override("en"):
        tokyo = fastrender.render(template, context)
        assert tokyo == template.render(Context(context))
    assert english != russian != tokyo
    assert "Mar" in english and "марта" in russian and "1,234,567" in tokyo and "7:30" in tokyo


def test_a_fast_render_that_raises_gives_djangos_output(monkeypatch):
    version = SimpleNamespace(subject=BENCH_SUBJECT, preheader=BENCH_PREHEADER, html_body=BENCH_HTML, text_body="")
    context = {**sample_context(), "unsubscribe_url": "https://crm.example.com/u/1/"}
    fast = render_message(version, context)

    def fail(template, values, autoescape=True):
        raise RuntimeError("a case the fast renderer gets wrong")

    monkeypatch.setattr(fastrender, "render_fast", fail)
    assert render_message(version, context) == fast
    with pytest.raises(VariableDoesNotExist):  # Django's own error, as sending would record it
        fastrender.render(compile_template("{{ name|cut:missing }}"), {"name": "x"})
