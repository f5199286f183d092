# make demo  - set up, load a demo shop into the project's own PostgreSQL (var/postgres), run the nightly
#              scoring (emails to var/outbox), start the admin
# make test  - set up and run every check: ruff, migrations, the tests (on the machine's PostgreSQL and Redis
#              where they answer, else on the project's own PostgreSQL without the Redis tests)
# make messages - collect the strings to translate into locale/ru/LC_MESSAGES/django.po and compile django.mo
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PG_URL ?= postgres://postgres@127.0.0.1:5432/crm
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
# The suite on every core (pytest-xdist); PYTEST_WORKERS= runs it in one process.
PYTEST_WORKERS ?= -n auto --dist loadgroup

.PHONY: demo demo-code test setup lint run stack bench messages browser

$(VENV)/.installed: requirements.txt requirements-dev.txt $(wildcard native/*/*.c native/*/setup.py)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed

# The demo's email goes to files in var/outbox (the settings' default), sent in-process (no Redis): the
# nightly rebuild fires the triggered campaigns (welcome, win-back), then champions-thanks is launched once
# by hand. The server (demo_serve: runserver plus demo/scheduler.py) launches scheduled campaigns when due.
DEMO_MAIL := env -u REDIS_URL EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend

demo: setup
	DJANGO_DEBUG=1 $(PY) manage.py migrate --verbosity 0
	DJANGO_DEBUG=1 $(PY) manage.py demo_data --clients 20000 --seed 1 --if-empty
	$(DEMO_MAIL) DJANGO_DEBUG=1 $(PY) manage.py rebuild_segments
	$(DEMO_MAIL) DJANGO_DEBUG=1 $(PY) manage.py launch_campaign champions-thanks
	$(DEMO_MAIL) DJANGO_DEBUG=1 $(PY) manage.py demo_journeys
	DJANGO_DEBUG=1 $(PY) manage.py demo_login
	$(DEMO_MAIL) DJANGO_DEBUG=1 $(PY) manage.py demo_serve 127.0.0.1:8000

# The demo administrator's current two-factor code (it signs in with a second factor: docs/privacy.md).
demo-code:
	DJANGO_DEBUG=1 $(PY) manage.py demo_login --code

# The production stack: web (gunicorn), Celery worker and Celery beat, on PostgreSQL and Redis.
# Needs DATABASE_URL, REDIS_URL, DJANGO_SECRET_KEY and ALLOWED_HOSTS in the environment.
stack: setup
	@test -n "$$DATABASE_URL" -a -n "$$REDIS_URL" -a -n "$$DJANGO_SECRET_KEY" || \
		(echo "Set DATABASE_URL, REDIS_URL and DJANGO_SECRET_KEY (see docs/production.md)"; exit 2)
	$(PY) manage.py migrate --verbosity 0
	$(PY) manage.py collectstatic --noinput --verbosity 0
	PATH=$(VENV)/bin:$$PATH $(VENV)/bin/honcho start

lint: setup
	$(PY) -m ruff check .
	DJANGO_DEBUG=1 $(PY) manage.py makemigrations --check --dry-run --verbosity 1

# The tests need no secret of their own; production settings still demand a real key.
test: export DJANGO_SECRET_KEY ?= tests-only-not-secret

# In CI (CI=true) the machine's PostgreSQL and Redis must be there. Elsewhere, without them, the tests run
# on the project's own PostgreSQL server (var/postgres) and those needing Redis and a worker are skipped.
# The browser tests drive Debian's chromium and chromium-driver: installed here when missing (as root,
# or through sudo). Where that is not possible they are skipped with a message, except in CI.
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
		$$( [ "$$(id -u)" = 0 ] || echo sudo ) sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver \
			|| (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver)' \
		|| echo "chromium and chromium-driver could not be installed: the browser tests will be skipped"

test: lint browser
	@if [ "$$CI" = "true" ] || $(PY) -m tests.services_up $(PG_URL) $(TEST_REDIS_URL); then \
		DATABASE_URL=$(PG_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_WORKERS); \
	else \
		echo "PostgreSQL or Redis not reachable at $(PG_URL), $(TEST_REDIS_URL): testing on the project's own PostgreSQL, without the Redis tests (CI=true makes them required)"; \
		env -u DATABASE_URL -u REDIS_URL $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_WORKERS); \
	fi

# Translations (needs gettext: msgfmt, xgettext). After `make messages`, translate the new or changed
# entries of locale/ru/LC_MESSAGES/django.po (no empty or fuzzy entry may stay: tests/crm/test_i18n.py
# fails on them), run `make messages` again to compile, and commit both the .po and the .mo.
messages: setup
	DJANGO_DEBUG=1 $(PY) manage.py makemessages -l ru --no-obsolete --ignore .venv --ignore var --ignore bench --ignore tests
	DJANGO_DEBUG=1 $(PY) manage.py compilemessages -l ru --ignore .venv --ignore var
