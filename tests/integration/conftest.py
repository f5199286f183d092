import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.processes import database_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def celery_worker_process(transactional_db):
    """A real Celery worker in its own process, on the test database and the Redis broker.

    The test database is the one pytest-django made; data the test writes must be committed
    (transactional_db) for the worker to see it.
    """
    from config.celery import app

    app.control.purge()
    env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SECRET_KEY": "tests-only-not-secret"}
    (ROOT / "var").mkdir(exist_ok=True)
    log = open(ROOT / "var" / "test-worker.log", "w")  # noqa: SIM115 - closed below
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--loglevel", "INFO",
         "--without-gossip", "--without-mingle", "--hostname", f"test-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 180  # start-up on a loaded machine
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the Celery worker exited: see {log.name}")
        replies = app.control.ping(timeout=1.0)
        if any(f"test-{os.getpid()}@" in name for reply in replies for name in reply):
            break
    else:
        worker.kill()
        raise RuntimeError("the Celery worker did not answer within 180 s")
    yield worker
    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
    log.close()
