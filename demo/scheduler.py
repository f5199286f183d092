"""The demo's stand-in for Celery beat: `make demo` has no Redis and no beat process, so the demo's
server (`manage.py demo_serve`) runs the email jobs beat would run, in a thread of its own.

The same task bodies as beat's entries (mailing/apps.py), at the same intervals: every 10 seconds
the repair, every minute the launch of one-off campaigns whose "send at" has passed. With tasks in
process (no REDIS_URL), a launch sends its email right there, to the demo's outbox.
"""

import logging
import threading
import time

from django.db import close_old_connections

from journeys import tasks as journey_tasks
from mailing import tasks

log = logging.getLogger(__name__)

# (every so many seconds, the task beat runs), as mailing/apps.py and journeys/apps.py register them for beat.
JOBS = ((10, tasks.repair_stuck_deliveries), (60, tasks.launch_due_campaigns),
        (10, journey_tasks.run_due_positions))


def run_due(last_run, now):
    """Run each job whose interval has passed since `last_run` (a dict job -> time, updated);
    a failing job is logged and tried again at its next turn, as beat would."""
    for every, job in JOBS:
        if now - last_run.get(job, float("-inf")) < every:
            continue
        last_run[job] = now
        try:
            job()
        except Exception:
            log.exception("demo scheduler: %s failed", job.name)


def start(tick_seconds=1.0):
    """Start the scheduler thread (a daemon: it ends with the server)."""
    def loop():
        last_run = {}
        while True:
            run_due(last_run, time.monotonic())
            close_old_connections()  # this thread's own connection, kept or renewed as a request's would be
            time.sleep(tick_seconds)

    thread = threading.Thread(target=loop, name="demo-scheduler", daemon=True)
    thread.start()
    return thread
