from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands.runserver import Command as RunserverCommand

from demo import scheduler


class Command(RunserverCommand):
    help = ("The demo's server: Django's runserver, plus a thread that runs beat's email jobs (launch "
            "scheduled one-off campaigns when due, repair stuck deliveries), since the demo has no beat.")

    def inner_run(self, *args, **options):
        # inner_run is the serving process (the autoreloader's child), so the thread runs once, there.
        if settings.REDIS_URL:
            raise CommandError("demo_serve runs tasks in-process: unset REDIS_URL (with Redis, run Celery "
                               "beat and a worker instead: `make stack`).")
        scheduler.start()
        self.stdout.write("Scheduled campaigns are launched when due (demo scheduler: every minute).")
        super().inner_run(*args, **options)
