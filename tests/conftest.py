import datetime as dt
import itertools
import os
import shutil
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.utils import translation


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts in English, the language its words are written in: a page asked for in
    Russian leaves Russian on in its thread (Django's LocaleMiddleware does not switch back), and the
    next test in the worker would read its words in Russian."""
    translation.activate("en")
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # Tests run with production defaults (DEBUG off), which redirect plain HTTP to HTTPS; the test
    # client speaks plain HTTP. tests/test_deploy.py checks the production settings themselves.
    settings.SECURE_SSL_REDIRECT = False
    # Two-factor sign-in is required in production for roles holding personal data; the suite's tests
    # sign in with force_login and no second factor. tests/crm/test_accounts.py turns it back on.
    settings.CRM_TWO_FACTOR_REQUIRED = False
    # The API's count of unknown tokens per address lives in the cache, across tests: start each at zero.
    from crm.accounts import lockout

    lockout.api_lift("127.0.0.1")


def pytest_collection_modifyitems(config, items):
    # Tests that need a real worker run where REDIS_URL is set (always in CI, where an unreachable
    # Redis fails them rather than skipping). With several pytest-xdist workers they all go to one
    # (--dist loadgroup): they start workers, a Redis server and write var/test-worker.log one at a time.
    if os.environ.get("REDIS_URL"):
        for item in items:
            if "worker" in item.keywords:
                item.add_marker(pytest.mark.xdist_group("worker"))
        return
    skip = pytest.mark.skip(reason="needs REDIS_URL (the PostgreSQL + Redis pass of `make test`)")
    for item in items:
        if "worker" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def server_folder():
    """A fresh CRM_VAR_DIR for a process that runs the project's own PostgreSQL server.

    Not under tmp_path: that lies in /tmp/pytest-of-<user>, which every pytest process that starts
    (an xdist worker, another session) sets back to mode 0700, and run by root the server works as
    a system user of its own, which must reach its folder: initdb failed when it could not.
    """
    folder = Path(tempfile.mkdtemp(prefix="crm-server-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def outbox(tmp_path):
    """A folder where worker processes record the messages they send (tests/mailing/backends.py)."""
    folder = tmp_path / "outbox"
    folder.mkdir()
    return folder


@pytest.fixture
def run_command_output(capsys):
    """Run a management command and return what it printed on standard output."""

    def run(*args):
        capsys.readouterr()
        call_command(*args)
        return capsys.readouterr().out

    return run


@pytest.fixture
def buy(db):
    """buy("c1", "2026-01-10", 100) records an order at noon UTC that day (creating the client when new)."""
    from crm.models import Client, Purchase

    counter = itertools.count(1)

    def make(client_id, day, amount=100, status="completed"):
        client, _ = Client.objects.get_or_create(external_id=client_id)
        at = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC) + dt.timedelta(hours=12)
        return Purchase.objects.create(external_id=f"{client_id}-{next(counter)}", client=client, purchased_at=at,
                                       amount=Decimal(amount), status=status)

    return make


@pytest.fixture
def tasks_in_process():
    """Celery tasks run in-process, in the PostgreSQL + Redis pass too (what a nightly run queues:
    triggered campaigns, the analytics snapshot). Not propagating errors lets an eager task retry
    itself, as on a worker."""
    from config.celery import app

    before = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, False
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = before


@pytest.fixture
def night_both_ways(monkeypatch):
    """night(day, state): the nightly run for `day` the full way (segments/membership.py), rolled
    back, then run as planned; both must leave the same `state()`, which it returns. The paths
    planned are appended to `night.chosen`."""
    from django.db import transaction

    from nightly.pipeline import rebuild_segments
    from segments import membership

    plan = membership.plan

    def night(day, state):
        savepoint = transaction.savepoint()
        monkeypatch.setattr(membership, "plan", lambda previous: "full")
        rebuild_segments(day)
        full = state()
        transaction.savepoint_rollback(savepoint)
        monkeypatch.setattr(membership, "plan", lambda previous: night.chosen.append(plan(previous)) or night.chosen[-1])
        rebuild_segments(day)
        assert state() == full
        return full

    night.chosen = []
    return night


@pytest.fixture
def login(client, django_user_model):
    """Sign a staff user of one role in (optionally with a language cookie); returns the test client."""

    def as_role(role, language=None):
        user = django_user_model.objects.create_user(role.lower().replace(" ", "-"), password="x", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        client.force_login(user)
        if language:
            client.cookies["django_language"] = language
        return client

    return as_role
