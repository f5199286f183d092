"""Rule-based segments: a JSON rule of conditions combined with AND / OR groups, turned into a
Django Q over the current scores (and the client's own fields), evaluated set-based.

A rule is either a condition or a group:
    {"field": "rfm_segment", "op": "in", "value": ["at-risk", "cant-lose-them"]}
    {"all": [rule, ...]}   every part holds (AND)
    {"any": [rule, ...]}   at least one part holds (OR)
Example: at-risk or can't-lose-them clients worth more than 5,000 who accept email:
    {"all": [{"field": "rfm_segment", "op": "in", "value": ["at-risk", "cant-lose-them"]},
             {"field": "predicted_clv", "op": ">", "value": 5000},
             {"field": "email_consent", "op": "=", "value": true}]}
"""

from django.db.models import Q
from django.utils.translation import gettext as _

# Field name in a rule -> (lookup path on ClientScore, kind of value)
FIELDS = {
    "recency_days": ("recency_days", "number"),
    "frequency": ("frequency", "number"),
    "monetary": ("monetary", "number"),
    "avg_order_value": ("avg_order_value", "number"),
    "avg_days_between": ("avg_days_between", "number"),
    "r": ("r", "number"),
    "f": ("f", "number"),
    "m": ("m", "number"),
    "rfm_segment": ("rfm_segment", "text"),
    "churn_risk": ("churn_risk", "number"),
    "churn_band": ("churn_band", "text"),
    "predicted_clv": ("predicted_clv", "number"),
    "activity_30": ("activity_30", "number"),
    "activity_90": ("activity_90", "number"),
    "days_since_activity": ("days_since_activity", "number"),
    "engagement_score": ("engagement_score", "number"),
    "engagement_band": ("engagement_band", "text"),
    "tier": ("tier", "text"),  # the loyalty tier's slug ('' for none)
    "country": ("client__country", "text"),
    "city": ("client__city", "text"),
    "gender": ("client__gender", "text"),
    "acquisition_channel": ("client__acquisition_channel", "text"),
    "email_consent": ("client__email_consent", "bool"),
    "ads_consent": ("client__ads_consent", "bool"),
    "unsubscribed": ("client__unsubscribed_at__isnull", "negated-bool"),
    "has_email": ("client__email", "present"),
    "has_phone": ("client__phone", "present"),
}
OPERATORS = {"=": "exact", "!=": "exact", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte", "in": "in",
             "not in": "in", "is empty": "isnull"}


class RuleError(ValueError):
    pass


def to_q(rule, path="rule"):
    """The Q object for a rule; RuleError names the part of the rule that is wrong."""
    if not isinstance(rule, dict) or not rule:
        raise RuleError(f"{path}: " + _("expected a condition or an {'all': [...]} / {'any': [...]} group"))
    for group, combine in (("all", Q.__and__), ("any", Q.__or__)):
        if group in rule:
            parts = rule[group]
            if set(rule) != {group} or not isinstance(parts, list) or not parts:
                raise RuleError(f"{path}.{group}: " + _("expected a non-empty list of conditions and nothing else"))
            q = to_q(parts[0], f"{path}.{group}[0]")
            for i, part in enumerate(parts[1:], start=1):
                q = combine(q, to_q(part, f"{path}.{group}[{i}]"))
            return q
    return _condition(rule, path)


def _condition(rule, path):
    unknown = set(rule) - {"field", "op", "value"}
    if unknown:
        raise RuleError(f"{path}: " + _("unknown key(s) %(keys)s; use field, op, value")
                        % {"keys": ", ".join(sorted(unknown))})
    name, op, value = rule.get("field"), rule.get("op", "="), rule.get("value")
    if name not in FIELDS:
        raise RuleError(f"{path}.field: " + _("%(name)s is not a field; choose from %(fields)s")
                        % {"name": repr(name), "fields": ", ".join(FIELDS)})
    if op not in OPERATORS:
        raise RuleError(f"{path}.op: " + _("%(op)s is not an operator; choose from %(operators)s")
                        % {"op": repr(op), "operators": ", ".join(OPERATORS)})
    lookup, kind = FIELDS[name]
    if kind in ("bool", "negated-bool", "present"):
        if op != "=" or not isinstance(value, bool):
            raise RuleError(f"{path}: " + _("%(name)s takes op '=' and value true or false") % {"name": name})
        if kind == "negated-bool":
            return Q(**{lookup: not value})
        if kind == "present":
            return ~Q(**{lookup: ""}) if value else Q(**{lookup: ""})
        return Q(**{lookup: value})
    if op == "is empty":
        if not isinstance(value, bool):
            raise RuleError(f"{path}: " + _("'is empty' takes value true or false"))
        return Q(**{f"{lookup}__isnull": value}) if kind == "number" else (
            Q(**{lookup: ""}) if value else ~Q(**{lookup: ""}))
    if op in ("in", "not in"):
        if not isinstance(value, list) or not value:
            raise RuleError(f"{path}.value: " + _("'%(op)s' needs a non-empty list") % {"op": op})
        for item in value:
            _check_value(item, kind, path)
    else:
        _check_value(value, kind, path)
        if kind == "text" and op not in ("=", "!="):
            raise RuleError(f"{path}.op: " + _("%(name)s is text; use =, !=, in or not in") % {"name": name})
    q = Q(**{f"{lookup}__{OPERATORS[op]}": value})
    return ~q if op in ("!=", "not in") else q


def _check_value(value, kind, path):
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise RuleError(f"{path}.value: " + _("expected a number, got %(value)s") % {"value": repr(value)})
    if kind == "text" and not isinstance(value, str):
        raise RuleError(f"{path}.value: " + _("expected text, got %(value)s") % {"value": repr(value)})
