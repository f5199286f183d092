"""How long an audience sync through a platform's API takes, against writing the same platform's file.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_bench_aud \\
        .venv/bin/python bench/audience_sync.py [--clients 1000000] [--platforms meta,yandex] [--change 0.01,0.05]
                                                [--regenerate] [--force]

It uses bench/audience_export.py's segment (made once in SQL, see there), and the tests' fake server
of each platform (tests/audiences/fakes/), which checks every request as the platform would, in a
process of its own on the loopback. In the same run, per platform:

  file    `export_audience(segment, platform)`: the full file export, as a file-only sync makes it;
  sync    `sync_via_api` on a new sync: the same export, then every line to the fake in the
          platform's batch size, with the journal (target: sync / file at most 1.5);
  delta   --change of the members leave, then the nightly sync: the delta export and its requests
          (should take time in proportion to the changes, not to the audience);
  back    they come back: the same again the other way;
and delta and back again for each further share in --change (1% and 5% by default), to compare.

It prints seconds, rows per second, the ratios and the peak RSS (memory stays bounded by a batch),
and exits 0 whether or not the target is met: it is a report, not a test.

Like bench/audience_export.py it EMPTIES THE DATABASE'S CRM TABLES when it generates the data, and
refuses to run unless the database's name contains "bench" (override with --force).
"""

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import audience_export
import django_setup  # first: puts the repository on the path and sets Django up
from cryptography.fernet import Fernet
from django.db import connection
from django.test.utils import override_settings

from audiences.export import export_audience
from audiences.models import AudiencePush, AudienceSync, ConnectedAccount
from audiences.push import sync_via_api

TARGET_RATIO = 1.5
FAKES = {"meta": ("tests.audiences.fakes.meta", "FakeMeta", {"access_token": "meta-token"}, "act_1001"),
         "yandex": ("tests.audiences.fakes.yandex", "FakeYandex", {"access_token": "ya-token"}, "shop"),
         "tiktok": ("tests.audiences.fakes.tiktok", "FakeTikTok", {"access_token": "tt-token"}, "7000000000000000001")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--clients", type=int, default=1_000_000, help="members of the segment (default 1000000)")
    parser.add_argument("--platforms", default="meta,yandex", help=f"comma-separated, of {', '.join(FAKES)}")
    parser.add_argument("--change", default="0.01,0.05",
                        help="comma-separated shares of members who leave for the deltas (default 0.01,0.05)")
    parser.add_argument("--regenerate", action="store_true", help="make the data again even if it is there")
    parser.add_argument("--force", action="store_true", help="run even if the database name lacks 'bench'")
    args = parser.parse_args(argv)
    platforms = [slug.strip() for slug in args.platforms.split(",") if slug.strip()]
    changes = [float(share) for share in args.change.split(",") if share.strip()]
    if any(slug not in FAKES for slug in platforms) or not changes or not all(0 < share < 1 for share in changes):
        parser.error(f"platforms: {', '.join(FAKES)}; --change between 0 and 1")
    refusal = django_setup.refusal("bench/audience_sync.py", "crm_bench_aud", args.force)
    if refusal:
        sys.exit(refusal)
    segment = audience_export._data(args.clients, args.regenerate)
    members = audience_export._eligible(segment)
    shares = ", ".join(f"{share:.0%}" for share in changes)
    print(f"PostgreSQL {django_setup.server_version()}, {members:,} eligible members, changes {shares}")
    key = Fernet.generate_key().decode()
    for slug in platforms:
        with tempfile.TemporaryDirectory(prefix="crm-bench-") as media, _fake_server(slug) as fake, \
                override_settings(MEDIA_ROOT=media, CRM_CREDENTIALS_KEY=key, CRM_AUDIENCE_API_URLS={slug: fake.url}):
            _platform(slug, segment, members, changes, media, fake)
    print(f"peak RSS {django_setup.peak_rss_mb():.0f} MB")


def _platform(slug, segment, members, changes, media, fake):
    audience_export._forget_state(segment, slug)
    started = time.perf_counter()
    export_audience(segment, slug)
    file_seconds = time.perf_counter() - started
    audience_export._empty(media)

    audience_export._forget_state(segment, slug)
    sync = _new_sync(segment, slug)
    fake_cpu = fake.cpu_seconds()
    started = time.perf_counter()
    push = sync_via_api(sync)
    sync_seconds = time.perf_counter() - started
    assert push.status == "succeeded", push.error
    ratio = sync_seconds / file_seconds
    print(f"{slug:7} file {file_seconds:7.1f} s   sync {sync_seconds:7.1f} s ({members / sync_seconds:,.0f} rows/s, "
          f"{push.batches} requests; {_split(push)}; the fake's CPU {fake.cpu_seconds() - fake_cpu:.1f} s)   "
          f"sync/file {ratio:.2f} (target <= {TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else 'NOT met'})",
          flush=True)

    for change in changes:
        modulo = round(1 / change)
        for label, left_at in (("delta", "DATE '2026-06-02'"), ("back", "NULL")):
            with connection.cursor() as cursor:
                cursor.execute(f"UPDATE segments_segmentmembership SET left_at = {left_at} "
                               f"WHERE segment_id = %s AND mod(client_id, %s) = 1", [segment.pk, modulo])
            started = time.perf_counter()
            push = sync_via_api(sync)
            seconds = time.perf_counter() - started
            assert push.status == "succeeded", push.error
            moved = push.added + push.removed
            print(f"{slug:7} {label:5} {seconds:7.1f} s for {moved:,} lines ({seconds / sync_seconds:.1%} of the "
                  f"full sync's time for {moved / max(members, 1):.1%} of its lines; {_split(push)})", flush=True)
    audience_export._empty(media)


def _split(push):
    """How the sync's time divides: the export (files and held lines) and the requests."""
    push.refresh_from_db()
    return (f"export {push.export.seconds:.1f} s, requests "
            f"{(push.finished_at - push.started_at).total_seconds():.1f} s")


def _new_sync(segment, slug):
    AudienceSync.objects.filter(segment=segment, platform=slug).delete()
    AudiencePush.objects.filter(export__segment=segment, export__platform=slug).delete()
    _, _, secrets, account_id = FAKES[slug]
    account, _ = ConnectedAccount.objects.get_or_create(name=f"bench {slug}", defaults={
        "platform": slug, "account_id": account_id})
    account.set_credentials(secrets)
    account.save()
    return AudienceSync.objects.create(segment=segment, platform=slug, account=account)


class _fake_server:
    """The platform's fake in a process of its own (so its checks do not take this one's CPU), at `url`."""

    def __init__(self, slug):
        self.slug = slug

    def __enter__(self):
        ready = multiprocessing.Queue()
        self.process = multiprocessing.Process(target=_serve, args=(self.slug, ready), daemon=True)
        self.process.start()
        self.url = ready.get(timeout=60)
        return self

    def cpu_seconds(self):
        """CPU time the fake's process has used so far (Linux: /proc), to tell its share of the requests."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.join(10)


def _serve(slug, ready):
    """The fake, as the bench runs it: the same checks; it keeps no copy of the requests, and Python's
    cycle collector is off in its process (the fake holds a million members as tuples, which every
    full collection walked again: the platform's own bookkeeping, not what a sync costs)."""
    import gc
    import importlib

    gc.disable()
    module, name, _, _ = FAKES[slug]
    fake = getattr(importlib.import_module(module), name)()
    fake.keep_requests = False
    fake.thread.start()
    ready.put(fake.api_url)
    fake.thread.join()


if __name__ == "__main__":
    main()
