"""Screenshots of the analytics dashboards, taken by headless Chromium, to look at before calling
a change to them done.

    apt-get install -y chromium          # Debian's package; the script says so if it is missing
    .venv/bin/python bench/screenshots.py [--out /tmp/crm-screenshots] [--clients 3000] [--lang en|ru]

With no DATABASE_URL it works on the project's own PostgreSQL in var/screenshots/ (CRM_VAR_DIR), filled
once with a demo shop (demo/shop.py), survey answers and marketing spend (demo/analytics.py), and
scored. With DATABASE_URL it uses that database as it is (it must have a scoring run).

It serves the app on a free local port in this process, logs in through the admin's login form as
a staff user holding only analytics.view_dashboard (created or reset here), hands the browser that
session, and saves one PNG per dashboard page in --out.
"""

import argparse
import datetime as dt
import http.cookiejar
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("DJANGO_DEBUG", "1")  # a local server on plain HTTP, 127.0.0.1 allowed
os.environ.setdefault("DJANGO_SECRET_KEY", "screenshots")
if not os.environ.get("DATABASE_URL"):
    os.environ.setdefault("CRM_VAR_DIR", str(ROOT / "var" / "screenshots"))

import django_setup  # noqa: E402,F401  (sets Django up)
from django.contrib.auth.models import Permission, User  # noqa: E402
from django.contrib.staticfiles.handlers import StaticFilesHandler  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.utils import timezone  # noqa: E402

PAGES = {  # page -> (path under the admin, window height in pixels: tall enough for the whole page)
    "overview": ("analytics/dashboard/", 5200),
    "retention": ("analytics/dashboard/retention/", 3000),
    "ltv": ("analytics/dashboard/ltv/", 3800),
    "engagement": ("analytics/dashboard/engagement/", 5200),
    "surveys": ("analytics/dashboard/surveys/", 2600),
    "campaigns": ("analytics/dashboard/campaigns/", 1500),
}
USER, PASSWORD = "screenshots", "screenshots-only-local"


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    sys.exit("Chromium is not installed: on Debian or Ubuntu run `apt-get install -y chromium` "
             "(as root), then run this script again.")


def prepare(clients, nights):
    from analytics.models import Snapshot
    from analytics.precompute import build_snapshot
    from crm.models import Client
    from demo import analytics as demo
    from segments.models import ScoringRun

    call_command("migrate", verbosity=0)
    if not Client.objects.exists():
        if os.environ.get("DATABASE_URL"):
            sys.exit("The database has no clients: fill it first, or run without DATABASE_URL for a demo shop.")
        print(f"filling a demo shop of {clients:,} clients ...")
        call_command("demo_data", clients=clients, seed=1, verbosity=0)
    if not os.environ.get("DATABASE_URL"):
        demo.fill(seed=1)
    run = ScoringRun.objects.current()
    if run is None:
        # A few nights a week apart, oldest first: segment sizes over time and a migration matrix to show.
        yesterday = timezone.localdate() - dt.timedelta(days=1)
        for weeks in range(nights - 1, -1, -1):
            as_of = yesterday - dt.timedelta(weeks=weeks)
            print(f"scoring as of {as_of} (rebuild_segments) ...")
            call_command("rebuild_segments", as_of=as_of, verbosity=0)
        run = ScoringRun.objects.current()
    if not Snapshot.objects.filter(run=run).exists():
        build_snapshot(run)
    user, _ = User.objects.get_or_create(username=USER, defaults={"is_staff": True})
    user.is_staff, user.is_superuser = True, False
    user.set_password(PASSWORD)
    user.save()
    user.user_permissions.set([Permission.objects.get(content_type__app_label="analytics", codename="view_dashboard")])


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def serve():
    """The app (and its static files) on a free port, in a thread. Returns (server, base URL, cookie box)."""
    app = StaticFilesHandler(get_wsgi_application())
    box = {}

    def with_session(environ, start_response):
        # The browser gets the session the login below created (Chromium's command line takes no cookies).
        if box.get("cookie") and "sessionid=" not in environ.get("HTTP_COOKIE", ""):
            environ["HTTP_COOKIE"] = box["cookie"]
        return app(environ, start_response)

    server = make_server("127.0.0.1", 0, with_session, server_class=_Server, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}", box


def log_in(base):
    """Through the admin's login form, as a person would; returns the session cookie."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/admin/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"username": USER, "password": PASSWORD, "csrfmiddlewaretoken": token,
                                   "next": "/admin/"}).encode()
    request = urllib.request.Request(f"{base}/admin/login/", data=body, headers={"Referer": f"{base}/admin/login/"})
    opener.open(request).read()
    session = next((c.value for c in jar if c.name == "sessionid"), None)
    if not session:
        sys.exit("Logging in failed: no session cookie came back.")
    return f"sessionid={session}"


def shoot(chromium, url, target, height):
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--disable-dev-shm-usage", f"--window-size=1400,{height}", "--virtual-time-budget=5000",
                    f"--screenshot={target}", url], check=True, capture_output=True, timeout=120)
    print(f"{target}  ({url})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--out", default="/tmp/crm-screenshots", help="folder for the PNG files")
    parser.add_argument("--clients", type=int, default=3000, help="size of the demo shop (without DATABASE_URL)")
    parser.add_argument("--nights", type=int, default=4, help="nightly runs a week apart on a new demo shop")
    parser.add_argument("--lang", default="en", help="admin language (en or ru)")
    parser.add_argument("--query", default="", help="e.g. 'from=2025-07&to=2026-06': the period shown")
    args = parser.parse_args()
    chromium = find_chromium()
    prepare(args.clients, args.nights)
    server, base, box = serve()
    try:
        box["cookie"] = log_in(base) + f"; django_language={args.lang}"
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name, (path, height) in PAGES.items():
            url = f"{base}/admin/{path}" + (f"?{args.query}" if args.query else "")
            shoot(chromium, url, out / f"{name}.png", height)
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
