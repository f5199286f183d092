"""Every variable an email template may use: the one list the context is built from, the editor's
panel shows, save-time validation checks names against, and docs/campaigns.md follows (a test holds
the page to it).

A `Var` is a value; a `Group` a mapping of values (`client.first_name`); a `List` a list of mappings
looped over with its own loop name (`{% for order in last_orders %}{{ order.amount }}`). Each has a
short description for the panel and a sample value, so a template can be tried on a client who has
everything (`sample_context`) when the shop has no such client yet.
"""

import datetime as dt
import difflib
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Var:
    name: str
    description: str
    sample: object = ""
    source: str = ""  # where a builder reads it: "model" (a column of the client or the night's scores)


@dataclass(frozen=True)
class Group:
    name: str
    description: str
    fields: tuple = ()


@dataclass(frozen=True)
class List:
    name: str
    description: str
    loop: str  # the name an item gets in the panel's {% for %} snippet
    fields: tuple = ()
    samples: int = 2
    extra: dict = field(default_factory=dict)


MODEL = "model"

ITEM_FIELDS = (
    Var("sku", _("product code"), "MUG-01"),
    Var("name", _("product name"), "Blue mug"),
    Var("category", _("product category"), "kitchen"),
    Var("quantity", _("how many were bought"), 2),
    Var("price", _("price of one"), Decimal("12.50")),
)

CONTEXT = (
    Group("client", _("The client"), (
        Var("first_name", _("first name"), "Anna", MODEL),
        Var("last_name", _("last name"), "Ivanova", MODEL),
        Var("city", _("city"), "Kazan", MODEL),
        Var("country", _("country"), "RU", MODEL),
        Var("email", _("email address"), "anna@example.com", MODEL),
        Var("external_id", _("the shop's client id"), "C-1001", MODEL),
        Var("gender", _("gender as the shop sent it"), "f", MODEL),
        Var("birth_date", _("date of birth"), dt.date(1990, 5, 17), MODEL),
    )),
    Group("scores", _("Scores from the last nightly run"), (
        Var("rfm_segment", _("RFM segment, e.g. champions"), "champions", MODEL),
        Var("churn_band", _("churn risk band: low, medium, high"), "low", MODEL),
        Var("churn_risk", _("churn risk, 0 to 1"), 0.12, MODEL),
        Var("predicted_clv", _("predicted value of the client's future orders"), Decimal("420.00"), MODEL),
        Var("recency_days", _("days since the last order, at the nightly run"), 12, MODEL),
        Var("frequency", _("number of orders"), 7, MODEL),
        Var("monetary", _("total spent"), Decimal("860.00"), MODEL),
        Var("avg_order_value", _("average order value"), Decimal("122.86"), MODEL),
        Var("engagement_band", _("engagement band: low, medium, high"), "high", MODEL),
        Var("churn_reason", _("main reason for the churn risk, as a code: long_gap, activity_down, one_order, "
                              "rare_orders"), "long_gap", MODEL),
        Var("churn_why", _("why the churn risk is what it is, in words"), "no order for 140 days; usually every 35"),
        Var("value_reason", _("main reason for the predicted value, as a code: long_gap, activity_down, one_order, "
                              "rare_orders, big_orders, small_orders"), "big_orders", MODEL),
        Var("value_why", _("why the predicted value is what it is, in words"),
            "average order 250; the shop's typical is 80"),
        Var("days_since_last_order", _("days since the last order, today"), 12),
        Var("favourite_category", _("category bought most often"), "kitchen"),
    )),
    List("last_orders", _("Up to 3 last completed orders, newest first"), "order", (
        Var("external_id", _("order number"), "A-5531"),
        Var("purchased_at", _("when it was bought"), dt.datetime(2026, 11, 20, 14, 5, tzinfo=dt.UTC)),
        Var("amount", _("order total"), Decimal("125.00")),
        Var("currency", _("currency code"), "RUB"),
        List("items", _("the order's lines"), "item", ITEM_FIELDS),
    )),
    List("recommendations", _("Products recommended to the client"), "product", (
        Var("sku", _("product code"), "TEA-07"),
        Var("name", _("product name"), "Green tea"),
        Var("category", _("product category"), "tea"),
        Var("price", _("price as last sold"), Decimal("8.90")),
        Var("why", _("why it is recommended, in words"), "bought with Teapot"),
        Var("reason", _("why, as a code: bought_with, popular_in_category, similar_clients, restock, popular"),
            "bought_with"),
    )),
    Group("loyalty", _("Loyalty programme"), (
        Var("points", _("points balance"), 340),
        Var("tier", _("tier name"), "Gold"),
        Var("tier_slug", _("tier code"), "gold"),
        Var("streak_days", _("days in a row with activity"), 4),
        Var("expiring_points", _("points expiring within 30 days"), 50),
        Var("expiring_on", _("first day points expire"), dt.date(2026, 12, 31)),
    )),
    Group("campaign", _("The campaign sending it"), (
        Var("name", _("campaign name"), "Spring sale"),
        Var("slug", _("campaign code"), "spring-sale"),
    )),
    Var("unsubscribe_url", _("the recipient's unsubscribe link (added as a footer when not shown)"),
        "https://shop.example.com/u/sample/"),
)

BY_NAME = {entry.name: entry for entry in CONTEXT}


def model_fields(group):
    """The names of a group's values read straight from a model's columns (the context builder's list)."""
    return tuple(var.name for var in BY_NAME[group].fields if var.source == MODEL)


def _sample(entry):
    if isinstance(entry, Var):
        return entry.sample
    if isinstance(entry, Group):
        return {var.name: _sample(var) for var in entry.fields}
    row = {var.name: _sample(var) for var in entry.fields}
    return [dict(row) for _ in range(entry.samples)]


def sample_context():
    """A context in which every variable has a value and every list two items."""
    return {entry.name: _sample(entry) for entry in CONTEXT}


def panel():
    """The editor's panel: [(group title, [(what to insert, the name shown, description)])]."""
    out = []
    for entry in CONTEXT:
        if isinstance(entry, Var):
            out.append((gettext("Links"), [(f"{{{{ {entry.name} }}}}", entry.name, entry.description)]))
        elif isinstance(entry, Group):
            out.append((entry.description, [(f"{{{{ {entry.name}.{var.name} }}}}", f"{entry.name}.{var.name}",
                                             var.description) for var in entry.fields]))
        else:
            out.append((entry.description, _list_rows(entry, entry.name)))
    return out


def _list_rows(entry, path):
    first = entry.fields[0].name
    snippet = f"{{% for {entry.loop} in {path} %}}{{{{ {entry.loop}.{first} }}}} {{% endfor %}}"
    rows = [(snippet, f"{{% for {entry.loop} in {path} %}}", gettext("a loop over the list: the names below go "
                                                                     "inside it"))]
    for var in entry.fields:
        if isinstance(var, List):
            rows += _list_rows(var, f"{entry.loop}.{var.name}")
        else:
            rows.append((f"{{{{ {entry.loop}.{var.name} }}}}", f"{entry.loop}.{var.name}", var.description))
    return rows


def all_paths():
    """Every name a template can write, as the docs show them: client.first_name, last_orders.items.sku, ..."""
    def walk(entry, prefix):
        path = f"{prefix}{entry.name}"
        yield path
        for child in getattr(entry, "fields", ()):
            yield from walk(child, path + ".")
    return [path for entry in CONTEXT for path in walk(entry, "")]


# --- Strict values for validation: a name that does not exist is reported, not rendered as "".


class UnknownName(Exception):  # noqa: N818 - a finding, not a failure of the code
    """A template names something the context does not have. Noted in a list rather than raised:
    Django's lookup swallows errors in places (`{% if a > b %}`), and noting lets the render go on to
    find every unknown name at once; the lookup then fails as any missing value does."""

    def __init__(self, owner, name, known):
        self.owner, self.name, self.known = owner, name, sorted(known)
        super().__init__(name)

    def closest(self):
        found = difflib.get_close_matches(self.name, self.known, n=1, cutoff=0.6)
        return found[0] if found else None


class Strict(dict):
    """A mapping that reports a name it does not declare. A declared name with no value (a client
    without a city) is still silently empty, as when sending."""

    def __init__(self, data, declared, problems):
        super().__init__(data)
        self.declared = {var.name: var for var in declared}
        self.problems = problems

    def __getitem__(self, key):
        if dict.__contains__(self, key):
            return strict(dict.__getitem__(self, key), self.declared.get(key), self.problems)
        if key in self.declared:
            raise KeyError(key)
        self.problems.append(UnknownName("", key, self.declared))
        raise KeyError(key)


class StrictList(list):
    def __init__(self, data, entry, problems):
        super().__init__(strict(row, entry, problems, item=True) for row in data)
        self.entry, self.problems = entry, problems

    def __getitem__(self, key):
        if isinstance(key, str) and not key.lstrip("-").isdigit():  # `last_orders.first`; `.0` is an index
            problem = UnknownName("", key, [])
            problem.is_list = True
            self.problems.append(problem)
            raise TypeError(key)  # what a list says to a name: Django then renders it as ""
        if isinstance(key, str):
            raise TypeError(key)  # Django tries the key, then the number: `last_orders.0`
        return super().__getitem__(key)


def strict(value, entry, problems, item=False):
    if isinstance(entry, List) and item and isinstance(value, dict):
        return Strict(value, entry.fields, problems)
    if isinstance(entry, List) and isinstance(value, list):
        return StrictList(value, entry, problems)
    if isinstance(entry, Group) and isinstance(value, dict):
        return Strict(value, entry.fields, problems)
    return value


def strict_context(context, problems):
    """The context's values wrapped so that an undeclared name raises (and is noted in `problems`)."""
    return {name: strict(value, BY_NAME.get(name), problems) for name, value in context.items()}
