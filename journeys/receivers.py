"""After a successful nightly run the journeys take its entrants (segments.signals.run_succeeded);
after an import of orders or activity (a CSV file or the API: crm.signals.data_arrived) its clients
enter, exit and are brought forward at once; an open or a click (mailing.tracking.engaged) brings
a wait for it forward."""

from django.dispatch import receiver

from crm.signals import data_arrived
from mailing.tracking import engaged
from segments.signals import run_succeeded

from .events import activity_arrived, orders_arrived
from .scheduler import bring_forward
from .tasks import queue_entries


@receiver(run_succeeded, dispatch_uid="journeys.enter_after_run")
def _enter_after_run(sender, run, **kwargs):
    queue_entries(run)


@receiver(data_arrived, dispatch_uid="journeys.data_arrived")
def _data_arrived(sender, kind, client_ids, orders, **kwargs):
    if kind == "purchases":
        orders_arrived(orders)
    else:
        activity_arrived(client_ids)


@receiver(engaged, dispatch_uid="journeys.engaged")
def _engaged(sender, client_ids, **kwargs):
    bring_forward(client_ids)
