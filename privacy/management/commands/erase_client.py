from django.core.management.base import BaseCommand, CommandError

from privacy.personal_data import client_by_external_id, erase_client


class Command(BaseCommand):
    help = ("Erase a client's personal data (right to be forgotten): personal fields cleared, consents off, "
            "pending email suppressed; the anonymous row stays for the totals. Recorded in the audit log.")

    def add_arguments(self, parser):
        parser.add_argument("external_id", help="the shop's client id")

    def handle(self, *args, external_id, **options):
        try:
            client = client_by_external_id(external_id)
        except LookupError as exc:
            raise CommandError(str(exc)) from None
        result = erase_client(client)
        self.stdout.write(
            f"client {external_id}: personal data erased{' (again)' if result['again'] else ''}; "
            f"{result['activities_cleared']} activity properties cleared, "
            f"{result['pending_deliveries_suppressed']} pending emails suppressed")
