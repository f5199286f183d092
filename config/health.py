"""GET /health/: is this installation able to work? JSON for load balancers, uptime checks and people.

    200 {"status": "ok" | "warning", "checks": {...}}    it can serve and send
    503 {"status": "error", "checks": {...}}             the database, Redis or the email backend is broken

Checks:
- database: a `SELECT 1`;
- redis: a PING to REDIS_URL (the Celery broker), or "not configured" when tasks run in-process;
- nightly: the last scoring run (when, status) and the age of the scores readers see. A failed last
  run, no run yet, or scores older than CRM_HEALTH_STALE_HOURS (default 36: one missed night) is a
  *warning*, not a 503: the site and the campaigns still work on the previous scores, and a load
  balancer must not take the web servers out of service for it. Alert on `status: warning`;
- email: the EMAIL_BACKEND class and whether it can be built with its settings (as crm.checks does
  at start-up).
No personal data and no error text (it could name hosts or users): a failing part gives the
exception's type; the details go to the log.
"""

import logging

from django.conf import settings
from django.core.mail import get_connection
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

log = logging.getLogger(__name__)
REDIS_TIMEOUT_SECONDS = 2


def check_database():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure to reach the database is the answer, not a crash of the page
        log.warning("health: database check failed: %s", exc)
        return {"status": "error", "error": type(exc).__name__}
    return {"status": "ok", "vendor": connection.vendor}


def check_redis():
    if not settings.REDIS_URL:
        return {"status": "not configured"}
    import redis

    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                                      socket_timeout=REDIS_TIMEOUT_SECONDS)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        log.warning("health: Redis check failed: %s", exc)
        return {"status": "error", "error": type(exc).__name__}
    return {"status": "ok"}


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


def report():
    checks = {"database": check_database(), "redis": check_redis(), "email": check_email()}
    if checks["database"]["status"] == "ok":
        try:
            checks["nightly"] = check_nightly()
        except Exception as exc:
            log.warning("health: nightly run check failed: %s", exc)
            checks["nightly"] = {"status": "error", "error": type(exc).__name__}
    else:
        checks["nightly"] = {"status": "unknown", "warning": "the database cannot be read"}
    statuses = {check["status"] for check in checks.values()}
    status = "error" if "error" in statuses else "warning" if statuses & {"warning", "unknown"} else "ok"
    return status, checks


@never_cache
@require_safe
def health_view(request):
    status, checks = report()
    return JsonResponse({"status": status, "checks": checks}, status=503 if status == "error" else 200)
