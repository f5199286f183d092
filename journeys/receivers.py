"""After a successful nightly run the journeys take its entrants (segments.signals.run_succeeded)."""

from django.dispatch import receiver

from segments.signals import run_succeeded

from .tasks import queue_entries


@receiver(run_succeeded, dispatch_uid="journeys.enter_after_run")
def _enter_after_run(sender, run, **kwargs):
    queue_entries(run)
