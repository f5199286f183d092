"""Every connection to the database is terminated (as a restart or a failover does) while the web server
serves a steady loop of requests: once the database answers again, no request fails.

The web server is gunicorn with two worker processes, each keeping its database connection between
requests (CONN_MAX_AGE); without CONN_HEALTH_CHECKS each worker's next request would run on its dead
connection and answer 500 (503 for /health/). The database itself stays up: only the connections go,
so every request after the termination must succeed.

No `worker` marker: it needs neither Redis nor a Celery worker, and its server, port and database
are its own, so it runs in both passes of `make test` and beside other tests.
"""

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client as BrowserClient

from api.models import ApiToken
from crm.models import Client
from tests.processes import database_url, wait_for

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2
SENDERS = 3  # more senders than workers: both workers are kept busy, before and after the termination
BEFORE_SECONDS, AFTER_SECONDS = 3, 5

# gunicorn runs this hook in each worker once it has loaded the application.
READY_HOOK = """import os


def post_worker_init(worker):
    open(os.path.join(os.environ["CRM_TEST_READY_DIR"], str(worker.pid)), "w").close()
"""


@pytest.fixture
def web_server(transactional_db, tmp_path):
    """gunicorn on a free local port, on the test database (committed data only), every worker ready."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ready = tmp_path / "ready"
    ready.mkdir()
    hook = tmp_path / "gunicorn_ready.py"
    hook.write_text(READY_HOOK)
    # The test's own secret key: the session it signs in with must be valid in the server.
    env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SECRET_KEY": settings.SECRET_KEY,
           "DJANGO_DEBUG": "0", "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0",
           "CRM_API_THROTTLE": "1000000/min", "CRM_VAR_DIR": str(tmp_path / "var"), "CRM_TEST_READY_DIR": str(ready)}
    log = open(tmp_path / "gunicorn.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "config.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", str(WORKERS), "--timeout", "120", "--config", str(hook)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )

    def started():
        if server.poll() is not None:
            raise AssertionError(f"gunicorn exited: {(tmp_path / 'gunicorn.log').read_text()[-3000:]}")
        return len(list(ready.iterdir())) >= WORKERS

    try:
        wait_for(started, 180, "gunicorn's workers to load the project")
        yield port, tmp_path / "gunicorn.log"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def terminate_every_other_connection():
    """What a database restart does to the web server's kept connections; ours (the test's) stays."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        terminated = sum(1 for (done,) in cursor.fetchall() if done)

    def gone():  # pg_terminate_backend only signals: wait until the backends have exited
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            return cursor.fetchone()[0] == 0

    wait_for(gone, 30, "the terminated connections to close")
    return terminated


def test_no_request_fails_after_every_database_connection_is_terminated(web_server):
    port, log = web_server
    Client.objects.create(external_id="c1", email="ann@example.com")
    token = ApiToken.issue("web-faults", ApiToken.Scope.READ)[1]
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "a-long-password-1")
    browser = BrowserClient()
    browser.force_login(admin)  # a session row in the database, as a login leaves it
    # The server runs with production settings: a superuser signs in with a second factor too.
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    session = browser.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.create(user=admin, name="app").persistent_id
    session.save()
    pages = [
        ("/health/", {}),
        ("/api/v1/clients/c1/scores/", {"Authorization": f"Bearer {token}"}),
        ("/admin/crm/client/", {"Cookie": f"sessionid={browser.cookies['sessionid'].value}"}),
    ]
    answers = {"before": Counter(), "after": Counter()}  # phase -> (path, status) -> count

    def loop(phase, seconds):
        """SENDERS threads sending one request after another for `seconds`; returns once all answered."""
        stop = threading.Event()
        lock = threading.Lock()

        def send(first):
            turn = first
            while not stop.is_set():
                path, headers = pages[turn % len(pages)]
                turn += 1
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                try:
                    conn.request("GET", path, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                except OSError as exc:  # a refused or dropped connection counts as a failure too
                    status = type(exc).__name__
                finally:
                    conn.close()
                with lock:
                    answers[phase][path, status] += 1

        senders = [threading.Thread(target=send, args=(n,)) for n in range(SENDERS)]
        for sender in senders:
            sender.start()
        time.sleep(seconds)
        stop.set()
        for sender in senders:
            sender.join()

    # The loop pauses for the termination (milliseconds) so that no request is under way then: a
    # query cut off mid-request fails whatever the settings; what must not fail is the next one.
    loop("before", BEFORE_SECONDS)
    terminated = terminate_every_other_connection()
    loop("after", AFTER_SECONDS)

    def failures(counts):
        return {key: n for key, n in counts.items() if not (isinstance(key[1], int) and key[1] < 500)}

    before, after = answers["before"], answers["after"]
    print(f"\nweb faults: {terminated} connections terminated; requests before {sum(before.values())}, "
          f"after {sum(after.values())}; failures before {failures(before)}, after {failures(after)}")
    # Every page answered normally before (the session and the token work), and each worker kept a
    # connection to terminate: otherwise the test would prove nothing.
    assert {status for (_, status) in before} == {200}, (dict(before), log.read_text()[-3000:])
    assert terminated >= WORKERS, f"only {terminated} connections were open"
    assert not failures(after), (dict(after), log.read_text()[-3000:])
    served = Counter(path for (path, _), n in after.items() for _ in range(n))
    assert all(served[path] >= 2 * WORKERS for path, _ in pages), served  # every page, more than once a worker
