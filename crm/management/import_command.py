"""The shared body of the import_* commands: validate arguments, run the importer, print the report."""

from django.core.management.base import BaseCommand, CommandError

from crm.importing import ImportFileError, run_import
from crm.importing.kinds import KINDS
from crm.importing.run import print_report


class ImportCommand(BaseCommand):
    kind = ""

    @property
    def help(self):
        spec = KINDS[self.kind]
        required = ", ".join(spec.required())
        optional = ", ".join(c.name for c in spec.columns if not c.required)
        return (f"Import {self.kind} from a CSV file ('-' for standard input). "
                f"Required: {required}. Optional: {optional}.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file with a header row, or - for standard input")
        parser.add_argument(
            "--skip-invalid", action="store_true",
            help="import the valid rows and write rejected ones to <name>.rejected.csv",
        )

    def handle(self, *args, **options):
        progress = (lambda text: self.stderr.write(text)) if options["verbosity"] >= 1 else None
        try:
            report = run_import(self.kind, options["file"], skip_invalid=options["skip_invalid"], progress=progress)
        except ImportFileError as exc:
            raise CommandError(str(exc)) from None
        print_report(report, self.stdout, self.stderr)
        if not report.imported:
            raise CommandError(f"{report.file}: {report.rejected} invalid rows; nothing was imported "
                               "(fix them, or use --skip-invalid to import the rest)")
