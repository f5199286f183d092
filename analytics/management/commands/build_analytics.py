from django.core.management.base import BaseCommand, CommandError

from segments.models import ScoringRun

from ...precompute import build_snapshot


class Command(BaseCommand):
    help = ("Compute the analytics dashboards' snapshot of the current nightly run now "
            "(it is computed after every successful run anyway, recomputing the months that changed).")

    def add_arguments(self, parser):
        parser.add_argument("--full", action="store_true",
                            help="recompute every month of the history, not only the months that changed")

    def handle(self, *args, **options):
        run = ScoringRun.objects.current()
        if run is None:
            raise CommandError("No scoring run has succeeded yet: run `manage.py rebuild_segments` first.")
        snapshot = build_snapshot(run, full=options["full"])
        self.stdout.write(f"snapshot of the run as of {run.as_of} computed in {snapshot.seconds:.1f} s "
                          f"({len(snapshot.data['recomputed'])} months recomputed)")
