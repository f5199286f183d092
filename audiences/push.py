"""Send an export's lines to an ad platform through its API, batch by batch, with a journal that
makes the push resumable at any point.

    sync_via_api(sync, run=None, user=None)   resume what the sync left unfinished, then export and push
    run_push(push)                            (re)start one push; returns it with its outcome
    dry_run(sync, out)                        print the requests a sync would make; changes nothing

What is sent is what the file export of the same sync writes (audiences.export): its delta against
what the platform holds (added, removed), or everybody on the first sync and on a full replace, with
the same consent rule (ads consent, not erased), normalisation and hashing. The export and its push
record (AudiencePush) are committed together, so an export that the platform has not been sent is
never forgotten: the sync's next run resumes it before it exports anything new (the platform gets
the changes in their order).

The journal (PushBatch): each request is written SENDING (committed) before it goes and SENT, with
the platform's answer and the push's counts, after. A resumed push skips SENT batches. A SENDING one
is a request whose answer never came (worker killed, connection broken): the platform is asked where
it can tell (`AdApi.received`); otherwise removals are sent again (removing twice is harmless: no
removal is lost), additions too where adding twice is (`adds_repeatable`), else they are recorded as
unknown rather than counted twice by the platform. Requests the platform refused or that failed
before reaching it (5xx, rate limit past our patience) leave no journal entry and go again.

A push is held by one worker at a time: a lease renewed at each batch; a push whose lease ran out
belongs to a dead worker and the next run takes it over. A push does not start while an older one of
its sync has not gone through (a "Sync now" during the nightly run waits for the next run).
"""

import contextlib
import csv
import datetime as dt
import io
import itertools
import logging

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .apis import ApiError, Batch, NotSentError, api_for
from .credentials import CredentialsKeyError
from .export import export_audience, read_ahead
from .exports import get_platform
from .exports.base import csv_line
from .models import AudiencePush, AudienceSync, ExportMode, PushBatch

logger = logging.getLogger(__name__)

# A worker holds a push this long past its last batch; renewed at each one. Longer than one request
# with its retries (CRM_AUDIENCE_API_ATTEMPTS waits of at most CRM_AUDIENCE_API_MAX_WAIT).
LEASE = dt.timedelta(minutes=30)


def sync_via_api(sync, run=None, user=None):
    """The sync's unfinished pushes first, in order; then, if they all went through, a new export
    (in full into a new audience on the first sync or on request, else the delta) and its push.
    Returns the last push run (its status says how it went)."""
    push = None
    for push in AudiencePush.objects.filter(sync=sync).exclude(status=AudiencePush.Status.SUCCEEDED).order_by("id"):
        run_push(push)
        if push.status != AudiencePush.Status.SUCCEEDED:
            return push  # newer changes wait: the platform must get them in order
    sync.refresh_from_db()
    new = sync.replace_requested or not sync.remote_ids
    export = export_audience(sync.segment, sync.platform, delta=not new, run=run, user=user, sync=sync,
                             push_account=sync.account, new_audience=new)
    return run_push(export.push)


def run_push(push, api=None):
    """Claim the push (unless a live worker holds it), send what it has not sent, record the outcome."""
    now = timezone.now()
    if AudiencePush.objects.filter(sync=push.sync_id, pk__lt=push.pk).exclude(
            status=AudiencePush.Status.SUCCEEDED).exists():
        push.refresh_from_db()
        return push  # an older push of the sync has not gone through: the platform gets them in order
    claimable = Q(status__in=[AudiencePush.Status.PENDING, AudiencePush.Status.FAILED]) | Q(
        status=AudiencePush.Status.RUNNING, lease_until__lt=now)
    if api is None and not AudiencePush.objects.filter(claimable, pk=push.pk).update(
            status=AudiencePush.Status.RUNNING, lease_until=now + LEASE, attempts=F("attempts") + 1, error=""):
        push.refresh_from_db()
        return push
    push.refresh_from_db()
    if push.started_at is None:
        push.started_at = now
    try:
        _Pusher(push, api or api_for(push.account)).run()
    except (ApiError, CredentialsKeyError, OSError) as exc:
        logger.warning("audience push %s failed: %s", push.pk, exc)
        _finish(push, AudiencePush.Status.FAILED, f"{type(exc).__name__}: {exc}")
    except BaseException as exc:
        _finish(push, AudiencePush.Status.FAILED, f"{type(exc).__name__}: {exc}")
        raise
    else:
        _finish(push, AudiencePush.Status.SUCCEEDED, "")
    return push


def dry_run(sync, out):
    """Print to `out` the requests the sync's next run would make, with placeholders for what the
    platform would answer; nothing is sent, stored or kept."""
    api = api_for(sync.account, dry_run=out)
    export = None
    with contextlib.suppress(_RolledBack), transaction.atomic():
        new = sync.replace_requested or not sync.remote_ids
        export = export_audience(sync.segment, sync.platform, delta=not new, sync=sync, push_account=sync.account,
                                 new_audience=new)
        out.write(f"# {sync}: {'a new audience, every member' if new else 'the changes'} "
                  f"({export.exported:,} to add, {export.removed:,} to remove)\n")
        _Pusher(export.push, api).run()
        raise _RolledBack
    for name in (export.files.values() if export else ()):
        default_storage.delete(name)


class _RolledBack(Exception):
    pass


def _finish(push, status, error):
    push.status, push.error = status, error[:5000]
    push.finished_at = timezone.now()
    push.lease_until = None
    push.save()


class _Pusher:
    def __init__(self, push, api):
        self.push, self.api = push, api
        self.export, self.sync = push.export, push.sync
        self.platform = get_platform(self.export.platform)
        self.journal = {entry.seq: entry for entry in push.journal.all()}

    def run(self):
        push = self.push
        if not push.batch_size:
            limit = settings.CRM_AUDIENCE_API_BATCH_LIMIT
            push.batch_size = min(self.api.batch_size, limit) if limit else self.api.batch_size
            AudiencePush.objects.filter(pk=push.pk).update(batch_size=push.batch_size)
        size = push.batch_size
        full = self.export.mode == ExportMode.FULL
        plan = [("add", key) for key in self.platform.files] if full else [
            *(("remove", key) for key in self.platform.files), *(("add", key) for key in self.platform.files)]
        with contextlib.closing(read_ahead(self._batches(plan, size))) as batches:
            for seq, batch in enumerate(batches, 1):
                self._batch(seq, batch)

    def _batches(self, plan, size):
        """The push's batches in order, each prepared for its request (`AdApi.prepare`). Run ahead of the
        sending by a thread of its own (read_ahead): the next batch is read and encoded while the
        platform takes in the current one; the requests still go one after the other, each after
        the previous one's answer, so the journal and the platforms' sessions see them in order."""
        full = self.export.mode == ExportMode.FULL
        for kind, key in plan:
            name = self.export.files[key if full else f"{kind}/{key}"]
            total = self.export.rows.get(key if full else f"{kind}/{key}", 0)
            header = self.platform.files[key]
            for index, (text, rows) in enumerate(_chunks(name, size), 1):
                batch = Batch(self.push.pk, kind, key, header, rows, index, total, index * size >= total, size, text)
                self.api.prepare(batch)
                yield batch

    def _target(self, batch: Batch):
        """(the platform's audience for the batch's file, or None when it must be made from it)."""
        key = batch.file_key
        if key in self.push.targets:
            return self.push.targets[key]
        if not self.push.new_audience and self.sync.remote_ids.get(key):
            return self._record_target(key, self.sync.remote_ids[key])
        name = self._audience_name(key)
        found = self.api.find(name, key)
        if found:
            return self._record_target(key, found)
        if batch.kind == "remove":
            return None
        if self.api.creates_with_data:
            return None
        remote_id, _ = self.api.create(name, batch)
        return self._record_target(key, remote_id)

    def _audience_name(self, key):
        segment = self.export.segment_slug
        files = f" {key}" if len(self.platform.files) > 1 else ""
        return f"CRM {segment}{files} #{self.push.pk}"

    def _record_target(self, key, remote_id):
        push, sync = self.push, self.sync
        with transaction.atomic():
            sync.refresh_from_db(fields=["remote_ids"])
            if push.new_audience and sync.remote_ids.get(key) and sync.remote_ids[key] != remote_id:
                push.replaced_ids[key] = sync.remote_ids[key]
            push.targets[key] = remote_id
            sync.remote_ids = {**sync.remote_ids, key: remote_id}
            AudienceSync.objects.filter(pk=sync.pk).update(remote_ids=sync.remote_ids)
            AudiencePush.objects.filter(pk=push.pk).update(targets=push.targets, replaced_ids=push.replaced_ids)
        return remote_id

    def _batch(self, seq, batch: Batch):
        entry = self.journal.get(seq)
        if entry is not None and entry.state == PushBatch.State.SENT:
            return
        target = self._target(batch)
        if target is None and batch.kind == "remove":
            return  # nothing of this file on the platform yet
        if entry is not None and target is not None:  # sent before, its answer never came
            known = self.api.received(target, batch)
            if known or (known is None and batch.kind == "add" and not self.api.adds_repeatable):
                outcome = "found on the platform" if known else "answer lost; not sent again (counted twice otherwise)"
                self._sent(entry, batch, {"received": len(batch), "after_loss": outcome},
                           reason=None if known else outcome)
                return
        # (An audience to be made from the batch that does not exist: nothing of the batch arrived.)
        if entry is None:
            entry = PushBatch.objects.create(push=self.push, seq=seq, kind=batch.kind, file_key=batch.file_key,
                                             lines=len(batch), state=PushBatch.State.SENDING)
        else:
            entry.attempt += 1
            entry.save(update_fields=["attempt"])
        try:
            if target is None:
                target, sent = self.api.create(self._audience_name(batch.file_key), batch)
                self._record_target(batch.file_key, target)
            elif batch.kind == "add":
                sent = self.api.add(target, batch)
            else:
                sent = self.api.remove(target, batch)
        except NotSentError:
            raise  # stays SENDING: the resumed push asks the platform or decides
        except ApiError:
            # Refused, or failed before the platform took it: nothing of it applied, sent anew next time.
            entry.delete()
            raise
        self._sent(entry, batch, {"received": sent.received, "rejected": sent.rejected, "reasons": sent.reasons,
                                  "match_rate": sent.match_rate})

    def _sent(self, entry, batch, result, reason=None):
        push = self.push
        with transaction.atomic():
            entry.state, entry.result = PushBatch.State.SENT, result
            entry.save(update_fields=["state", "result"])
            push.batches += 1
            lines = len(batch) - result.get("rejected", 0)
            if batch.kind == "add":
                push.added += lines
            else:
                push.removed += lines
            push.rejected += result.get("rejected", 0)
            for text, count in (result.get("reasons") or {}).items():
                push.reasons[text] = push.reasons.get(text, 0) + count
            if reason:
                push.reasons[reason] = push.reasons.get(reason, 0) + len(batch)
            if result.get("match_rate") is not None:
                push.match_rate = result["match_rate"]
            push.lease_until = timezone.now() + LEASE
            push.save()


def _chunks(name, size):
    """(text, rows) of the data records of a stored CSV file (header skipped), `size` records at a time:
    memory bounded by a batch. `text` is the records as the file holds them, `rows` their cells, or
    None when the text holds no quote (Batch.rows splits them if asked).

    The exports write the files: a chunk without a quote holds one record a line, its cells split at
    the commas (the usual case: digests, digits, plain ids), with no csv module to go through. A
    chunk with a quote is read by the csv module, which may take lines beyond it (a quoted cell
    holding a line break) or leave some of it for the next chunk.
    """
    with default_storage.open(name, "rb") as handle:
        # The storage's own file object where it has one: through Django's File wrapper every line
        # read asked whether the file was closed (a third of a million-line push's time).
        lines = io.TextIOWrapper(getattr(handle, "file", handle), encoding="utf-8", newline="")
        next(lines, None)
        rest = []
        while chunk := rest + list(itertools.islice(lines, size - len(rest))):
            rest = []
            text = "".join(chunk)
            if '"' not in text:
                yield text, None  # one record a line: its cells are split only if a platform asks (Batch.rows)
                continue
            unread = iter(chunk)
            rows = list(itertools.islice(csv.reader(itertools.chain(unread, lines)), size))
            rest = list(unread)
            yield "".join(map(csv_line, rows)), rows


__all__ = ["LEASE", "dry_run", "run_push", "sync_via_api"]
