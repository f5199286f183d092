"""Thin Celery tasks for email campaigns; the work is in `sending`.

Registered through `app.autodiscover_tasks(["campaigns.mailing"])` in config/celery.py.
"""

import random
import uuid

from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import sending

# A batch may run at most this long; CRM_CAMPAIGN_STUCK_MINUTES must stay above it, so a row
# claimed earlier than that cannot belong to a live task (see sending.repair_stuck_deliveries).
BATCH_TIME_LIMIT = 600
MAX_RETRIES = 6
# The database going away is worth another try; rows this task had claimed are then closed as
# interrupted by the retry (same task id), never resent.
DATABASE_ERRORS = (OperationalError, InterfaceError)


def backoff(retries):
    """30 s, 60 s, 2 min, ... capped at 30 min, with jitter so batches do not retry in lockstep."""
    return min(30 * 2**retries, 1800) * random.uniform(0.8, 1.2)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES,
             time_limit=BATCH_TIME_LIMIT, soft_time_limit=BATCH_TIME_LIMIT - 30)
def send_delivery_batch(self, delivery_ids):
    """Send one batch of deliveries (ids). Safe to run twice: only pending rows are claimed."""
    token = self.request.id or uuid.uuid4().hex
    try:
        last = self.request.retries >= self.max_retries
        return sending.send_batch(delivery_ids, claim_token=token, final_attempt=last)
    except (sending.TransientSendError, *DATABASE_ERRORS) as exc:
        if self.request.retries >= self.max_retries:
            raise
        raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc


@shared_task
def repair_stuck_deliveries():
    """Every few minutes: close rows a dead worker left in `sending`, finish campaigns with nothing left."""
    return sending.repair_stuck_deliveries()
