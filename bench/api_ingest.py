"""How fast the REST API records purchases, against the CSV importer on the same rows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_bench_api \\
        .venv/bin/python bench/api_ingest.py [--rows 100000] [--clients 20000] [--batch 1000]
        [--concurrency 4] [--force]

It writes the purchases file of bench/import_speed.py (deterministic), turns its rows into JSON
batches of --batch purchases ({"purchases": [...]}, encoded before the clock starts: encoding is the
shop's work), starts the web server (gunicorn with --concurrency worker processes, on a free port on
127.0.0.1, against the same DATABASE_URL; the clock starts once every worker has loaded the project,
which takes seconds per worker and is printed on its own line) and measures in the same run:

  (a) baseline: `run_import("purchases", file)` into empty tables, then again (every row unchanged);
  (b) the same rows POSTed to /api/v1/purchases/batch/ by --concurrency senders at once, each over
      its own keep-alive connection, into empty tables, then again (every row unchanged). Every
      request commits (a 200 means the rows are stored), so the senders overlap their commits the
      way several shop processes would; --concurrency 1 sends one batch after another.

It prints purchases/second and API time / importer time for the first load and the re-run (target:
at most 3), checks that both ended with the same rows, stops the server and exits 0 whether or not
the target is met: it is a report, not a test.

THIS EMPTIES THE DATABASE'S CRM TABLES (as bench/import_speed.py does) and adds an API token named
"bench-api-ingest". It refuses to run unless the database name contains "bench" (override with
--force), and on anything but PostgreSQL.
"""

import argparse
import csv
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import django_setup  # first: puts the repository on the path and sets Django up
import import_speed
from django.db import connection

from api.models import ApiToken
from crm.importing import run_import
from crm.models import Client, Purchase

TARGET_RATIO = 3.0
TOKEN_NAME = "bench-api-ingest"
URL = "/api/v1/purchases/batch/"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rows", type=int, default=100_000, help="purchases (default 100000)")
    parser.add_argument("--clients", type=int, default=20_000, help="distinct client ids (default 20000)")
    parser.add_argument("--batch", type=int, default=1000, help="purchases per request, at most 1000 (default 1000)")
    parser.add_argument("--concurrency", type=int, default=4,
                        help="requests at once, and server worker processes (default 4)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the generated rows (default 1)")
    parser.add_argument("--force", action="store_true", help="run even if the database name lacks 'bench'")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.clients < 1 or args.concurrency < 1 or not 1 <= args.batch <= 1000:
        parser.error("--rows, --clients and --concurrency must be at least 1, --batch between 1 and 1000")

    refusal = django_setup.refusal("bench/api_ingest.py", "crm_bench_api", args.force)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="crm-bench-api-") as folder:
        path = Path(folder) / "purchases.csv"
        import_speed._write_purchases(path, args.rows, args.clients, args.seed)
        bodies = _batches(path, args.batch)
        print(f"database {connection.settings_dict['NAME']} on PostgreSQL {django_setup.server_version()}")
        print(f"{args.rows} purchases of up to {args.clients} clients; {len(bodies)} requests of up to "
              f"{args.batch} ({sum(map(len, bodies)) / 1e6:.1f} MB of JSON), {args.concurrency} at once")

        import_speed._empty_crm_tables()
        csv_first = _timed(lambda: _check(run_import("purchases", path, record=False), args.rows, True))
        csv_again = _timed(lambda: _check(run_import("purchases", path, record=False), args.rows, False))
        csv_rows = _snapshot()
        _line("(a) CSV import, empty tables", args.rows, csv_first)
        _line("    CSV import again, unchanged", args.rows, csv_again)

        import_speed._empty_crm_tables()
        token = _token()
        with _server(args.concurrency, Path(folder)) as port:
            api_first = _timed(lambda: _post_all(port, token, bodies, args.rows, True, args.concurrency))
            api_again = _timed(lambda: _post_all(port, token, bodies, args.rows, False, args.concurrency))
        _line("(b) API, empty tables", args.rows, api_first, csv_first)
        _line("    API again, unchanged", args.rows, api_again, csv_again)
        if _snapshot() != csv_rows:
            print("WARNING: the API and the CSV import did not end with the same purchases")

    worst = max(api_first / csv_first, api_again / csv_again)
    verdict = "MET" if worst <= TARGET_RATIO else "NOT MET"
    print(f"target API/CSV importer <= {TARGET_RATIO:g}: {verdict} "
          f"(first {api_first / csv_first:.2f}, re-run {api_again / csv_again:.2f})")
    return 0


def _batches(path, size):
    """The file's rows as JSON request bodies: the same cells, as a shop's JSON would carry them."""
    with open(path, encoding="utf-8", newline="") as data:
        rows = list(csv.DictReader(data))
    return [json.dumps({"purchases": rows[start:start + size]}).encode() for start in range(0, len(rows), size)]


def _token():
    ApiToken.objects.filter(name=TOKEN_NAME).delete()
    return ApiToken.issue(TOKEN_NAME, ApiToken.Scope.WRITE)[1]


# gunicorn runs this hook in each worker once it has loaded the application (see _server).
_READY_HOOK = """import os


def post_worker_init(worker):
    open(os.path.join(os.environ["CRM_BENCH_READY_DIR"], str(worker.pid)), "w").close()
"""


class _server:
    """gunicorn on a free local port, against this DATABASE_URL, once every worker has loaded the
    application; stopped on exit.

    A worker loads the whole project before it takes a request: seconds of CPU each, paid once per
    start of the server, not per request. Timed with the requests it would take the place of the
    ingest in the figure (4 workers loading at once on a small machine), so the clock starts when
    the workers are ready, and the time they took is printed on its own line.
    """

    def __init__(self, workers, folder):
        self.workers = workers
        self.ready = folder / "ready"
        self.hook = folder / "gunicorn_ready.py"

    def __enter__(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = os.environ | {
            "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or "bench-only",
            "DJANGO_DEBUG": "0", "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0",
            "CRM_API_THROTTLE": "1000000/min", "CRM_BENCH_READY_DIR": str(self.ready),
        }
        self.ready.mkdir()
        self.hook.write_text(_READY_HOOK)
        gunicorn = Path(sys.executable).with_name("gunicorn")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [str(gunicorn), "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(self.workers),
             "--timeout", "300", "--log-level", "warning", "--config", str(self.hook)],
            cwd=django_setup.ROOT, env=env,
        )
        deadline = time.monotonic() + 120
        while len(list(self.ready.iterdir())) < self.workers:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise SystemExit("the web server did not start")
            time.sleep(0.1)
        print(f"    server: {self.workers} workers ready in {time.perf_counter() - started:.2f} s (not timed)",
              flush=True)
        return port

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _post_all(port, token, bodies, rows, first, senders):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    totals = {"received": 0, "created": 0, "unchanged": 0}
    pending = iter(bodies)
    lock = threading.Lock()
    failures = []

    def send():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        try:
            while not failures:
                with lock:
                    body = next(pending, None)
                if body is None:
                    return
                conn.request("POST", URL, body=body, headers=headers)
                response = conn.getresponse()
                answer = response.read()
                with lock:
                    if response.status != 200:
                        failures.append(f"{response.status} {answer[:2000].decode(errors='replace')}")
                        return
                    answer = json.loads(answer)
                    for key in totals:
                        totals[key] += answer[key]
        finally:
            conn.close()

    threads = [threading.Thread(target=send) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"the API refused a batch: {failures[0]}")
    expected = "created" if first else "unchanged"
    if totals["received"] != rows or totals[expected] != rows:
        print(f"WARNING: the API did not {expected} every row: {totals}")


def _check(report, rows, first):
    done = report.created if first else report.unchanged
    if not report.imported or done != rows:
        print(f"WARNING: the CSV import did not do the whole job: {report.summary()}")


def _snapshot():
    """What both ways must agree on: every purchase, with its client's id."""
    return (Client.objects.count(),
            list(Purchase.objects.order_by("external_id").values_list(
                "external_id", "client__external_id", "purchased_at", "amount", "currency", "status")))


def _timed(work):
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _line(label, rows, seconds, baseline=None):
    text = f"{label:<34} {seconds:8.2f} s  {rows / seconds:>10,.0f} purchases/s"
    if baseline:
        text += f"  ratio {seconds / baseline:5.2f}"
    print(text, flush=True)


if __name__ == "__main__":
    sys.exit(main())
