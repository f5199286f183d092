"""Rule-based segments: a JSON rule of conditions combined with AND / OR groups, turned into a
Django Q over the current scores (and the client's own fields), evaluated set-based.

A rule is either a condition or a group:
    {"field": "rfm_segment", "op": "in", "value": ["at-risk", "cant-lose-them"]}
    {"all": [rule, ...]}   every part holds (AND)
    {"any": [rule, ...]}   at least one part holds (OR)
Example: at-risk or can't-lose-them clients worth more than 5,000 who accept email and last
ordered more than 60 days ago:
    {"all": [{"field": "rfm_segment", "op": "in", "value": ["at-risk", "cant-lose-them"]},
             {"field": "predicted_clv", "op": ">", "value": 5000},
             {"field": "email_consent", "op": "=", "value": true},
             {"field": "last_purchase_at", "op": "more than days ago", "value": 60}]}

Values are stored as the scores store them: churn risk is a share from 0 to 1 (the admin shows and
the rule builder takes it as a percent), bands and RFM segments are slugs, money is in the shop's
currency, dates are "YYYY-MM-DD" in the shop's time zone. The rule builder (segments/widgets.py)
reads FIELDS, OPERATORS and CHOICES from here, so what it offers is what this module accepts.
"""

import datetime as dt

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import reasons
from .builtin import BANDS
from .rfm import SEGMENT_NAMES

# Field name in a rule -> (lookup path on ClientScore, kind of value)
FIELDS = {
    "recency_days": ("recency_days", "number"),
    "frequency": ("frequency", "number"),
    "monetary": ("monetary", "number"),
    "avg_order_value": ("avg_order_value", "number"),
    "avg_days_between": ("avg_days_between", "number"),
    "first_purchase_at": ("first_purchase_at", "datetime"),
    "last_purchase_at": ("last_purchase_at", "datetime"),
    "r": ("r", "number"),
    "f": ("f", "number"),
    "m": ("m", "number"),
    "rfm_segment": ("rfm_segment", "text"),
    "churn_risk": ("churn_risk", "number"),
    "churn_band": ("churn_band", "text"),
    "predicted_clv": ("predicted_clv", "number"),
    "next_order_at": ("next_order_at", "date"),
    "activity_30": ("activity_30", "number"),
    "activity_90": ("activity_90", "number"),
    "days_since_activity": ("days_since_activity", "number"),
    "engagement_score": ("engagement_score", "number"),
    "engagement_band": ("engagement_band", "text"),
    "tier": ("tier", "text"),  # the loyalty tier's slug ('' for none)
    "visits_30": ("visits_30", "number"),
    "visits_90": ("visits_90", "number"),
    "visit_seconds": ("visit_seconds", "number"),
    "bounce_rate": ("bounce_rate", "number"),
    "visit_gap_days": ("visit_gap_days", "number"),
    "visit_conversion": ("visit_conversion", "number"),
    "churn_reason": ("churn_reason", "text"),  # the main driver's code (segments/reasons.py)
    "value_reason": ("value_reason", "text"),
    "country": ("client__country", "text"),
    "city": ("client__city", "text"),
    "gender": ("client__gender", "text"),
    "acquisition_channel": ("client__acquisition_channel", "text"),
    "first_seen": ("client__first_seen", "datetime"),
    "email_consent": ("client__email_consent", "bool"),
    "ads_consent": ("client__ads_consent", "bool"),
    "unsubscribed": ("client__unsubscribed_at__isnull", "negated-bool"),
    "has_email": ("client__email", "present"),
    "has_phone": ("client__phone", "present"),
}
# What people call each field (messages and the rule builder).
LABELS = {
    "recency_days": gettext_lazy("days since last order"),
    "frequency": gettext_lazy("orders"),
    "monetary": gettext_lazy("revenue"),
    "avg_order_value": gettext_lazy("average order"),
    "avg_days_between": gettext_lazy("average days between orders"),
    "first_purchase_at": gettext_lazy("first order"),
    "last_purchase_at": gettext_lazy("last order"),
    "r": gettext_lazy("R score"),
    "f": gettext_lazy("F score"),
    "m": gettext_lazy("M score"),
    "rfm_segment": gettext_lazy("RFM segment"),
    "churn_risk": gettext_lazy("churn risk"),
    "churn_band": gettext_lazy("churn band"),
    "predicted_clv": gettext_lazy("predicted value"),
    "next_order_at": gettext_lazy("expected next order"),
    "activity_30": gettext_lazy("activity, last 30 days"),
    "activity_90": gettext_lazy("activity, last 90 days"),
    "days_since_activity": gettext_lazy("days since last activity"),
    "engagement_score": gettext_lazy("engagement score"),
    "engagement_band": gettext_lazy("engagement band"),
    "tier": gettext_lazy("loyalty tier"),
    "visits_30": gettext_lazy("visits, last 30 days"),
    "visits_90": gettext_lazy("visits, last 90 days"),
    "visit_seconds": gettext_lazy("average seconds per visit"),
    "bounce_rate": gettext_lazy("bounce rate"),
    "visit_gap_days": gettext_lazy("median days between visits"),
    "visit_conversion": gettext_lazy("visit-to-order conversion"),
    "churn_reason": gettext_lazy("main reason for the churn risk"),
    "value_reason": gettext_lazy("main reason for the predicted value"),
    "country": gettext_lazy("country"),
    "city": gettext_lazy("city"),
    "gender": gettext_lazy("gender"),
    "acquisition_channel": gettext_lazy("acquisition channel"),
    "first_seen": gettext_lazy("first seen"),
    "email_consent": gettext_lazy("email consent"),
    "ads_consent": gettext_lazy("ads consent"),
    "unsubscribed": gettext_lazy("unsubscribed"),
    "has_email": gettext_lazy("has an email address"),
    "has_phone": gettext_lazy("has a phone number"),
}
# Text fields whose values come from a fixed list (the codes the scores store).
CHOICES = {
    "rfm_segment": list(SEGMENT_NAMES),
    "churn_band": list(BANDS),
    "engagement_band": list(BANDS),
    "gender": ["f", "m"],
    "churn_reason": list(reasons.CHURN_CODES),
    "value_reason": list(reasons.VALUE_CODES),
}
# Number fields with a range: churn risk is a share, so 66 (meant as 66%) is refused, not matched by nobody.
RANGES = {"churn_risk": (0, 1), "engagement_score": (0, 100), "bounce_rate": (0, 1), "visit_conversion": (0, 1)}
MONEY = ("monetary", "avg_order_value", "predicted_clv")
PERCENT = ("churn_risk", "bounce_rate", "visit_conversion")

OPERATORS = {"=": "exact", "!=": "exact", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte", "in": "in",
             "not in": "in", "is empty": "isnull", "more than days ago": "lt", "less than days ago": "gt"}
RELATIVE = ("more than days ago", "less than days ago")


class RuleError(ValueError):
    pass


def to_q(rule, today=None):
    """The Q object for a rule; RuleError names the condition that is wrong ("condition 2.1: ...",
    counting from 1 in reading order, nested groups after a dot) and says what is allowed.

    today: the date "N days ago" counts from (the shop's today by default; a night passes the day
    after its as-of date, so a recomputed night sees the dates it saw then)."""
    return _rule(rule, (), today or timezone.localdate())


def _where(path, group=False):
    if not path:
        return _("rule") if group else _("condition %(number)s") % {"number": 1}
    number = ".".join(str(i + 1) for i in path)
    return (_("group %(number)s") if group else _("condition %(number)s")) % {"number": number}


def _rule(rule, path, today):
    if not isinstance(rule, dict) or not rule:
        raise RuleError(_where(path, group=True) + ": " + _(
            "expected a condition {\"field\": ..., \"op\": ..., \"value\": ...} or an {\"all\": [...]} / "
            "{\"any\": [...]} group"))
    for group, combine in (("all", Q.__and__), ("any", Q.__or__)):
        if group in rule:
            parts = rule[group]
            if set(rule) != {group} or not isinstance(parts, list) or not parts:
                raise RuleError(_where(path, group=True) + ": " + _(
                    "'%(group)s' needs a non-empty list of conditions and nothing else beside it") % {"group": group})
            q = _rule(parts[0], (*path, 0), today)
            for i, part in enumerate(parts[1:], start=1):
                q = combine(q, _rule(part, (*path, i), today))
            return q
    return _condition(rule, path, today)


def _condition(rule, path, today):
    where = _where(path)
    unknown = set(rule) - {"field", "op", "value"}
    if unknown:
        raise RuleError(where + ": " + _("unknown key(s) %(keys)s; use field, op, value")
                        % {"keys": ", ".join(sorted(unknown))})
    name, op, value = rule.get("field"), rule.get("op", "="), rule.get("value")
    if name not in FIELDS:
        raise RuleError(where + ": " + _("%(name)s is not a field; choose from %(fields)s")
                        % {"name": repr(name), "fields": ", ".join(FIELDS)})
    label = LABELS[name]
    if op not in OPERATORS:
        raise RuleError(where + ": " + _("%(op)s is not an operator; choose from %(operators)s")
                        % {"op": repr(op), "operators": ", ".join(OPERATORS)})
    lookup, kind = FIELDS[name]
    if kind in ("bool", "negated-bool", "present"):
        if op != "=" or not isinstance(value, bool):
            raise RuleError(where + ": " + _("%(field)s takes op '=' and value true or false") % {"field": label})
        if kind == "negated-bool":
            return Q(**{lookup: not value})
        if kind == "present":
            return ~Q(**{lookup: ""}) if value else Q(**{lookup: ""})
        return Q(**{lookup: value})
    if op == "is empty":
        if not isinstance(value, bool):
            raise RuleError(where + ": " + _("'is empty' takes value true or false"))
        return Q(**{f"{lookup}__isnull": value}) if kind != "text" else (
            Q(**{lookup: ""}) if value else ~Q(**{lookup: ""}))
    if kind in ("date", "datetime"):
        return _date_condition(where, name, lookup, kind, op, value, today)
    if op in RELATIVE:
        raise RuleError(where + ": " + _("'%(op)s' is for dates; %(field)s is not a date") % {"op": op, "field": label})
    if op in ("in", "not in"):
        if not isinstance(value, list) or not value:
            raise RuleError(where + ": " + _("%(field)s: '%(op)s' needs a non-empty list of values")
                            % {"field": label, "op": op})
        for item in value:
            _check_value(item, name, kind, where)
    else:
        if kind == "text" and op not in ("=", "!="):
            raise RuleError(where + ": " + _("%(field)s is text; use =, !=, in, not in or is empty") % {"field": label})
        _check_value(value, name, kind, where)
    q = Q(**{f"{lookup}__{OPERATORS[op]}": value})
    return ~q if op in ("!=", "not in") else q


def _check_value(value, name, kind, where):
    label = LABELS[name]
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RuleError(where + ": " + _("%(field)s needs a number, got %(value)s")
                            % {"field": label, "value": repr(value)})
        low, high = RANGES.get(name, (None, None))
        if low is not None and not low <= value <= high:
            if name in PERCENT:
                message = _("%(field)s is a share from 0 to 1 (0.66 means 66%%), got %(value)s")
            else:
                message = _("%(field)s must be from %(low)s to %(high)s, got %(value)s")
            raise RuleError(where + ": " + message % {"field": label, "value": repr(value), "low": low, "high": high})
    if kind == "text":
        if not isinstance(value, str):
            raise RuleError(where + ": " + _("%(field)s needs text, got %(value)s")
                            % {"field": label, "value": repr(value)})
        if name in CHOICES and value not in CHOICES[name]:
            raise RuleError(where + ": " + _("%(field)s must be one of %(allowed)s (got %(value)s)")
                            % {"field": label, "allowed": ", ".join(CHOICES[name]), "value": repr(value)})


def _date_condition(where, name, lookup, kind, op, value, today):
    """Dates compare by the shop's calendar day: a time stamp on that day counts as that day."""
    label = LABELS[name]
    if op in RELATIVE:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise RuleError(where + ": " + _("%(field)s: '%(op)s' needs a whole number of days (0 or more), "
                                             "got %(value)s") % {"field": label, "op": op, "value": repr(value)})
        day, op = today - dt.timedelta(days=value), "<" if op == "more than days ago" else ">"
    elif op in ("=", "!=", "<", "<=", ">", ">="):
        try:
            day = dt.date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
        except ValueError:
            day = None
        if day is None:
            raise RuleError(where + ": " + _("%(field)s needs a date as YYYY-MM-DD, got %(value)s")
                            % {"field": label, "value": repr(value)})
    else:
        raise RuleError(where + ": " + _("%(field)s is a date; use =, !=, <, <=, >, >=, more than days ago, "
                                         "less than days ago or is empty") % {"field": label})
    if kind == "date":
        q = Q(**{f"{lookup}__{OPERATORS.get(op, 'exact')}": day})
        return ~q if op == "!=" else q
    start, end = _day_start(day), _day_start(day + dt.timedelta(days=1))
    q = {"=": Q(**{f"{lookup}__gte": start, f"{lookup}__lt": end}),
         "!=": Q(**{f"{lookup}__lt": start}) | Q(**{f"{lookup}__gte": end}),
         "<": Q(**{f"{lookup}__lt": start}), "<=": Q(**{f"{lookup}__lt": end}),
         ">": Q(**{f"{lookup}__gte": end}), ">=": Q(**{f"{lookup}__gte": start})}[op]
    return q


def _day_start(day):
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), timezone.get_current_timezone())
