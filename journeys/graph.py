"""The journey drawn as an SVG diagram on the server (no script, no outside file): steps in rows by
their distance from the start, each box with its kind and counts, each exit an arrow labelled with
the branch and how many took it. Pure functions of the definition and the counts."""

from django.utils.html import escape
from django.utils.translation import gettext

from .definition import KIND_LABELS, exits, steps_by_id

BOX_W, BOX_H, GAP_X, GAP_Y = 200, 74, 40, 56
# Colours as SVG attributes (not inline style, which the Content Security Policy would refuse).
FILL = {"email": "#e3f1e3", "wait": "#fdf3dc", "wait_until": "#fdf3dc", "wait_event": "#fdf3dc",
        "condition": "#e8e4f6", "split": "#e8e4f6", "exit": "#f1e1e1"}


def layout(definition):
    """{step id: (column, row)}: rows by breadth-first distance from the start, unreachable steps last."""
    steps = steps_by_id(definition)
    rows, order, todo = {}, [], [(definition.get("start"), 0)]
    while todo:
        sid, row = todo.pop(0)
        if sid not in steps or sid in rows:
            continue
        rows[sid] = row
        order.append(sid)
        todo += [(target, row + 1) for _label, target in exits(steps[sid]) if target]
    last = max(rows.values(), default=-1)
    for sid in steps:
        if sid not in rows:
            rows[sid] = last + 1
            order.append(sid)
    columns, place = {}, {}
    for sid in order:
        place[sid] = (columns.get(rows[sid], 0), rows[sid])
        columns[rows[sid]] = columns.get(rows[sid], 0) + 1
    return place


def _box(sid, step, x, y, counts):
    kind = gettext(KIND_LABELS.get(step.get("kind"), str(step.get("kind"))))
    lines = [f"{escape(sid)}", escape(kind + _detail(step))]
    if counts:
        lines.append(escape(counts))
    classes = ["step-id", "step-kind", "step-counts"]
    weight = ' font-weight="bold"'
    text = "".join(f'<text x="{x + 10}" y="{y + 20 + 18 * n}" class="{classes[n]}" font-size="13" fill="#222"'
                   f'{weight if n == 0 else ""}>{line}</text>' for n, line in enumerate(lines))
    return (f'<g class="step step-{escape(step.get("kind", ""))}" data-step="{escape(sid)}">'
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" '
            f'fill="{FILL.get(step.get("kind"), "#eef2f7")}" '
            f'stroke="#79aec8"/>{text}</g>')


def _detail(step):
    kind = step.get("kind")
    if kind == "email":
        return f": {step.get('template')}" + (f" (+{len(step['variants'])} A/B)" if step.get("variants") else "")
    if kind == "wait":
        return f" {step.get('days') or 0} d {step.get('hours') or 0} h"
    if kind == "wait_until":
        return f" day {step.get('weekday')} {step.get('hour')}:00"
    if kind == "wait_event":
        return f": {step.get('event')}, {step.get('timeout_days')} d"
    if kind == "audience":
        return f": {step.get('action')} {step.get('segment')}"
    if kind == "points":
        return f" {step.get('points'):+}" if isinstance(step.get("points"), int) else ""
    return ""


def svg(definition, box_counts=None, branch_counts=None):
    """The diagram; box_counts: {step id: text under the box}; branch_counts: {(step id, outcome): n}."""
    steps, place = steps_by_id(definition), layout(definition)
    box_counts, branch_counts = box_counts or {}, branch_counts or {}
    if not place:
        return ""
    width = (max(c for c, _r in place.values()) + 1) * (BOX_W + GAP_X) + GAP_X
    height = (max(r for _c, r in place.values()) + 1) * (BOX_H + GAP_Y) + GAP_Y

    def corner(sid):
        column, row = place[sid]
        return GAP_X + column * (BOX_W + GAP_X), GAP_Y // 2 + row * (BOX_H + GAP_Y)

    parts = []
    for sid, step in steps.items():
        x1, y1 = corner(sid)
        branches = exits(step)
        for n, (label, target) in enumerate(branches):
            if target not in place:
                continue
            x2, y2 = corner(target)
            sx = x1 + BOX_W * (n + 1) / (len(branches) + 1)
            # The StepRun outcome of this exit: the branch's key, or a split's share and number.
            outcome = f"{label}#{n + 1}" if step.get("kind") == "split" else label
            taken = branch_counts.get((sid, outcome), 0)
            caption = escape(f"{label}: {taken}" if len(branches) > 1 or taken else label)
            if y2 > y1:
                path = f"M{sx},{y1 + BOX_H} L{x2 + BOX_W / 2},{y2}"
                lx, ly = (sx + x2 + BOX_W / 2) / 2 + 4, (y1 + BOX_H + y2) / 2
            else:  # back to an earlier row: round the side
                right = max(x1, x2) + BOX_W + GAP_X / 2
                path = (f"M{x1 + BOX_W},{y1 + BOX_H / 2} C{right + 30},{y1 + BOX_H / 2} {right + 30},"
                        f"{y2 + BOX_H / 2} {x2 + BOX_W},{y2 + BOX_H / 2}")
                lx, ly = right + 10, (y1 + y2) / 2 + BOX_H / 2
            parts.append(f'<path class="edge" d="{path}" fill="none" stroke="#888" stroke-width="1.5" '
                         f'marker-end="url(#arrow)"/><text class="edge-label" x="{lx}" y="{ly}" font-size="12" '
                         f'fill="#555">{caption}</text>')
    for sid, step in steps.items():
        parts.append(_box(sid, step, *corner(sid), box_counts.get(sid, "")))
    return (f'<svg class="journey-graph" xmlns="http://www.w3.org/2000/svg" width="{width + 80}" height="{height}" '
            f'viewBox="0 0 {width + 80} {height}" role="img"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" '
            f'refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#888"/>'
            f'</marker></defs>'
            + "".join(parts) + "</svg>")
