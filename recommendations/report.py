"""The recommender's page as figures: the last nights' back-test per candidate model, which one was
shipped, the products recommended most, and a warning when one product is in too many lists. Reads
what the nightly runs stored (ScoringRun.metrics["recommendations"]); nothing is computed here."""

from dataclasses import dataclass, field

from django.utils import formats
from django.utils.translation import gettext

from crm.models import Product
from segments.models import ScoringRun

NIGHTS = 14
# A product in more than this share of lists: the recommender says the same thing to most clients.
DOMINANT_SHARE = 0.30
MEASURES = ("hit_rate@3", "hit_rate@10", "recall@3", "recall@10", "coverage")


def percent(share):
    """0.4567 -> "45.7 %" in the active language; "—" where the night did not measure it."""
    if share is None:
        return "—"
    return f"{formats.number_format(round(float(share) * 100, 1), 1, use_l10n=True)} %"


@dataclass
class Night:
    run: ScoringRun
    method: str
    rewritten: int
    # (candidate, shipped?, {measure: share}, clients)
    candidates: list = field(default_factory=list)


@dataclass
class Report:
    nights: list
    # (name, sku, share) of the newest night, most recommended first
    top_products: list

    @property
    def dominant(self):
        """The top products above DOMINANT_SHARE, as (name, sku, share)."""
        return [row for row in self.top_products if row[2] > DOMINANT_SHARE]

    def warnings(self):
        return [gettext("One product dominates: %(product)s is recommended to %(share)s of clients.")
                % {"product": name or sku, "share": percent(share)} for name, sku, share in self.dominant]

    def csv_rows(self):
        """The back-test table as a file for people: one row per night and candidate, shares as fractions."""
        yield ["as_of", "candidate", "shipped", *MEASURES, "clients"]
        for night in self.nights:
            for name, shipped, figures, clients in night.candidates:
                yield [night.run.as_of.isoformat(), name, "yes" if shipped else "no",
                       *(figures.get(m, "") for m in MEASURES), clients]


def build(nights=NIGHTS):
    runs = list(ScoringRun.objects.filter(status=ScoringRun.Status.SUCCEEDED, metrics__has_key="recommendations")
                .order_by("-finished_at", "-id")[:nights])
    result = []
    for run in runs:
        figures = run.metrics["recommendations"] or {}
        method = figures.get("method", "")
        candidates = sorted((figures.get("candidates") or {}).items(), key=lambda item: (item[0] != method, item[0]))
        result.append(Night(run, method, figures.get("rewritten", 0),
                            [(name, name == method, values, values.get("clients", 0)) for name, values in candidates]))
    top = (runs[0].metrics["recommendations"].get("top_products") or []) if runs else []
    names = dict(Product.objects.filter(sku__in=[sku for sku, _ in top]).values_list("sku", "name"))
    return Report(result, [(names.get(sku, ""), sku, share) for sku, share in top])
