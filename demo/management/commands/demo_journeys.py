from django.core.management.base import BaseCommand

from demo.journeys import create_demo_journeys, run_on_history


class Command(BaseCommand):
    help = "Create the demo's two journeys and run them over the last weeks of its history (once)."

    def handle(self, *args, **options):
        created = create_demo_journeys()
        if created:
            self.stdout.write("Journeys (active, 10% holdout): " + ", ".join(created))
        ran = run_on_history()
        if ran:
            self.stdout.write("Journeys run over the demo's last weeks: " + ", ".join(
                f"{slug} {n} clients" for slug, n in ran.items()))
