"""Helpers for the tests that run real processes (Celery workers, redis-server, manage.py)."""

import os
import signal
import subprocess
import sys
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


class CeleryProcesses:
    """Real Celery processes (`celery -A config worker|beat`) in their own process groups, logging to
    var/test-<name>.log; all stopped by `stop_all` (SIGTERM, then SIGKILL to the group)."""

    def __init__(self, env, root):
        self.env, self.root, self.started = env, root, []

    def worker(self, name, *options, **extra_env):
        """A worker (e.g. options "--pool", "prefork", "--concurrency", "2"), returned once it logs `ready`."""
        return self._start(name, ["worker", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
                                  "--hostname", f"{name}-{os.getpid()}@%h", *options], " ready.", extra_env)

    def beat(self, name="beat"):
        """Beat on the project's schedule (django_celery_beat's DatabaseScheduler), once it has started."""
        return self._start(name, ["beat", "--loglevel", "INFO"],
                           "beat: Starting", {})

    def _start(self, name, arguments, ready, extra_env):
        (self.root / "var").mkdir(exist_ok=True)
        log_path = self.root / "var" / f"test-{name}.log"
        log = open(log_path, "w")  # noqa: SIM115 - closed by stop_all
        process = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", *arguments], cwd=self.root,
                                   env={**self.env, **extra_env}, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.started.append((process, log))
        wait_for(lambda: process.poll() is not None or ready in log_path.read_text(), 180, f"celery {name}")
        assert process.poll() is None, f"celery {name} exited: see {log_path}"
        return process

    def stop_all(self):
        for process, log in self.started:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            log.close()
