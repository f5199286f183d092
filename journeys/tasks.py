"""Thin Celery tasks for journeys: the scheduler's pass on beat, entries after the night and each day."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from segments.signals import queue_after_run

from . import entry, scheduler

DATABASE_ERRORS = (OperationalError, InterfaceError)


@shared_task(ignore_result=True, time_limit=120, soft_time_limit=100)
def run_due_positions():
    """Every 10 seconds: do the due steps (claimed in chunks, SKIP LOCKED: overlapping runs share the work),
    and make due again the positions whose pass died during a webhook call."""
    scheduler.release_abandoned()
    return scheduler.run_due(max_seconds=50)


@shared_task(autoretry_for=DATABASE_ERRORS, retry_backoff=60, max_retries=3)
def enter_after_run(run_id):
    """After a successful night: segment entrants, and the date-based entries of the day."""
    return {"segment": entry.enter_segment_entrants(run_id), "date": entry.enter_by_date()}


def queue_entries(run):
    queue_after_run(enter_after_run, run, "journey entries")
