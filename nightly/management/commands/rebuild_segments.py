import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from nightly.pipeline import RunRefused, rebuild_segments
from segments.notes import render


class Command(BaseCommand):
    help = "Score every client as of a date (default: yesterday) and refresh every segment, in the foreground."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", type=dt.date.fromisoformat, default=None, help="YYYY-MM-DD")

    def handle(self, *args, as_of, **options):
        try:
            run = rebuild_segments(as_of, progress=lambda text: self.stderr.write(text))
        except RunRefused as exc:
            raise CommandError(str(exc)) from None
        counts = run.counts
        self.stdout.write(f"Run {run.pk} as of {run.as_of}: {counts['clients']} clients "
                          f"({counts['buyers']} buyers, {counts['prospects']} prospects); "
                          f"{counts['entered']} segment entries, {counts['left']} exits.")
        churn, value = run.metrics["churn"], run.metrics["value"]
        self.stdout.write(f"Churn: {churn['method']}" + (
            f", back-test AUC {churn['auc']:.3f} (recency only {churn['baseline_auc']:.3f}), "
            f"Brier {churn['brier']:.3f} (recency only {churn['baseline_brier']:.3f})"
            if churn.get("auc") is not None else ""))
        self.stdout.write(f"Value: {value['method']}" + "".join(
            f"; back-test {name}: MAE {c['mae']:.2f}, total ratio {c['total_ratio'] or float('nan'):.3f}"
            for name, c in value.get("candidates", {}).items()) + (
            f"; total calibrated x{value['calibration']:.3f}" if "calibration" in value else ""))
        for note in run.notes:
            self.stdout.write(f"Note: {render(note)}")  # kept as message and values: said in words
        self.stdout.write("Seconds per stage: " + ", ".join(f"{k} {v}" for k, v in run.stage_seconds.items()))
