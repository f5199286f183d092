import os

from celery import Celery
from celery.signals import heartbeat_sent

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Connected when this module is imported, before the worker starts: Celery's heartbeat only sends
# the signal if it had receivers when the worker started. /health/background/ reads what it writes.
@heartbeat_sent.connect
def _worker_heartbeat(sender, **kwargs):
    from .health import record_worker_heartbeat

    record_worker_heartbeat(sender.eventer.hostname)
