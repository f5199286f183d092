"""The rate per token holds across web processes: the counts are in Redis when REDIS_URL is set
(config/settings.py, CACHES), and the API keeps answering when that cache fails."""

import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from crm.models import Client

ROOT = Path(__file__).resolve().parents[2]

# A web process of its own (settings from the environment, as gunicorn's workers have them): it asks the
# API's throttle `times` times for the token `ident` and prints what the cache is and the answers.
ASK = """
import json, sys, types
import django
django.setup()
from django.conf import settings
from api.throttling import TokenRateThrottle
request = types.SimpleNamespace(auth=types.SimpleNamespace(pk=sys.argv[1]))
answers = [TokenRateThrottle().allow_request(request, None) for _ in range(int(sys.argv[2]))]
print(json.dumps({"cache": settings.CACHES["default"]["BACKEND"], "answers": answers}))
"""


def _ask_in_a_process_of_its_own(ident, times):
    env = {**os.environ, "CRM_API_THROTTLE": "3/min", "DJANGO_SETTINGS_MODULE": "config.settings",
           "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or "tests-only-not-secret"}
    result = subprocess.run([sys.executable, "-c", ASK, ident, str(times)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (the PostgreSQL + Redis pass of `make test`)")
def test_two_web_processes_share_one_count_per_token_through_redis():
    ident = f"test-{uuid.uuid4().hex}"  # a token of its own: the count outlives the test in Redis for a minute
    first = _ask_in_a_process_of_its_own(ident, 2)
    second = _ask_in_a_process_of_its_own(ident, 2)
    assert first == {"cache": "django.core.cache.backends.redis.RedisCache", "answers": [True, True]}
    assert second["answers"] == [True, False]  # the third request of the minute was the last one allowed


def test_the_api_keeps_taking_data_unthrottled_when_its_cache_is_down(post, settings, caplog):
    # Nothing listens on port 1: every cache call fails, as when Redis is down.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:1/0", "OPTIONS": {"socket_connect_timeout": 1}}}
    settings.CRM_API_THROTTLE = "1/min"
    with caplog.at_level(logging.WARNING, logger="api.throttling"):
        answers = [post("/api/v1/clients/", {"client_id": f"C{n}"})[0] for n in range(2)]
    assert answers == [200, 200] and Client.objects.count() == 2
    assert "API throttle not applied: the cache failed" in caplog.text
