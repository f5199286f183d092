"""Settings come from the environment and refuse values they cannot use, with the variable named."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def manage_check(**env):
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY")}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env={**base, **env},
                            capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize(("env", "message"), [
    ({"DJANGO_DEBUG": "0"}, "Set the environment variable DJANGO_SECRET_KEY"),
    ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG='maybe' is not a boolean"),
    ({"DJANGO_DEBUG": "1", "TIME_ZONE": "Mars/Olympus"}, "TIME_ZONE='Mars/Olympus' is not a known time zone"),
    ({"DJANGO_DEBUG": "1", "LANGUAGE_CODE": "fr"}, "LANGUAGE_CODE='fr'; available: en, ru"),
    ({"DJANGO_DEBUG": "1", "DATABASE_URL": "nonsense://x"}, "DATABASE_URL is not usable"),
    ({"DJANGO_DEBUG": "1", "CRM_CHURN_HORIZON_DAYS": "ninety"}, "CRM_CHURN_HORIZON_DAYS='ninety' is not a whole number"),
    ({"DJANGO_DEBUG": "1", "CRM_NIGHTLY_WORK_MEM": "lots"}, "CRM_NIGHTLY_WORK_MEM='lots' is not a size"),
    ({"DJANGO_DEBUG": "1", "EMAIL_BACKEND": "anymail.backends.mailgun.EmailBackend"}, "MAILGUN_API_KEY"),
    ({"DJANGO_DEBUG": "1", "CRM_ATTRIBUTION_DAYS": "0"}, "CRM_ATTRIBUTION_DAYS='0' must be at least 1"),
    ({"DJANGO_DEBUG": "1", "CRM_QUIET_HOURS": "late"}, "CRM_QUIET_HOURS='late' is not a window such as 22:00-09:00"),
    ({"DJANGO_DEBUG": "1", "CRM_EMAIL_CAP_COUNT": "-1"}, "CRM_EMAIL_CAP_COUNT='-1' must be at least 0"),
    ({"DJANGO_DEBUG": "1", "CRM_RECOMMENDER": "magic"},
     "CRM_RECOMMENDER='magic' is not one of: auto, popularity, co-purchase, als"),
    ({"DJANGO_DEBUG": "1", "CRM_API_THROTTLE": "lots"}, "CRM_API_THROTTLE='lots' is not a rate such as 600/min"),
    ({"DJANGO_DEBUG": "1", "CRM_CREDENTIALS_KEY": "not-a-key"}, "CRM_CREDENTIALS_KEY is not a Fernet key"),
    ({"DJANGO_DEBUG": "1", "CRM_AUDIENCE_API_URLS": "meta"}, "CRM_AUDIENCE_API_URLS is not a JSON object"),
])
def test_a_bad_setting_stops_the_start_and_names_the_variable(env, message):
    code, output = manage_check(**env)
    assert code != 0 and message in output


def test_good_settings_pass_the_check():
    code, output = manage_check(DJANGO_DEBUG="1", TIME_ZONE="Europe/Moscow", LANGUAGE_CODE="ru")
    assert code == 0, output
