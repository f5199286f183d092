"""One settings file; every knob comes from the environment (see docs/production.md, "Configuration")."""

import base64
import json
import os
import re
import zoneinfo
from pathlib import Path

import dj_database_url
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from core import local_postgres
from core.env import env_bool, env_choice, env_float, env_int, env_list, env_str
from core.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CRM_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", required=not DEBUG) or "insecure-debug-only-key"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])

# --- HTTPS in production (`manage.py check --deploy` passes): redirect, secure cookies, HSTS.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Load balancers, orchestrators and monitoring probe the health pages over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^health/(background/)?$"]
# Behind a proxy that ends TLS: the header it sets to "https", e.g. X-Forwarded-Proto. Only set it
# when the proxy always sets (or strips) that header, or a client could claim HTTPS itself.
_proxy_header = env_str("SECURE_PROXY_SSL_HEADER")
if _proxy_header:
    if not re.fullmatch(r"[A-Za-z0-9-]+", _proxy_header):
        raise ImproperlyConfigured(f"SECURE_PROXY_SSL_HEADER={_proxy_header!r} is not a header name such as "
                                   f"X-Forwarded-Proto.")
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_header.upper().replace("-", "_"), "https")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Preloading binds the whole registrable domain to HTTPS in browsers for months: the domain owner's
# call, so off by default, and then the deploy check's reminder about it (security.W021) is silenced.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_celery_beat",
    "axes",  # failed sign-ins counted per user and per address, lock-outs (crm/accounts/)
    "django_otp",
    "django_otp.plugins.otp_totp",  # authenticator apps
    "django_otp.plugins.otp_static",  # recovery codes
    "csp",  # the Content-Security-Policy header, with a nonce per response
    "core",  # logging context; no models (core/)
    "anymail",
    "crm",
    "segments",
    "loyalty",  # activity points, ledger, tiers (loyalty/)
    "recommendations",  # products recommended per client, computed at night (recommendations/)
    "nightly",  # the nightly run: scores, loyalty, memberships, then run_succeeded (nightly/)
    "mailing",  # email campaigns (mailing/)
    "audiences",  # ad-platform audience files (audiences/)
    "journeys",  # multi-step flows: waits, branches, exits, a holdout (journeys/)
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI from our own static files: installations may have no outside network
    "api",
    "analytics",  # dashboards: metrics, charts, marketing spend (analytics/)
    "privacy",  # erase and export one client (privacy/)
    "demo",  # the demo shop and logins (demo/)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): signed in with the second factor
    "crm.accounts.middleware.SessionTimeoutMiddleware",  # idle timeout and absolute lifetime
    "crm.accounts.middleware.TwoFactorMiddleware",  # enrol or verify before the admin
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: turns a lock-out into its page
]

# Axes first: it refuses a locked-out user or address before the password is even checked.
AUTHENTICATION_BACKENDS = ["crm.accounts.lockout.LockOutBackend", "django.contrib.auth.backends.ModelBackend"]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",  # {{ CSP_NONCE }} for a page's own <script> or <style>
            ],
        },
    },
]

# --- Database: PostgreSQL, from DATABASE_URL, or else the project's own server with its data in var/.
# Connections are kept for a minute between requests (CONN_MAX_AGE) and checked before reuse
# (CONN_HEALTH_CHECKS): after a database restart or failover a kept connection is dead, and without
# the check each web worker's next request would fail on it (tests/integration/test_faults_web.py).
_database_url = env_str("DATABASE_URL")
if _database_url:
    try:
        DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60, conn_health_checks=True)}
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not usable: {exc}") from None
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(f"DATABASE_URL must point at PostgreSQL (postgres://...); it names "
                                   f"{DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}.")
else:
    DATABASES = {"default": {**local_postgres.settings_for(VAR_DIR / "postgres"), "CONN_MAX_AGE": 60,
                             "CONN_HEALTH_CHECKS": True}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# --- Time and language: stored in UTC, shown in TIME_ZONE.
USE_TZ = True
TIME_ZONE = env_str("TIME_ZONE", "UTC")
if TIME_ZONE not in zoneinfo.available_timezones():
    raise ImproperlyConfigured(f"TIME_ZONE={TIME_ZONE!r} is not a known time zone (e.g. Europe/Moscow).")
USE_I18N = True
LANGUAGES = [("en", _("English")), ("ru", _("Russian"))]
LANGUAGE_CODE = env_str("LANGUAGE_CODE", "en")
if LANGUAGE_CODE not in dict(LANGUAGES):
    raise ImproperlyConfigured(f"LANGUAGE_CODE={LANGUAGE_CODE!r}; available: en, ru.")
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request without it
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Served by whitenoise from `collectstatic` output, compressed; no manifest so tests need none.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))

# --- Celery: with REDIS_URL unset tasks run in-process, so the first run needs no Redis.
REDIS_URL = env_str("REDIS_URL")
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"  # a host, or kombu warns on every start
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
CELERY_TASK_ALWAYS_EAGER = REDIS_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 4 * 3600, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60 if CELERY_TASK_TIME_LIMIT > 120 else None
# A task is acknowledged after it ran, so a killed worker's task is delivered again;
# our tasks are written to be safe to run twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Nothing reads task results: without this, queueing a task also subscribes to its result on Redis,
# and a launch with Redis down failed after 25 s in the result store rather than at once.
CELERY_TASK_IGNORE_RESULT = True
# Queueing with the broker down fails within seconds (a launch then says so; repair queues the rows
# once the broker is back) instead of retrying for long inside a web request.
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
# Redis hands an unacknowledged task out again after this many seconds. A batch held back by quiet
# hours waits with an ETA of up to a day, and the nightly run takes hours; a shorter timeout would
# run them twice at once. A dead worker's batches are not waited for: their lease runs out and the
# repair job takes them over within a minute (mailing/repair.py).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 26 * 3600}
# A batch being sent when the broker connection drops finishes (its claims are in the database);
# cancelling it would turn messages already handed to the ESP into "interrupted" rows.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Cache: only the API's throttle counts (api/throttling.py). On Redis when there is one, so the rate
# holds across gunicorn workers and machines; else in each process. Short timeouts: the throttle lets
# requests through when Redis fails, and must not hang them first. Keys are prefixed: Celery's queues
# live in the same database.
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": "crm-cache",
                          "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Email: any Django backend or any anymail ESP; ANYMAIL_* variables pass through.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
# One outbox folder, the demo's and the default alike (README, docs/campaigns.md).
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(VAR_DIR / "outbox"))
# One send may take at most this long (SMTP; anymail's REQUESTS_TIMEOUT below for ESP APIs): a sending
# task must renew its hold on its batch well within CRM_CAMPAIGN_LEASE_SECONDS.
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "shop@example.com")
ANYMAIL = {
    key.removeprefix("ANYMAIL_"): value
    for key, value in os.environ.items()
    if key.startswith("ANYMAIL_")
}
ANYMAIL["REQUESTS_TIMEOUT"] = float(ANYMAIL.get("REQUESTS_TIMEOUT", EMAIL_TIMEOUT))  # seconds, as requests takes it

# --- Product knobs.
CRM_CURRENCY = env_str("CRM_CURRENCY", "RUB")
# Phone numbers written without a country code are read in the client's country, else this one.
CRM_DEFAULT_COUNTRY = env_str("CRM_DEFAULT_COUNTRY", "RU")
CRM_IMPORT_BATCH_SIZE = env_int("CRM_IMPORT_BATCH_SIZE", 5000, minimum=1)
CRM_RFM_LEVELS = env_int("CRM_RFM_LEVELS", 5, minimum=2)
CRM_CHURN_HORIZON_DAYS = env_int("CRM_CHURN_HORIZON_DAYS", 90, minimum=1)
CRM_CLV_HORIZON_DAYS = env_int("CRM_CLV_HORIZON_DAYS", 365, minimum=1)
# Visits (segments/visits.py): a client's page-view and event rows more than this many minutes apart
# are two visits; a visit of one page, or shorter than CRM_BOUNCE_SECONDS, is a bounce.
CRM_SESSION_GAP_MINUTES = env_int("CRM_SESSION_GAP_MINUTES", 30, minimum=1)
CRM_BOUNCE_SECONDS = env_int("CRM_BOUNCE_SECONDS", 10, minimum=0)
# Audience files for ad platforms are personal data: deleted from the storage after this many days.
CRM_AUDIENCE_RETENTION_DAYS = env_int("CRM_AUDIENCE_RETENTION_DAYS", 30, minimum=1)
# Ad-platform credentials (audiences/credentials.py) are encrypted with this Fernet key: 32 random bytes,
# URL-safe base64. A value that is not such a key stops here; a missing one stops the start-up checks
# once accounts are stored (audiences.E002).
CRM_CREDENTIALS_KEY = env_str("CRM_CREDENTIALS_KEY", "")
if CRM_CREDENTIALS_KEY:
    try:
        if len(base64.urlsafe_b64decode(CRM_CREDENTIALS_KEY.encode())) != 32:
            raise ValueError("not 32 bytes")
    except ValueError:
        raise ImproperlyConfigured(
            "CRM_CREDENTIALS_KEY is not a Fernet key (32 bytes in URL-safe base64, 44 characters); generate one "
            "with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
        ) from None
# Ad-platform API syncs (audiences/apis/): attempts per request on rate limits and transient errors,
# the longest Retry-After honoured (seconds), and the back-off's first wait (doubled each attempt).
CRM_AUDIENCE_API_ATTEMPTS = env_int("CRM_AUDIENCE_API_ATTEMPTS", 5, minimum=1)
CRM_AUDIENCE_API_MAX_WAIT = env_int("CRM_AUDIENCE_API_MAX_WAIT", 300, minimum=1)
CRM_AUDIENCE_API_BACKOFF = env_float("CRM_AUDIENCE_API_BACKOFF", 2.0)
CRM_AUDIENCE_API_TIMEOUT = env_int("CRM_AUDIENCE_API_TIMEOUT", 60, minimum=1)
# At most this many rows per request, below each platform's own limit (0: the platform's limit).
CRM_AUDIENCE_API_BATCH_LIMIT = env_int("CRM_AUDIENCE_API_BATCH_LIMIT", 0, minimum=0)
# Base addresses of the platforms' APIs, {"meta": "https://graph.facebook.com/v25.0", ...}: only to point
# them at a proxy or a test server; each platform module has its real address.
try:
    CRM_AUDIENCE_API_URLS = json.loads(env_str("CRM_AUDIENCE_API_URLS", "{}"))
except ValueError as exc:
    raise ImproperlyConfigured(f"CRM_AUDIENCE_API_URLS is not a JSON object: {exc}") from None
# Where uploaded and exported files go (audience files included): local MEDIA_ROOT by default, or
# any storage class, e.g. storages.backends.s3.S3Storage (django-storages, installed separately),
# with its options as JSON, e.g. {"bucket_name": "crm-files", "default_acl": "private"}.

STORAGES["default"]["BACKEND"] = env_str("DEFAULT_FILE_STORAGE_BACKEND", STORAGES["default"]["BACKEND"])
try:
    STORAGES["default"]["OPTIONS"] = json.loads(env_str("DEFAULT_FILE_STORAGE_OPTIONS", "{}"))
except ValueError as exc:
    raise ImproperlyConfigured(f"DEFAULT_FILE_STORAGE_OPTIONS is not a JSON object: {exc}") from None
if not isinstance(STORAGES["default"]["OPTIONS"], dict):
    raise ImproperlyConfigured("DEFAULT_FILE_STORAGE_OPTIONS must be a JSON object, e.g. {\"bucket_name\": \"crm\"}.")
CRM_PUBLIC_URL = env_str("CRM_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")  # links in emails
CRM_CAMPAIGN_BATCH_SIZE = env_int("CRM_CAMPAIGN_BATCH_SIZE", 500, minimum=1)
# Products recommended per recipient in email templates (`recommendations`); 0 turns them off.
CRM_RECOMMENDED_PRODUCTS = env_int("CRM_RECOMMENDED_PRODUCTS", 3, minimum=0)
# The recommender the night ships: "auto" (the best of the back-test), or one of "popularity", "co-purchase",
# "als" (recommendations/candidates.py) to pin it.
CRM_RECOMMENDER = env_choice("CRM_RECOMMENDER", "auto", ("auto", "popularity", "co-purchase", "als"))
# At most this many products of one category in a client's recommendations (recommendations/nightly.py).
CRM_RECOMMENDATIONS_PER_CATEGORY = env_int("CRM_RECOMMENDATIONS_PER_CATEGORY", 2, minimum=1)
# A sending task holds its batch this long and renews the hold while it works; a batch whose hold ran
# out belongs to a dead worker and is taken over (mailing/sending.py, "The lease"). Must stay above
# the longest single send, EMAIL_TIMEOUT and anymail's REQUESTS_TIMEOUT (10 s each by default).
CRM_CAMPAIGN_LEASE_SECONDS = env_int("CRM_CAMPAIGN_LEASE_SECONDS", 30, minimum=15)
# Journeys (journeys/scheduler.py): positions claimed per transaction by the scheduler's pass; how long a
# pass holds a position whose webhook it is calling; the webhook's timeout, tries and signing key.
CRM_JOURNEY_CHUNK = env_int("CRM_JOURNEY_CHUNK", 500, minimum=1)
CRM_JOURNEY_LEASE_SECONDS = env_int("CRM_JOURNEY_LEASE_SECONDS", 60, minimum=15)
CRM_JOURNEY_WEBHOOK_TIMEOUT = env_int("CRM_JOURNEY_WEBHOOK_TIMEOUT", 5, minimum=1)
CRM_JOURNEY_WEBHOOK_TRIES = env_int("CRM_JOURNEY_WEBHOOK_TRIES", 4, minimum=1)
CRM_JOURNEY_WEBHOOK_SECRET = env_str("CRM_JOURNEY_WEBHOOK_SECRET", "")
# Journey results: a purchase within this many days after entering counts as the journey's conversion.
CRM_JOURNEY_ATTRIBUTION_DAYS = env_int("CRM_JOURNEY_ATTRIBUTION_DAYS", 14, minimum=1)
# Campaign results: a purchase within this many days after a message counts as its conversion.
CRM_ATTRIBUTION_DAYS = env_int("CRM_ATTRIBUTION_DAYS", 5, minimum=1)
# Frequency cap across all campaigns: at most COUNT marketing emails per client in DAYS days (0 = no cap).
CRM_EMAIL_CAP_COUNT = env_int("CRM_EMAIL_CAP_COUNT", 3, minimum=0)
CRM_EMAIL_CAP_DAYS = env_int("CRM_EMAIL_CAP_DAYS", 7, minimum=1)
# Quiet hours in TIME_ZONE, e.g. 22:00-09:00 (may cross midnight); empty = off. Mail is delayed, not dropped.
CRM_QUIET_HOURS = env_str("CRM_QUIET_HOURS", "").strip()
if CRM_QUIET_HOURS and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", CRM_QUIET_HOURS):
    raise ImproperlyConfigured(f"CRM_QUIET_HOURS={CRM_QUIET_HOURS!r} is not a window such as 22:00-09:00.")
if CRM_QUIET_HOURS and CRM_QUIET_HOURS[:5] == CRM_QUIET_HOURS[6:]:
    raise ImproperlyConfigured(f"CRM_QUIET_HOURS={CRM_QUIET_HOURS!r} starts and ends at the same time.")
# PostgreSQL work_mem for the nightly run's big GROUP BYs and anti-joins (per worker process).
CRM_NIGHTLY_WORK_MEM = env_str("CRM_NIGHTLY_WORK_MEM", "256MB")
if not re.fullmatch(r"\d+\s*(kB|MB|GB)?", CRM_NIGHTLY_WORK_MEM):
    raise ImproperlyConfigured(f"CRM_NIGHTLY_WORK_MEM={CRM_NIGHTLY_WORK_MEM!r} is not a size such as 256MB.")
CRM_CHURN_BAND_MEDIUM = env_float("CRM_CHURN_BAND_MEDIUM", 0.33)
CRM_CHURN_BAND_HIGH = env_float("CRM_CHURN_BAND_HIGH", 0.66)
if not 0 < CRM_CHURN_BAND_MEDIUM < CRM_CHURN_BAND_HIGH < 1:
    raise ImproperlyConfigured("Need 0 < CRM_CHURN_BAND_MEDIUM < CRM_CHURN_BAND_HIGH < 1.")

# --- REST API (api/): bearer tokens per integration, JSON only, throttled per token.
CRM_API_THROTTLE = env_str("CRM_API_THROTTLE", "600/min")
if not re.fullmatch(r"[1-9]\d*/(s|sec|second|m|min|minute|h|hour|d|day)", CRM_API_THROTTLE):
    raise ImproperlyConfigured(f"CRM_API_THROTTLE={CRM_API_THROTTLE!r} is not a rate such as 600/min "
                               "(per s, min, hour or day).")
# The largest request body the API takes (docs/api.md). It is Django's limit on a body read into memory,
# so there is one limit, which the API answers with a JSON 413 (api/views.py); admin forms are far below it.
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024  # a full batch of 1,000 orders with their lines fits many times over
REST_FRAMEWORK = {
    "EXCEPTION_HANDLER": "api.views.exception_handler",
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.auth.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.auth.TokenScope"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.TokenRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Retention CRM API",
    "DESCRIPTION": "Shops send clients, purchases, activity and survey answers; integrations read scores "
                   "and segments. Idempotent by the shop's ids; the same rules as the CSV import.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Accounts (docs/privacy.md, "Accounts"). Sign-in lock-out: after CRM_LOGIN_FAILURE_LIMIT wrong
# passwords for one user name, or from one address, both are refused for CRM_LOGIN_COOLOFF_MINUTES,
# doubled for each further limit's worth of failures in the last day (crm/accounts/lockout.py), up to a day.
CRM_LOGIN_FAILURE_LIMIT = env_int("CRM_LOGIN_FAILURE_LIMIT", 5, minimum=1)
CRM_LOGIN_COOLOFF_MINUTES = env_int("CRM_LOGIN_COOLOFF_MINUTES", 15, minimum=1)
AXES_FAILURE_LIMIT = CRM_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = "crm.accounts.lockout.cool_off"
AXES_LOCKOUT_PARAMETERS = [["username"], ["ip_address"]]  # each counted on its own
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "crm.accounts.lockout.lockout_response"
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # the failures of the last day make the cool-off grow
AXES_DISABLE_ACCESS_LOG = True  # sign-ins go to our audit log (crm/accounts/signals.py)
AXES_VERBOSE = False
# Behind a proxy (load balancer, nginx): the header in which it sends the client's address, e.g.
# X-Forwarded-For (its last address, the one the proxy saw, counts). Unset: the connection's address,
# which behind a proxy is the proxy's, so every user would share one address's count.
CRM_CLIENT_IP_HEADER = env_str("CRM_CLIENT_IP_HEADER", "")
if CRM_CLIENT_IP_HEADER and not re.fullmatch(r"[A-Za-z0-9-]+", CRM_CLIENT_IP_HEADER):
    raise ImproperlyConfigured(f"CRM_CLIENT_IP_HEADER={CRM_CLIENT_IP_HEADER!r} is not a header name such as "
                               "X-Forwarded-For.")
AXES_CLIENT_IP_CALLABLE = "crm.accounts.lockout.client_ip"
# The API: after this many unknown tokens from one address in the cool-off, that address gets 429.
CRM_API_BAD_TOKEN_LIMIT = env_int("CRM_API_BAD_TOKEN_LIMIT", 20, minimum=1)
# Two-factor sign-in: required for every role holding a personal-data permission (crm/roles.py).
CRM_TWO_FACTOR_REQUIRED = env_bool("CRM_TWO_FACTOR_REQUIRED", True)
OTP_TOTP_ISSUER = env_str("CRM_TWO_FACTOR_ISSUER", "Retention CRM")
# Sessions: signed out after this long without a request, and after this long in any case.
CRM_SESSION_IDLE_MINUTES = env_int("CRM_SESSION_IDLE_MINUTES", 60, minimum=1)
CRM_SESSION_MAX_HOURS = env_int("CRM_SESSION_MAX_HOURS", 12, minimum=1)
SESSION_COOKIE_AGE = CRM_SESSION_MAX_HOURS * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# --- Content Security Policy on every response (django-csp; docs/production.md, "Content Security
# Policy"): scripts and styles only from our static files or carrying the response's nonce; no page may
# be framed. A page that must differ (the email preview's frame) replaces it with csp_replace.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],
        "style-src": ["'self'", NONCE],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# /health/background/ (config/health.py): scores older than this are a warning (one missed night and a margin).
CRM_HEALTH_STALE_HOURS = env_int("CRM_HEALTH_STALE_HOURS", 36, minimum=1)

# --- Logs: one JSON object per line for log collectors (LOG_FORMAT=json), or text; each line of a
# nightly run or a campaign carries its correlation id, and addresses are masked (core/logs.py).
LOG_FORMAT = env_str("LOG_FORMAT", "text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r}; use json or text.")
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r}; use DEBUG, INFO, WARNING, ERROR or CRITICAL.")
LOGGING = logging_config(LOG_FORMAT, LOG_LEVEL)
# The worker logs through the same handler and format, rather than Celery's own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
