"""The path a first-time user takes: no DATABASE_URL, so the project runs its own PostgreSQL server
(data in a folder of its own), migrates, imports a small shop and scores it."""

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]

CLIENTS = """client_id,email,email_consent
c1,ann@example.com,1
c2,bob@example.com,1
c3,cid@example.com,0
"""
PURCHASES = """order_id,client_id,purchased_at,amount
o1,c1,2026-01-10,100
o2,c1,2026-03-02,250.50
o3,c2,2026-02-14,80
o4,c3,2025-11-30,40
"""


def _servers_on(folder):
    return [p for p in psutil.process_iter(["name", "cmdline"])
            if p.info["name"] == "postgres" and str(folder) in " ".join(p.info["cmdline"] or [])]


def _wait_for(condition, seconds=60):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_first_run_starts_its_own_server_imports_and_scores_a_shop(tmp_path, server_folder):
    var = server_folder
    (tmp_path / "clients.csv").write_text(CLIENTS)
    (tmp_path / "orders.csv").write_text(PURCHASES)
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(CRM_VAR_DIR=str(var), DJANGO_DEBUG="1", EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")

    def manage(*args):
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    manage("migrate", "--verbosity", "0")
    assert "created 3" in manage("import_clients", str(tmp_path / "clients.csv"))
    assert "created 4" in manage("import_purchases", str(tmp_path / "orders.csv"))
    manage("rebuild_segments", "--as-of", "2026-03-31")
    scores = manage("export_scores", "-").splitlines()
    assert scores[0].startswith("client_id,")
    assert sorted(line.split(",")[0] for line in scores[1:]) == ["c1", "c2", "c3"]

    # The server kept its data in the folder, listened on a socket there and no TCP port, and the
    # last command to exit stopped it.
    assert (var / "postgres" / "PG_VERSION").exists()
    assert not _servers_on(var / "postgres")

    # A command killed outright cannot count itself out: the server runs on until the next command
    # ends. One ended by SIGTERM (as by a process manager) stops it on its way out.
    killed = subprocess.run([sys.executable, "manage.py", "shell", "-c", "import os; os.kill(os.getpid(), 9)"],
                            cwd=ROOT, env=env, capture_output=True, timeout=120)
    assert killed.returncode == -9 and _servers_on(var / "postgres")
    manage("check")
    assert not _servers_on(var / "postgres")
    held = subprocess.Popen([sys.executable, "manage.py", "shell", "--no-imports", "-c", "print('up', flush=True); "
                             "import time; time.sleep(120)"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert held.stdout.readline().strip() == "up"  # Django is set up: the server runs and counts it in
    assert _servers_on(var / "postgres")
    held.terminate()
    held.wait(timeout=60)
    _wait_for(lambda: not _servers_on(var / "postgres"))
    log = (var / "postgres" / "log").read_text()
    assert "listening on Unix socket" in log and "listening on IPv4" not in log


def test_a_folder_left_by_an_interrupted_first_start_is_set_up_again(server_folder):
    # initdb was cut short (a kill, a full disk): files in the folder but no PG_VERSION; initdb refuses
    # a folder that is not empty, so the first try fails and the second starts from an empty folder.
    data = server_folder / "postgres"
    (data / "base").mkdir(parents=True)
    (data / "postgresql.conf").write_text("# half-written\n")
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(CRM_VAR_DIR=str(server_folder), DJANGO_DEBUG="1")

    done = subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr
    assert "trying again" in done.stderr
    assert (data / "PG_VERSION").exists()
    _wait_for(lambda: not _servers_on(data))  # stopped with its last holder
