import os

import pytest
from django.core.management import call_command


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # Tests run with production defaults (DEBUG off), which redirect plain HTTP to HTTPS; the test
    # client speaks plain HTTP. tests/test_deploy.py checks the production settings themselves.
    settings.SECURE_SSL_REDIRECT = False


def pytest_collection_modifyitems(config, items):
    # Tests that need a real worker run in the PostgreSQL + Redis pass (REDIS_URL set). In CI that
    # pass always runs, and an unreachable Redis fails it rather than skipping.
    if os.environ.get("REDIS_URL"):
        return
    skip = pytest.mark.skip(reason="needs REDIS_URL (the PostgreSQL + Redis pass of `make test`)")
    for item in items:
        if "worker" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def outbox(tmp_path):
    """A folder where worker processes record the messages they send (tests/campaigns/mailing/backends.py)."""
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
