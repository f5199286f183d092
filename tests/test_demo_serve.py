"""The demo (`make demo`): one outbox folder, and a server that launches scheduled campaigns itself
(its scheduler: tests/mailing/test_demo_scheduler.py)."""

import os
import re
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]


def demo_target():
    text = (ROOT / "Makefile").read_text()
    return text.split("\ndemo: ", 1)[1].split("\n\n", 1)[0], text


def test_the_demo_mail_goes_where_readme_says_and_the_settings_agree():
    target, makefile = demo_target()
    assert "var/outbox/" in (ROOT / "README.md").read_text()
    # No folder of its own in the Makefile: the settings' default is the one folder, var/outbox.
    assert "EMAIL_FILE_PATH=" not in makefile
    if "EMAIL_FILE_PATH" not in os.environ:
        assert Path(settings.EMAIL_FILE_PATH) == settings.VAR_DIR / "outbox"


def test_make_demo_serves_through_demo_serve_with_tasks_in_process():
    target, _ = demo_target()
    serve = [line for line in target.splitlines() if "manage.py demo_serve" in line]
    assert serve and "$(DEMO_MAIL)" in serve[0] and "runserver" not in target
    assert re.search(r"DEMO_MAIL := env -u REDIS_URL", _)
