import sys

from django.core.management.base import BaseCommand, CommandError

from segments.export import rows, write_csv


class Command(BaseCommand):
    help = "Write every client's current scores and segments as CSV ('-' for standard output)."
    rows = staticmethod(rows)
    written = "Scores"

    def add_arguments(self, parser):
        parser.add_argument("out", help="output file, or - for standard output")

    def handle(self, *args, out, **options):
        if out == "-":
            write_csv(sys.stdout, self.rows)
            return
        try:
            with open(out, "w", newline="", encoding="utf-8") as stream:
                write_csv(stream, self.rows)
        except OSError as exc:  # a missing folder, no permission, a full disk
            raise CommandError(f"Cannot write {out}: {exc.strerror}.") from None
        self.stderr.write(f"{self.written} written to {out}")
