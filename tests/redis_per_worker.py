"""A pytest plugin (loaded with -p, before Django reads its settings): when the suite runs on several
pytest-xdist workers, each gets a Redis database of its own, counting down from the one given, so a
task one worker queues is never taken by a Celery worker another test started."""

import os
import re

_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
_url = os.environ.get("REDIS_URL", "")
if _worker.startswith("gw") and re.search(r"/\d+$", _url):
    base, db = _url.rsplit("/", 1)
    os.environ["REDIS_URL"] = f"{base}/{int(db) - int(_worker[2:])}"
