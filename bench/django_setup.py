"""What every database benchmark starts with. Imported first by a script run as
`python bench/NAME.py`: it puts the repository on the path, sets Django up, and offers the checks
and readings the benchmarks share."""

import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402


def refusal(script, example_database, force):
    """Why this benchmark must not run on the configured database (it empties tables), or None."""
    name = str(connection.settings_dict["NAME"] or "")
    if "bench" not in name and not force:
        return (f"{script} empties the tables of the database it runs on, and {name!r} does not look "
                f"like a benchmark database (no 'bench' in its name). Use a database such as "
                f"{example_database}, or pass --force if you really mean it.")
    return None


def server_version():
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return cursor.fetchone()[0]


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def cpu_seconds():
    """CPU seconds used so far by this process and its PostgreSQL backend, or None when the backend is
    not a process of this machine (its /proc entry is then missing or someone else's). On a shared,
    loaded machine a ratio of CPU seconds holds better than one of wall times."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        if connection.settings_dict["NAME"].encode() not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return None
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return time.process_time() + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def member_segment(slug, name, marker, members, skip_every):
    """An inactive rule segment (the nightly run leaves it alone) whose members are the first `members`
    clients by id, leaving out every `skip_every`-th so the read is not the whole table. Returns its id."""
    from core.sql import table
    from crm.models import Client
    from segments.models import Segment, SegmentMembership

    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table(Segment)} (slug, name, kind, description, rule, is_active, size, updated_at) "
            f"VALUES (%s, %s, 'rule', %s, '{{}}', false, %s, now()) RETURNING id",
            [slug, name, marker, members])
        segment_id = cursor.fetchone()[0]
        cursor.execute(
            f"INSERT INTO {table(SegmentMembership)} (segment_id, client_id, entered_at) "
            f"SELECT %s, id, DATE '2026-01-01' FROM {table(Client)} WHERE mod(id, %s) <> 0 ORDER BY id LIMIT %s",
            [segment_id, skip_every, members])
    return segment_id
