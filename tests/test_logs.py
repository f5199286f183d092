"""Log lines: JSON or text, with the correlation id of the run or campaign, and no addresses or phones."""

import datetime as dt
import io
import json
import logging

import pytest

from core import logs
from nightly.pipeline import rebuild_segments
from segments.signals import run_succeeded


@pytest.fixture
def captured():
    """Records of the logger "crm.test" as our handler writes them: (stream, set_format)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.ContextFilter())
    logger = logging.getLogger("crm.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logs.reset()
    yield stream, handler.setFormatter
    logger.removeHandler(handler)
    logs.reset()


def test_a_json_line_carries_the_context_and_masks_addresses_and_phones(captured):
    stream, use = captured
    use(logs.JsonFormatter())
    with logs.log_context(campaign="spring-sale"):
        try:
            raise ValueError("rejected: ann.smith@example.com")
        except ValueError:
            logging.getLogger("crm.test").exception("send to %s / %s failed", "bob@example.org", "+7 912 345-67-89")
    logging.getLogger("crm.test").info("after")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "ERROR" and first["logger"] == "crm.test" and first["campaign"] == "spring-sale"
    assert first["message"] == "send to <email> / <phone> failed"
    assert "ValueError: rejected: <email>" in first["exception"] and "example" not in json.dumps(first)
    assert dt.datetime.fromisoformat(first["time"]).tzinfo is not None
    assert "campaign" not in second  # the block ended


def test_a_text_line_shows_the_context_at_the_end(captured):
    stream, use = captured
    use(logs.TextFormatter())
    with logs.log_context(run=7):
        logging.getLogger("crm.test").warning("client 89123456789 skipped")
    assert stream.getvalue().rstrip().endswith("WARNING crm.test client <phone> skipped [run=7]")


@pytest.mark.django_db
def test_the_lines_of_a_nightly_run_carry_its_id(captured):
    stream, use = captured
    use(logs.JsonFormatter())

    def log_line(sender, run, **kwargs):
        logging.getLogger("crm.test").info("segments updated")

    run_succeeded.connect(log_line)
    try:
        run = rebuild_segments(dt.date(2026, 1, 31))
    finally:
        run_succeeded.disconnect(log_line)
    assert json.loads(stream.getvalue())["run"] == run.pk


def test_a_web_request_starts_with_a_fresh_context(client, db):
    logs.bind(run=99)
    client.get("/health/")
    assert "run" not in logs.current()
