"""A journey's definition: its steps as a graph, in JSON, read and checked without the database.

    {"start": "hello",
     "steps": [{"id": "hello", "kind": "email", "template": "Welcome", "next": "wait"},
               {"id": "wait", "kind": "wait", "days": 2, "next": "bought"},
               {"id": "bought", "kind": "wait_event", "event": "order", "timeout_days": 5,
                "happened": "end", "timed_out": "offer"}, ...]}

Each step names the step after it (`next`, or its branches' exits); a step with no `next` ends the
journey there. `check` returns every problem, each naming its step, so the admin, the import and
activation refuse a definition for the same reasons; what needs the database (do the templates and
segments exist?) is asked through the `known` callbacks.
"""

from dataclasses import dataclass, field

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from segments.rules import RuleError, to_q

# kind -> the keys naming the steps it may go to; branch kinds need every one of theirs.
EXITS = {
    "email": ("next",),
    "wait": ("next",),
    "wait_until": ("next",),
    "wait_event": ("happened", "timed_out"),
    "condition": ("yes", "no"),
    "split": (),  # its branches' "next"
    "audience": ("next",),
    "points": ("next",),
    "webhook": ("next", "failed"),
    "exit": (),
}
BRANCHES = {"wait_event": ("happened", "timed_out"), "condition": ("yes", "no")}
WAITS = ("wait", "wait_until", "wait_event")
EVENTS = ("order", "open", "click", "activity")
KIND_LABELS = {  # translated where shown
    "email": gettext_noop("email"), "wait": gettext_noop("wait"), "wait_until": gettext_noop("wait until"),
    "wait_event": gettext_noop("wait for an event"), "condition": gettext_noop("condition"),
    "split": gettext_noop("random split"), "audience": gettext_noop("ad audience"), "points": gettext_noop("points"),
    "webhook": gettext_noop("webhook"), "exit": gettext_noop("exit"),
}


class DefinitionError(ValueError):
    """A definition that may not be used; `problems` lists each one, naming its step."""

    def __init__(self, problems):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class Known:
    """What the database has, for the checks that need it: the names of the email templates and the
    slugs of the segments journeys may fill (kind "journey")."""

    templates: set = field(default_factory=set)
    audience_segments: set = field(default_factory=set)


def steps_by_id(definition):
    return {step.get("id"): step for step in definition.get("steps", []) if isinstance(step, dict)}


def exits(step):
    """[(branch label, next step id)] of a step; the id may be None (the journey ends there)."""
    kind = step.get("kind")
    if kind == "split":
        return [(f"{b.get('percent')}%", b.get("next")) for b in step.get("branches", [])]
    return [(key, step.get(key)) for key in EXITS.get(kind, ())]


def check(definition, known=None):
    """Every problem of the definition as a message naming its step; [] when it may run."""
    if not isinstance(definition, dict) or not isinstance(definition.get("steps"), list):
        return [_("The definition needs a list of steps.")]
    problems = []
    steps = {}
    for n, step in enumerate(definition["steps"], 1):
        sid = step.get("id") if isinstance(step, dict) else None
        if not sid or not isinstance(sid, str):
            problems.append(_("Step number %(n)d has no id.") % {"n": n})
        elif sid in steps:
            problems.append(_("Step %(step)s: the id is used twice.") % {"step": repr(sid)})
        else:
            steps[sid] = step
    if not steps:
        return problems or [_("The journey has no steps.")]
    start = definition.get("start")
    if start not in steps:
        problems.append(_("The start step %(step)s is not one of the steps.") % {"step": repr(start)})
    for sid, step in steps.items():
        problems += [_("Step %(step)s: %(problem)s") % {"step": repr(sid), "problem": p}
                     for p in _step_problems(step, steps, known)]
    if start in steps:
        seen = reachable(steps, start)
        problems += [_("Step %(step)s cannot be reached from the start.") % {"step": repr(sid)}
                     for sid in steps if sid not in seen]
    loop = loop_without_wait(steps)
    if loop:
        problems.append(_("Steps %(steps)s make a loop without a wait: a client would go round it at once, "
                          "for ever.") % {"steps": " → ".join(repr(s) for s in loop)})
    return problems


def _step_problems(step, steps, known):
    kind = step.get("kind")
    if kind not in EXITS:
        return [_("unknown kind %(kind)s; known: %(kinds)s") % {"kind": repr(kind), "kinds": ", ".join(EXITS)}]
    out = []
    for label, target in exits(step):
        if target is not None and target not in steps:
            out.append(_("%(exit)s goes to %(target)s, which is not a step") % {"exit": label, "target": repr(target)})
    for branch in BRANCHES.get(kind, ()):
        if step.get(branch) is None:
            out.append(_("a branch needs both exits; %(exit)s is missing") % {"exit": repr(branch)})
    out += globals()[f"_check_{kind}"](step, known)
    return out


def _number(step, key, minimum=0, integer=False, required=True):
    value = step.get(key)
    if value is None:
        return [_("%(key)s is required") % {"key": repr(key)}] if required else []
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
        return [_("%(key)s must be a number, not %(value)s") % {"key": repr(key), "value": repr(value)}]
    if value < minimum:
        return [_("%(key)s must be at least %(min)s") % {"key": repr(key), "min": minimum}]
    return []


def _template(name, known):
    if not name or not isinstance(name, str):
        return [_("an email step needs a template")]
    if known is not None and name not in known.templates:
        return [_("template %(name)s does not exist") % {"name": repr(name)}]
    return []


def _check_email(step, known):
    out = _template(step.get("template"), known)
    variants = step.get("variants") or []
    if variants:
        for variant in variants:
            if variant.get("template"):
                out += _template(variant["template"], known)
            out += _number(variant, "weight", 1, integer=True)
        names = [v.get("name") for v in variants]
        if len(set(names)) != len(names) or not all(names):
            out.append(_("each A/B variant needs a name of its own"))
        if sum(v.get("weight") or 0 for v in variants if isinstance(v.get("weight"), int)) != 100:
            out.append(_("the A/B variants' splits must add up to 100"))
    return out


def _check_wait(step, known):
    out = _number(step, "days", 0, required=False) + _number(step, "hours", 0, required=False)
    if not out and not (step.get("days") or step.get("hours")):
        out.append(_("a wait needs days or hours (more than 0)"))
    return out


def _check_wait_until(step, known):
    out = []
    if step.get("weekday") not in range(1, 8):
        out.append(_("'weekday' must be 1 (Monday) to 7 (Sunday)"))
    if step.get("hour") not in range(24):
        out.append(_("'hour' must be 0 to 23"))
    return out


def _check_wait_event(step, known):
    out = _number(step, "timeout_days", 0)
    if not out and not step["timeout_days"]:
        out.append(_("'timeout_days' must be more than 0"))
    if step.get("event") not in EVENTS:
        out.append(_("'event' must be one of %(events)s") % {"events": ", ".join(EVENTS)})
    if step.get("event") == "activity" and not step.get("activity_kind"):
        out.append(_("waiting for an activity needs its 'activity_kind'"))
    return out


JOURNEY_EVENTS = ("sent", "opened", "clicked")


def _check_condition(step, known):
    """A rule over the scores and fields, and/or `journey`: {"step": an email step's id, "event": sent,
    opened or clicked}, what happened to this client's email of that step in this journey."""
    out = []
    if "rule" in step or "journey" not in step:
        try:
            to_q(step.get("rule"))
        except RuleError as exc:
            out.append(_("its rule: %(error)s") % {"error": exc})
    if "journey" in step:
        happened = step["journey"] if isinstance(step["journey"], dict) else {}
        if happened.get("event") not in JOURNEY_EVENTS:
            out.append(_("'journey' needs an 'event': %(events)s") % {"events": ", ".join(JOURNEY_EVENTS)})
        if not happened.get("step"):
            out.append(_("'journey' needs the 'step' of an email"))
    return out


def _check_split(step, known):
    branches = step.get("branches")
    if not isinstance(branches, list) or len(branches) < 2:
        return [_("a random split needs at least two branches")]
    out = []
    for branch in branches:
        out += _number(branch, "percent", 1, integer=True)
    if not out and sum(b["percent"] for b in branches) != 100:
        out.append(_("the branches' percentages must add up to 100"))
    return out


def _check_audience(step, known):
    out = []
    if step.get("action") not in ("add", "remove"):
        out.append(_("'action' must be add or remove"))
    slug = step.get("segment")
    if not slug:
        out.append(_("an ad audience step needs the segment it fills"))
    elif known is not None and slug not in known.audience_segments:
        out.append(_("segment %(slug)s does not exist or is not a segment fed by journeys") % {"slug": repr(slug)})
    return out


def _check_points(step, known):
    out = _number(step, "points", -10**9, integer=True)
    if not out and step["points"] == 0:
        out.append(_("'points' must not be 0 (negative takes points away)"))
    return out


def _check_webhook(step, known):
    url = step.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return [_("'url' must be an http:// or https:// address")]
    return _number(step, "retries", 0, integer=True, required=False)


def _check_exit(step, known):
    return []


def reachable(steps, start):
    seen, todo = set(), [start]
    while todo:
        sid = todo.pop()
        if sid in seen or sid not in steps:
            continue
        seen.add(sid)
        todo += [target for _label, target in exits(steps[sid]) if target]
    return seen


def loop_without_wait(steps):
    """The steps of a cycle none of whose steps waits, or None: depth-first over the non-waiting steps."""
    graph = {sid: [t for _l, t in exits(step) if t in steps and steps[t].get("kind") not in WAITS]
             for sid, step in steps.items() if step.get("kind") not in WAITS}
    state, path = {}, []

    def visit(sid):
        state[sid] = "open"
        path.append(sid)
        for target in graph.get(sid, ()):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        state[sid] = "closed"
        path.pop()
        return None

    for sid in graph:
        if sid not in state and (found := visit(sid)):
            return found
    return None


def templates_named(definition):
    """Every template name the definition's email steps use."""
    names = set()
    for step in steps_by_id(definition).values():
        if step.get("kind") == "email":
            names.add(step.get("template"))
            names.update(v["template"] for v in step.get("variants") or [] if v.get("template"))
    return names - {None}
