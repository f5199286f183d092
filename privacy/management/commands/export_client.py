from django.core.management.base import BaseCommand, CommandError

from privacy.personal_data import client_by_external_id, export_client, to_json


class Command(BaseCommand):
    help = ("Write everything held about one client as JSON (data subject access): their fields, purchases with "
            "items, activity, survey answers, scores and segment history, emails and audit entries. Recorded.")

    def add_arguments(self, parser):
        parser.add_argument("external_id", help="the shop's client id")
        parser.add_argument("--out", default="-", help="file to write (default: standard output)")

    def handle(self, *args, external_id, out, **options):
        try:
            client = client_by_external_id(external_id)
        except LookupError as exc:
            raise CommandError(str(exc)) from None
        if out != "-":
            try:
                stream = open(out, "w", encoding="utf-8")  # noqa: SIM115 - closed below
            except OSError as exc:
                raise CommandError(f"--out {out}: {exc.strerror}") from None
        text = to_json(export_client(client))
        if out == "-":
            self.stdout.write(text)
            return
        with stream:
            stream.write(text + "\n")
        self.stderr.write(f"client {external_id}: data written to {out}")
