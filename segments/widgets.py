"""The rule builder: a form widget that edits a rule (segments/rules.py) as rows of field, operator
and value in AND / OR groups, with the JSON kept in a textarea behind it (the stored form, shown in
the "advanced" view). The page's script (static/segments/rule-builder.js) builds the rows from the
configuration given here, so the builder offers exactly the fields, operators and codes the rule
language accepts, with their names in the user's language.

Hand-written rather than jQuery-QueryBuilder or react-querybuilder: both would need their own
value editors for percents, money and "N days ago" and their own styling to fit the admin, and
React a build step; the whole widget is a few hundred lines with no dependency.
"""

from django import forms
from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from crm.models import Client
from crm.money import ENGLISH_SIGNS, RUSSIAN_SIGNS

from . import reasons, rules
from .builtin import band_name, segment_name
from .models import Segment

# How many distinct countries or channels the lists offer (the shop's own values, read from its clients).
MAX_CHOICES = 300


def _operators():
    # Literal pgettext calls, so that makemessages finds them; "is", "on" and "after" mean other things elsewhere.
    number = [("=", pgettext("rule operator", "equals")), ("!=", pgettext("rule operator", "is not")),
              ("<", pgettext("rule operator", "less than")), ("<=", pgettext("rule operator", "at most")),
              (">", pgettext("rule operator", "greater than")), (">=", pgettext("rule operator", "at least")),
              ("is empty", pgettext("rule operator", "is empty"))]
    text = [("=", pgettext("rule operator", "is")), ("!=", pgettext("rule operator", "is not")),
            ("in", pgettext("rule operator", "is one of")), ("not in", pgettext("rule operator", "is none of")),
            ("is empty", pgettext("rule operator", "is empty"))]
    date = [("more than days ago", pgettext("rule operator", "more than … days ago")),
            ("less than days ago", pgettext("rule operator", "less than … days ago")),
            ("<", pgettext("rule operator", "before")), ("<=", pgettext("rule operator", "on or before")),
            ("=", pgettext("rule operator", "on")), ("!=", pgettext("rule operator", "not on")),
            (">=", pgettext("rule operator", "on or after")), (">", pgettext("rule operator", "after")),
            ("is empty", pgettext("rule operator", "is empty"))]
    return {"number": number, "percent": number, "money": number, "choice": text, "text": text, "date": date,
            "bool": [("=", pgettext("rule operator", "is"))]}


def _choices():
    tiers = [(s.slug.removeprefix("tier-"), s.display_name) for s in Segment.objects.filter(kind=Segment.Kind.TIER)]
    countries = (Client.objects.exclude(country="").order_by("country").values_list("country", flat=True)
                 .distinct()[:MAX_CHOICES])
    channels = (Client.objects.exclude(acquisition_channel="").order_by("acquisition_channel")
                .values_list("acquisition_channel", flat=True).distinct()[:MAX_CHOICES])
    return {
        "rfm_segment": [(slug, segment_name(slug)) for slug in rules.CHOICES["rfm_segment"]],
        "churn_band": [(band, band_name(band)) for band in rules.CHOICES["churn_band"]],
        "engagement_band": [(band, band_name(band)) for band in rules.CHOICES["engagement_band"]],
        "gender": [(code, str(label)) for code, label in Client.Gender.choices],
        "churn_reason": [(code, str(reasons.NAMES[code])) for code in rules.CHOICES["churn_reason"]],
        "value_reason": [(code, str(reasons.NAMES[code])) for code in rules.CHOICES["value_reason"]],
        "tier": tiers,
        # Shown by the browser in the user's language (Intl.DisplayNames); the code is what is stored.
        "country": [(code, code) for code in countries],
        "acquisition_channel": [(channel, channel) for channel in channels],
    }


def _currency():
    code = settings.CRM_CURRENCY.upper()
    russian = (translation.get_language() or settings.LANGUAGE_CODE).startswith("ru")
    return RUSSIAN_SIGNS.get(code, code) if russian else ENGLISH_SIGNS.get(code, code)


def builder_config(count_hint):
    choices = _choices()
    fields = []
    for name, (_lookup, kind) in rules.FIELDS.items():
        if kind in ("bool", "negated-bool", "present"):
            shown = "bool"
        elif kind in ("date", "datetime"):
            shown = "date"
        elif name in choices:
            shown = "choice"
        elif name in rules.PERCENT:
            shown = "percent"
        elif name in rules.MONEY:
            shown = "money"
        else:
            shown = kind
        fields.append({"name": name, "label": str(rules.LABELS[name]), "kind": shown,
                       "choices": choices.get(name, []), "country": name == "country"})
    fields.sort(key=lambda f: f["label"].lower())
    return {
        "fields": fields, "operators": _operators(), "currency": _currency(), "countUrl": reverse(
            "admin:segments_segment_count"), "countHint": count_hint,
        "text": {
            "all": _("all of these (AND)"), "any": _("any of these (OR)"), "addCondition": _("+ condition"),
            "addGroup": _("+ group"), "remove": _("remove"), "removeGroup": _("remove group"),
            "advanced": _("Advanced: edit the JSON"), "builder": _("Back to the builder"),
            "cannotShow": _("The builder cannot show this rule, so it is shown as JSON: %(reason)s"),
            "badJson": _("this is not valid JSON"),
            "badGroup": _("group %(number)s: a group holds only \"all\" or \"any\" with a list of conditions, got "
                          "%(detail)s"),
            "badPart": _("condition %(number)s: expected field, op and value, got %(detail)s"),
            "badField": _("condition %(number)s: %(detail)s is not a field the builder knows"),
            "noOp": _("condition %(number)s: no operator (op) is given"),
            "badOp": _("condition %(number)s: the builder has no operator %(detail)s for this field"),
            "badValue": _("condition %(number)s: the builder cannot show the value %(detail)s"),
            "differs": _("written back by the builder it would not be the same JSON"), "yes": _("yes"), "no": _("no"),
            "daysAgo": _("days ago"), "matching": _("Clients matching now:"), "empty": _("No conditions yet."),
            "listHint": _("separate values with commas"), "chooseField": _("choose a field"),
        },
    }


class RuleBuilder(forms.Textarea):
    """A rule (segments/rules.py) edited in the builder; the textarea holds the JSON that is saved.
    count_hint: what the live count means on this page."""

    template_name = "segments/widgets/rule_builder.html"

    class Media:
        js = ("segments/rule-builder.js",)
        css = {"all": ("segments/rule-builder.css",)}

    def __init__(self, attrs=None, count_hint=""):
        super().__init__({"rows": 8, "cols": 90, "class": "vLargeTextField", **(attrs or {})})
        self.count_hint = count_hint

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["builder"] = builder_config(str(self.count_hint))
        return context
