"""Helpers for the tests that run real processes (Celery workers, redis-server, manage.py)."""

import time
from urllib.parse import quote

from django.db import connection


def database_url():
    """The test database as a URL, for a worker or command in another process (committed data only)."""
    s = connection.settings_dict
    host = quote(s["HOST"], safe="") if s["HOST"].startswith("/") else f"{s['HOST']}:{s['PORT']}"  # a socket folder
    return f"postgres://{s['USER']}@{host}/{s['NAME']}"


def wait_for(condition, timeout, what, progress=None):
    """Wait until condition(); give up after `timeout` s without progress (progress() unchanged).

    A loaded machine (CI shares its cores) sends slowly but steadily: only a stall is a failure.
    """
    deadline, seen = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        if condition():
            return
        if progress is not None and (now := progress()) != seen:
            deadline, seen = time.monotonic() + timeout, now
        time.sleep(0.1)
    raise AssertionError(f"no progress for {timeout} s waiting for {what}")
