"""The model page of a night (its scoring run's page): every model's and baseline's back-test figures,
the churn model's reliability diagram, and a warning where a model did noticeably worse than on the
nights before."""

import statistics

from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import notes

# Churn: (name, metrics key of its AUC, of its Brier score); the shipped model first.
CHURN_MODELS = (
    (_("shipped model"), "auc", "brier"),
    (_("logistic regression on RFM"), "logistic_auc", "logistic_brier"),
    (_("recency alone"), "baseline_auc", "baseline_brier"),
    (_("BG/NBD"), "bgnbd_auc", "bgnbd_brier"),
)
PREVIOUS_NIGHTS = 7  # a night is compared with the median of up to this many succeeded nights before it
# (part, figure, how much worse counts as "noticeably", True where higher is better); figures of the
# shipped model: AUC and Brier score of churn, MAE and Spearman of the value model's chosen candidate.
FALLS = (
    ("churn", "auc", 0.02, True),
    ("churn", "brier", 0.10, False),  # relative
    ("value", "spearman", 0.05, True),
    ("value", "mae", 0.15, False),  # relative
)
FIGURE_NAMES = {"auc": _("AUC"), "brier": _("Brier score"), "spearman": _("Spearman rank correlation"),
                "mae": _("MAE")}


def _cell(value, decimals=3):
    return notes.number(value, decimals) if value is not None else "-"


def churn_table(metrics):
    churn = metrics.get("churn") or {}
    if churn.get("auc") is None:
        return ""
    rows = [(name, _cell(churn.get(auc)), _cell(churn.get(brier), 4)) for name, auc, brier in CHURN_MODELS]
    return format_html(
        "<table><tr><th>{}</th><th>{}</th><th>{}</th></tr>{}</table><p>{}</p>",
        gettext("churn risk"), gettext("AUC"), gettext("Brier score"),
        format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        gettext("Calibration error (ECE) of the shipped model: %(ece)s") % {"ece": _cell(churn.get("ece"), 4)})


def value_table(metrics):
    value = metrics.get("value") or {}
    candidates = value.get("candidates") or {}
    if not candidates:
        return ""
    rows = [(gettext(notes.METHODS.get(name, name)) + (" ✓" if name == value.get("chosen") else ""),
             _cell(figures.get("mae"), 2), _cell(figures.get("spearman")), _cell(figures.get("total_ratio")))
            for name, figures in candidates.items()]
    return format_html(
        "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{}</table><p>{}</p>",
        gettext("predicted value (back-test over %(days)s days)") % {"days": value.get("window_days", "-")},
        gettext("MAE"), gettext("Spearman rank correlation"), gettext("predicted / actual revenue"),
        format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        gettext("✓ shipped; its predictions are multiplied by %(factor)s so that the total matches the "
                "back-test's") % {"factor": _cell(value.get("calibration"))})


def reliability_svg(metrics, size=240):
    """Predicted (x) against observed (y) churn by band of predicted risk, as an SVG drawn here (no
    script, no style: the page's Content Security Policy allows it as it is)."""
    points = (metrics.get("churn") or {}).get("reliability") or []
    if not points:
        return ""
    pad, inner = 30, size - 40

    def at(p, o):  # as text: format_html escapes its arguments into strings first
        return f"{pad + p * inner:.1f}", f"{size - pad - o * inner:.1f}"

    biggest = max(n for _, _, n in points)
    dots = format_html_join("", '<circle cx="{}" cy="{}" r="{}" fill="#417690"><title>{}</title></circle>',
                            ((*at(p, o), f"{2 + 5 * (n / biggest) ** 0.5:.1f}",
                              gettext("predicted %(p)s, observed %(o)s, %(n)s clients") % {
                                  "p": _cell(p, 2), "o": _cell(o, 2), "n": notes.number(n, 0)})
                             for p, o, n in points))
    line = " ".join(",".join(at(p, o)) for p, o, _ in points)
    x0, y0 = at(0, 0)
    x1, y1 = at(1, 1)
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" width="{s}" height="{s}" viewBox="0 0 {s} {s}" role="img" '
        'aria-label="{label}">'
        '<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="#999" stroke-dasharray="4 3"/>'
        '<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#333"/>'
        '<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#333"/>'
        '<polyline points="{line}" fill="none" stroke="#417690"/>{dots}'
        '<text x="{mid}" y="{bottom}" text-anchor="middle" font-size="11">{xlabel}</text>'
        '<text x="10" y="{mid}" text-anchor="middle" font-size="11" transform="rotate(-90 10 {mid})">{ylabel}</text>'
        "</svg>",
        s=size, label=gettext("reliability diagram"), x0=x0, y0=y0, x1=x1, y1=y1, line=line, dots=dots,
        mid=size / 2, bottom=size - 8, xlabel=gettext("predicted churn"), ylabel=gettext("observed churn"))


def _figure(metrics, part, key):
    value = (metrics.get(part) or {}).get(key)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def quality_falls(run, previous_runs):
    """Sentences for each figure of the shipped models that is noticeably worse tonight than the median
    of the previous nights (FALLS says by how much)."""
    out = []
    for part, key, tolerance, higher_is_better in FALLS:
        tonight = _figure(run.metrics, part, key)
        before = [v for r in previous_runs if (v := _figure(r.metrics, part, key)) is not None]
        if tonight is None or not before:
            continue
        usual = statistics.median(before)
        worse = usual - tonight if higher_is_better else tonight - usual
        limit = tolerance if higher_is_better else tolerance * abs(usual)
        if worse > limit:
            out.append(gettext("%(part)s: %(figure)s %(tonight)s, against %(usual)s on the previous %(n)s nights "
                               "(median)") % {
                "part": notes.PARTS[part], "figure": FIGURE_NAMES[key], "tonight": _cell(tonight, 4),
                "usual": _cell(usual, 4), "n": len(before)})
    return out
