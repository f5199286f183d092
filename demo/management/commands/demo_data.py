import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from crm.models import Client
from demo import shop as demo


class Command(BaseCommand):
    help = "Fill an empty database with a realistic, deterministic demo shop."

    def add_arguments(self, parser):
        parser.add_argument("--clients", type=int, default=20_000)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--end-date", type=dt.date.fromisoformat, default=None,
                            help="last day of the history, YYYY-MM-DD (default: yesterday, the last full day)")
        parser.add_argument("--if-empty", action="store_true", help="do nothing if there are clients already")

    def handle(self, *args, clients, seed, end_date, if_empty, **options):
        if clients < 1:
            raise CommandError("--clients must be at least 1")
        if Client.objects.exists():
            if if_empty:
                self.stdout.write("The database has clients already; demo data left as it is.")
                self._extras()  # a demo database from before these features gets them (nothing else changes)
                return
            raise CommandError("The database has clients already; demo data goes into an empty database.")
        end = end_date or timezone.localdate() - dt.timedelta(days=1)
        counts = demo.build(clients, seed, end, progress=lambda text: self.stderr.write(text))
        self.stdout.write("Demo shop: {} clients, {} purchases, {} items, {} activity events.".format(*counts))
        self._extras()

    def _extras(self):
        """What the other apps add to the demo shop; each adds nothing where it has been added before."""
        from demo.analytics import fill  # survey answers and marketing spend, for the dashboards
        from demo.campaigns import create_demo_campaigns, create_finished_campaign  # email campaigns
        from demo.loyalty import create_demo_programme  # point rules and tiers (the first night grants)

        self.stdout.write("Email campaigns (scheduled, nothing sent yet): " + ", ".join(create_demo_campaigns()))
        finished = create_finished_campaign()
        if finished:
            self.stdout.write(f"A campaign from the shop's past, finished and measured against its holdout: {finished}")
        created = create_demo_programme()
        if created:
            self.stdout.write("Loyalty programme: " + ", ".join(created))
        made = fill()
        if any(made.values()):
            self.stdout.write("Surveys and marketing spend: {answers} answers, {spend} channel-months.".format(**made))
