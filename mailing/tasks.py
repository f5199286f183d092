"""Thin Celery tasks for email campaigns: ids in, one call, their retry policy. The only module of
mailing that defines or queues tasks; the work is in `sending`, `repair`, `scheduling` and `triggers`.

Registered through `app.autodiscover_tasks(["mailing"])` in config/celery.py. The modules below do
not import this one: launch announces each batch on `launch.batch_ready`, which `receivers.py`
connects to `queue_batch`.
"""

import random
import uuid
from datetime import datetime
from functools import partial

from celery import current_app, shared_task
from django.db import InterfaceError, OperationalError, transaction
from django.utils.translation import gettext_lazy as _
from kombu.exceptions import ChannelError
from kombu.exceptions import OperationalError as BrokerError

from . import launch, repair, scheduling, sending, triggers

# A batch may run at most this long (its lease, renewed while it works, decides when a batch is
# taken over: see `sending`).
BATCH_TIME_LIMIT = 600
MAX_RETRIES = 6
# The database going away is worth another try; rows this task had claimed are then closed as
# interrupted by the retry (same task id), never resent.
DATABASE_ERRORS = (OperationalError, InterfaceError)


class QueueUnavailable(Exception):
    """The task queue (the broker) cannot be reached: deliveries are recorded but not queued."""

    MESSAGE = _("The deliveries are recorded, but the task queue (REDIS_URL) cannot be reached, so nothing is "
                "being sent yet. Sending starts by itself within a minute of the queue's return, or launch "
                "again then.")

    def __str__(self):
        return str(self.MESSAGE)


def queue_batch(delivery_ids, eta=None):
    """Queue one batch when the current transaction commits (at once outside one); eta: not before.
    Raises QueueUnavailable (after the commit: the rows stay, pending) when the broker cannot be reached."""
    transaction.on_commit(partial(_publish, list(delivery_ids), eta))


def _publish(delivery_ids, eta):
    try:
        send_delivery_batch.apply_async(args=[delivery_ids], eta=eta)
    except BrokerError as exc:
        raise QueueUnavailable from exc


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
        counts = sending.send_batch(delivery_ids, claim_token=token, final_attempt=last)
    except (sending.TransientSendError, *DATABASE_ERRORS) as exc:
        if self.request.retries >= self.max_retries:
            raise
        countdown = backoff(self.request.retries)
        sending.hold_for_retry(delivery_ids, token, countdown)
        raise self.retry(exc=exc, countdown=countdown) from exc
    if "defer_until" in counts and not self.request.is_eager:
        # Quiet hours: the same ids again at the end of the window (in-process tasks cannot wait:
        # the rows stay pending with `not_before`, and a later launch or resume queues them).
        send_delivery_batch.apply_async(args=[delivery_ids], eta=datetime.fromisoformat(counts["defer_until"]))
    return counts


@shared_task(ignore_result=True)
def repair_stuck_deliveries():
    """Every 10 seconds: take over dead workers' batches, queue again lost ones, finish campaigns."""
    return repair.repair_stuck_deliveries(queue_empty=queue_is_empty())


def queue_is_empty():
    """Whether the broker's default queue holds no waiting task."""
    app = current_app
    with app.connection_for_read() as connection:
        try:
            return connection.default_channel.queue_declare(
                queue=app.conf.task_default_queue, passive=True).message_count == 0
        except ChannelError:  # Redis keeps no key for an empty queue: "no such queue"
            return True


@shared_task(ignore_result=True)
def launch_campaign_task(campaign_id):
    """A launch confirmed in the admin (`launch.launch_requested`): the request only queues this."""
    try:
        result = launch.launch_requested(campaign_id)
    except QueueUnavailable as exc:  # the rows are recorded; repair queues them when the broker is back
        launch.end_launching(campaign_id, str(exc))
        return None
    return None if result is None else result.__dict__


def queue_launch(campaign_id):
    """Queue a confirmed launch; False when the broker cannot be reached (nothing is launched then)."""
    try:
        launch_campaign_task.delay(campaign_id)
    except BrokerError:
        return False
    return True


@shared_task(autoretry_for=DATABASE_ERRORS, retry_backoff=30, max_retries=3)
def launch_due_campaigns():
    """Every minute: launch one-off campaigns whose `send_at` has passed (safe to run twice)."""
    return scheduling.launch_due_campaigns()


@shared_task(autoretry_for=DATABASE_ERRORS, retry_backoff=30, max_retries=3)
def launch_recurring_campaign(campaign_id):
    """A recurring campaign's beat entry: launch the occurrence of the cron slot this run belongs to."""
    result = scheduling.launch_recurring(campaign_id)
    return None if result is None else result.__dict__


@shared_task(autoretry_for=DATABASE_ERRORS, retry_backoff=60, max_retries=3)
def launch_triggered_campaigns(run_id):
    """After a successful nightly run: each active triggered campaign emails who entered its segment."""
    return triggers.fire_triggers(run_id)
