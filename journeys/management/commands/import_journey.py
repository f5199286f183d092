import json

from django.core.management.base import BaseCommand, CommandError

from journeys.models import JourneyError
from journeys.transfer import import_journey


class Command(BaseCommand):
    help = "Create a draft journey from a JSON export (the admin's 'Export as JSON'); refused whole on any problem."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--slug", help="the new journey's slug (default: the exported one)")

    def handle(self, *args, file, slug, **options):
        try:
            with open(file, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError) as exc:
            raise CommandError(f"{file}: {exc}") from None
        try:
            journey = import_journey(data, slug=slug)
        except JourneyError as exc:
            raise CommandError(f"{file}: {exc}") from None
        self.stdout.write(f"{file}: journey {journey.slug!r} created as a draft; activate it in the admin.")
