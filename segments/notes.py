"""What a scoring run says about its models, in the reader's language.

The night runs in one language, but its notes are read in the admin in each user's own: a note is
kept as its message and values (`Note.as_json`), and `render` says it again in the current language
with numbers written as that language writes them ("0,906" in Russian). Notes of older runs, kept as
plain text, are shown as they are. The metric keys and model methods get names here too.
"""

import re

from django.utils import formats
from django.utils.translation import gettext, gettext_lazy, gettext_noop

_FLOAT = re.compile(r"%\((\w+)\)\.(\d)f")
_INT = re.compile(r"%\((\w+)\)d")


class Note(str):
    """A translated message that remembers its message id and values: use it as `_` is used,
    `_("... %(n)d ...") % {"n": 3}`. It is the text in the current language meanwhile."""

    def __new__(cls, message, values=None):
        text = gettext(message)
        note = super().__new__(cls, text % values if values is not None else text)
        note.message, note.values = message, values
        return note

    def __mod__(self, values):
        return Note(self.message, values)

    def as_json(self):
        """JSON-safe: only the values the message names, numpy numbers as Python ones, NaN as None."""
        names = set(re.findall(r"%\((\w+)\)", self.message))
        return {"message": self.message,
                "values": {key: _plain(value) for key, value in (self.values or {}).items() if key in names}}


def _plain(value):
    if isinstance(value, Note):
        return value.as_json()
    if hasattr(value, "item"):  # a numpy number
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def stored(note):
    """What run.notes keeps of a note: its message and values when it has them, else its text."""
    return note.as_json() if isinstance(note, Note) else str(note)


def number(value, decimals):
    """A number as the current language writes it (decimal comma and grouped thousands in Russian)."""
    if value is None or (isinstance(value, float) and value != value):  # NaN (kept as None): no figure
        return "-"
    return formats.number_format(value, decimals, use_l10n=True, force_grouping=True)


def render(note):
    """A kept note (dict or older plain text) in the current language."""
    if not isinstance(note, dict):
        return str(note)
    values = {key: render(value) if isinstance(value, dict) else value for key, value in note["values"].items()}
    text = gettext(note["message"])
    # Numbers through the language's formats: %(auc).3f -> "0,906", %(n)d -> "12 000".
    for name, decimals in _FLOAT.findall(text):
        values[name] = number(values[name], int(decimals))
    for name in _INT.findall(text):
        values[name] = number(values[name], 0)
    text = _INT.sub(r"%(\1)s", _FLOAT.sub(r"%(\1)s", text))
    return text % values if values else text


# Notes that earlier runs kept and tonight's code no longer writes: kept in the catalogue so that an
# older run's page still reads in the reader's language.
EARLIER_NOTES = (
    gettext_noop("rule used: the model needs at least two fully observed past windows (one to train, the newest to "
                 "check it), got %(n)d"),
    gettext_noop("rule used: only %(n)d training rows (clients with an order before a cut-off), need %(need)d"),
    gettext_noop("rule used: the training window(s) have %(buyers)d buyers and %(others)d non-buyers, need at least "
                 "%(need)d of each"),
    gettext_noop("rule used: the test window(s) have %(buyers)d buyers and %(others)d non-buyers, need at least "
                 "%(need)d of each"),
    gettext_noop("BG/NBD + Gamma-Gamma used: %(reason)s"),
    gettext_noop("rule used (average daily spend x horizon): %(reason)s; BG/NBD + Gamma-Gamma could not be fitted "
                 "(%(why)s)"),
    gettext_noop("the model's back-test MAE %(mae).2f was no better than BG/NBD + Gamma-Gamma's %(baseline_mae).2f"),
    gettext_noop("model: boosted trees (Poisson loss, order value as exposure) on aggregates + BG/NBD/Gamma-Gamma over "
                 "%(cutoffs)d cut-offs; back-test on the newest window MAE %(mae).2f (BG/NBD+GG %(baseline_mae).2f); "
                 "prospects get the prior %(prior).2f"),
)

# Message ids: a note names its method as Note(METHODS[method]), the page as gettext(METHODS[method]).
METHODS = {"model": gettext_noop("model"), "rule": gettext_noop("rule"), "bgnbd": gettext_noop("BG/NBD"),
           "bgnbd_gg": gettext_noop("BG/NBD + Gamma-Gamma"), "pareto_gg": gettext_noop("Pareto/NBD + Gamma-Gamma"),
           "short_model": gettext_noop("model on short windows")}

# The back-test's figures, as the run page and the dashboard name them (keys of ScoringRun.metrics).
METRICS = {
    "method": gettext_lazy("method"), "auc": gettext_lazy("AUC"), "brier": gettext_lazy("Brier score"),
    "ece": gettext_lazy("calibration error (ECE)"), "baseline_auc": gettext_lazy("AUC of recency alone"),
    "baseline_brier": gettext_lazy("Brier score of recency alone"), "bgnbd_auc": gettext_lazy("AUC of BG/NBD"),
    "bgnbd_brier": gettext_lazy("Brier score of BG/NBD"), "base_rate": gettext_lazy("share who churned"),
    "n_train": gettext_lazy("training rows"), "n_test": gettext_lazy("test rows"),
    "n_fit": gettext_lazy("rows of the shipped model"), "cutoffs": gettext_lazy("cut-offs"),
    "mae": gettext_lazy("MAE"), "baseline_mae": gettext_lazy("MAE of BG/NBD + Gamma-Gamma"),
    "rmse": gettext_lazy("RMSE"), "baseline_rmse": gettext_lazy("RMSE of BG/NBD + Gamma-Gamma"),
    "total_ratio": gettext_lazy("predicted / actual revenue"),
    "logistic_auc": gettext_lazy("AUC of logistic regression on RFM"),
    "logistic_brier": gettext_lazy("Brier score of logistic regression on RFM"),
    "spearman": gettext_lazy("Spearman rank correlation"), "chosen": gettext_lazy("chosen candidate"),
    "calibration": gettext_lazy("calibration factor of the total"),
    "window_days": gettext_lazy("back-test window, days"),
}
# A run's counts (ScoringRun.counts) and stages (ScoringRun.stage_seconds, nightly/pipeline.py).
COUNTS = {"clients": gettext_lazy("clients"), "buyers": gettext_lazy("buyers"), "prospects": gettext_lazy("prospects"),
          "entered": gettext_lazy("segment entries"), "left": gettext_lazy("segment exits")}
STAGES = {"read": gettext_lazy("read"), "models": gettext_lazy("models"),
          "recommendations": gettext_lazy("recommendations"), "loyalty": gettext_lazy("loyalty"),
          "write scores": gettext_lazy("write scores"), "segments": gettext_lazy("segments")}
PARTS = {"churn": gettext_lazy("churn risk"), "value": gettext_lazy("predicted value")}


def metric_value(key, value):
    """One figure of the back-test as the page shows it: counts whole, the rest to three decimals."""
    if key in ("method", "chosen"):
        return gettext(METHODS[value]) if value in METHODS else value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return number(value, 0 if isinstance(value, int) else 3)


def metric_rows(metrics):
    """[(part, name, figure)] of a run's metrics, named and formatted for the current language."""
    return [(PARTS.get(part, part), METRICS.get(key, key), metric_value(key, value))
            for part in ("churn", "value") for key, value in metrics.get(part, {}).items()
            if not isinstance(value, dict | list)]  # candidates and reliability bands: the model page shows them
