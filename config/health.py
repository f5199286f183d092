"""Health pages: JSON for load balancers, orchestrators, monitoring and people.

GET /health/ : can this web server serve? For load balancers and readiness probes.

    200 {"status": "ok", "checks": {"database": {...}, "background": {...}, "two_factor": {...}}}
    503 {"status": "error", "checks": {...}}     the database does not answer

  The admin, the API and the unsubscribe pages need only the database, so only the database decides
  the answer: taking the web servers out because Redis or a worker is down would stop pages that
  still work. `background` is information, never a 503 here: the summary of /health/background/,
  {"status": ..., "checks": {"broker": "ok", "worker": "error", ...}}, read with a short Redis
  timeout so that an unreachable Redis cannot make this probe time out. `two_factor` is information
  too: "warning" when CRM_TWO_FACTOR_REQUIRED is off, naming the roles that can export personal data.

GET /health/background/ : can background work run (sending, the nightly run, triggers)? For
alerting and worker monitoring.

    200 {"status": "ok" | "warning", "checks": {...}}
    503 {"status": "error", "checks": {...}}     the broker, a live worker, the email backend or the
                                                 database (read for the nightly check) is missing

  Checks:
  - broker: a PING to REDIS_URL (the Celery broker), or "not configured" when tasks run in-process;
  - worker: how many Celery workers wrote their heartbeat in the last WORKER_SILENT_SECONDS, and how
    long ago the last one did. Each worker writes it into a sorted set in Redis on Celery's own
    heartbeat (every 2 s, written at most every WORKER_HEARTBEAT_SECONDS; config/celery.py): one
    read answers, where `app.control.ping` would broadcast to every worker and wait out its timeout
    on every probe. A worker only beats while it is connected to the broker and its main loop runs;
    the set stores host names and times, which this page does not show;
  - nightly: the last scoring run (when, status) and the age of the scores readers see. A failed last
    run, no run yet, or scores older than CRM_HEALTH_STALE_HOURS (default 36: one missed night) is a
    *warning*, not a 503: the site and the campaigns still work on the previous scores;
  - email: the EMAIL_BACKEND class and whether it can be built with its settings (as crm.checks does
    at start-up);
  - audiences: active audience syncs whose last export failed or whose push to the ad platform's API
    did not go through (it resumes at the next run): a *warning*, naming the segment and platform.

Each check is {"status": "ok" | "warning" | "error" | "not configured" | "unknown", ...}. No personal
data and no error text (it could name hosts or users): a failing part gives the exception's type;
the details go to the log.
"""

import logging
import time

from django.conf import settings
from django.core.mail import get_connection
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

log = logging.getLogger(__name__)
REDIS_TIMEOUT_SECONDS = 2
# /health/ reads the background's state only as information: a load balancer's probe may give up
# after a second, so an unreachable Redis must not hold it longer than this.
INFO_REDIS_TIMEOUT_SECONDS = 0.3
WORKERS_KEY = "crm:health:workers"  # sorted set: worker host name -> time of its last heartbeat
WORKER_HEARTBEAT_SECONDS = 10
# Several missed heartbeats, and room for clocks of the web and worker machines a little apart.
WORKER_SILENT_SECONDS = 60
FORGET_WORKERS_AFTER_SECONDS = 24 * 3600  # workers renamed or gone for good leave the set
_last_heartbeat = 0.0


def _redis(timeout):
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=timeout, socket_timeout=timeout)


def record_worker_heartbeat(hostname):
    """Called in the worker's main process on each Celery heartbeat (config/celery.py)."""
    global _last_heartbeat
    now = time.time()
    if not settings.REDIS_URL or now - _last_heartbeat < WORKER_HEARTBEAT_SECONDS:
        return
    try:
        with _redis(REDIS_TIMEOUT_SECONDS) as client, client.pipeline() as pipe:
            pipe.zadd(WORKERS_KEY, {hostname: now})
            pipe.zremrangebyscore(WORKERS_KEY, "-inf", now - FORGET_WORKERS_AFTER_SECONDS)
            pipe.execute()
    except Exception as exc:  # a missed beat shows on the page; it must not disturb the worker
        log.warning("health: the worker heartbeat could not be written: %s", exc)
        return
    _last_heartbeat = now


def check_database():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure to reach the database is the answer, not a crash of the page
        log.warning("health: database check failed: %s", exc)
        return {"status": "error", "error": type(exc).__name__}
    return {"status": "ok", "vendor": connection.vendor}


def check_broker_and_worker(timeout=REDIS_TIMEOUT_SECONDS, now=None):
    """The broker's PING and the workers' heartbeats, over one Redis connection."""
    if not settings.REDIS_URL:
        return {"status": "not configured"}, {"status": "not configured"}
    try:
        with _redis(timeout) as client:
            client.ping()
            beats = [score for _, score in client.zrange(WORKERS_KEY, 0, -1, withscores=True)]
    except Exception as exc:
        log.warning("health: Redis check failed: %s", exc)
        return ({"status": "error", "error": type(exc).__name__},
                {"status": "unknown", "warning": "the broker cannot be read"})
    now = now or time.time()
    live = sum(1 for beat in beats if now - beat <= WORKER_SILENT_SECONDS)
    worker = {"status": "ok" if live else "error", "workers": live,
              "last_seen_seconds_ago": round(now - max(beats), 1) if beats else None}
    if not live:
        worker["warning"] = f"no Celery worker has reported in the last {WORKER_SILENT_SECONDS} seconds"
    return {"status": "ok"}, worker


def check_nightly(now=None):
    from segments.models import ScoringRun

    now = now or timezone.now()
    stale_hours = settings.CRM_HEALTH_STALE_HOURS
    last = ScoringRun.objects.order_by("-started_at", "-id").first()
    current = ScoringRun.objects.current()
    result = {"status": "ok", "stale_after_hours": stale_hours, "last_run": None, "scores_from": None}
    if last is not None:
        result["last_run"] = {"id": last.pk, "as_of": last.as_of.isoformat(), "status": last.status,
                              "started_at": last.started_at.isoformat(),
                              "finished_at": last.finished_at.isoformat() if last.finished_at else None}
    if current is not None:
        age = (now - current.finished_at).total_seconds() / 3600
        result["scores_from"] = {"id": current.pk, "as_of": current.as_of.isoformat(),
                                 "finished_at": current.finished_at.isoformat(), "age_hours": round(age, 1)}
    if current is None:
        result.update(status="warning", warning="no scoring run has succeeded yet")
    elif age > stale_hours:
        result.update(status="warning", warning=f"the scores are older than {stale_hours} hours")
    elif last.status == ScoringRun.Status.FAILED:
        result.update(status="warning", warning="the last scoring run failed")
    return result


def check_email():
    result = {"backend": settings.EMAIL_BACKEND}
    try:
        get_connection(fail_silently=False)
    except Exception as exc:
        log.warning("health: email backend %s cannot be built: %s", settings.EMAIL_BACKEND, exc)
        return {**result, "status": "error", "error": type(exc).__name__}
    return {**result, "status": "ok"}


def check_two_factor():
    """Whether the roles that can take personal data out sign in with a second factor (crm/accounts/).
    Information on /health/, never a 503: the site works either way, but monitoring should see it."""
    from django.contrib.auth.models import Group

    from crm.accounts import two_factor

    roles = sorted(Group.objects.filter(permissions__in=two_factor.personal_data_permissions())
                   .values_list("name", flat=True).distinct())
    if settings.CRM_TWO_FACTOR_REQUIRED:
        return {"status": "ok", "required_for": [*roles, "superusers"]}
    return {"status": "warning", "warning": "two-factor sign-in is off (CRM_TWO_FACTOR_REQUIRED) for roles that "
            "can export personal data", "roles": [*roles, "superusers"]}


def check_audiences(now=None):
    from audiences.syncs import failing_syncs

    failing = failing_syncs(now)
    if not failing:
        return {"status": "ok"}
    return {"status": "warning", "warning": f"{len(failing)} audience syncs did not go through",
            "failing": [{"segment": sync.segment.slug, "platform": sync.platform, "step": step,
                         "since": since.isoformat()} for sync, step, since in failing[:20]]}


def overall(checks):
    statuses = {check["status"] for check in checks.values()}
    return "error" if "error" in statuses else "warning" if statuses & {"warning", "unknown"} else "ok"


def background_report(redis_timeout=REDIS_TIMEOUT_SECONDS, database_ok=True):
    broker, worker = check_broker_and_worker(redis_timeout)
    checks = {"broker": broker, "worker": worker, "email": check_email()}
    if not database_ok:  # already known: do not wait for the database a second time
        checks["nightly"] = {"status": "unknown", "warning": "the database cannot be read"}
        checks["audiences"] = {"status": "unknown", "warning": "the database cannot be read"}
    else:
        try:
            checks["nightly"] = check_nightly()
        except Exception as exc:  # the database, read by the nightly run and every task, is part of it
            log.warning("health: nightly run check failed: %s", exc)
            checks["nightly"] = {"status": "error", "error": type(exc).__name__}
        try:
            checks["audiences"] = check_audiences()
        except Exception as exc:
            log.warning("health: audience syncs check failed: %s", exc)
            checks["audiences"] = {"status": "unknown", "error": type(exc).__name__}
    return overall(checks), checks


def web_report():
    database = check_database()
    status, background = background_report(INFO_REDIS_TIMEOUT_SECONDS, database_ok=database["status"] == "ok")
    summary = {"status": status, "checks": {name: check["status"] for name, check in background.items()}}
    checks = {"database": database, "background": summary}
    if database["status"] == "ok":
        try:
            checks["two_factor"] = check_two_factor()
        except Exception as exc:  # information only: it must not turn a serving web server into a 503
            log.warning("health: two-factor check failed: %s", exc)
            checks["two_factor"] = {"status": "unknown", "error": type(exc).__name__}
    return ("ok" if database["status"] == "ok" else "error"), checks


def _answer(status, checks):
    return JsonResponse({"status": status, "checks": checks}, status=503 if status == "error" else 200)


@never_cache
@require_safe
def health_view(request):
    return _answer(*web_report())


@never_cache
@require_safe
def background_health_view(request):
    return _answer(*background_report())
