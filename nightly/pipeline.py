"""The nightly run: read aggregates, score, write scores, update segments; all or nothing.

    rebuild_segments(as_of)  is called by the Celery beat task, `manage.py rebuild_segments`
                             and the admin alike.

Stages: (1) the shop's orders and activity read once, and from them per-client aggregates at the
as-of time (every client) and at past cut-offs (a sample of clients on a big shop: only the models
learn from them);
(2) global cut-offs (RFM quantiles, engagement reference) and the churn and value models, learned
from this shop's own history; (3) scores written in bulk, in id ranges, under the new run's id;
(4) in one transaction: segment memberships, sizes, the RFM migration matrix, the run marked
succeeded and older runs' scores dropped. Readers only ever read the newest succeeded run, so they
see the previous night until the very end, and a crash leaves it intact.

Buys: scores written by binary COPY, WRITERS ranges at once (bench/segmentation.py, "write scores").
"""

import datetime as dt
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from core import logs, memory, pgcopy, sql
from loyalty.nightly import run_stage as loyalty_stage
from recommendations.nightly import run_stage as recommendations_stage
from segments import aggregates, churn, clv, features, membership, notes, reasons, scoring
from segments.models import ClientScore, ScoringRun
from segments.signals import run_succeeded

log = logging.getLogger(__name__)
RANGE_SIZE = 100_000
WRITERS = 2  # score ranges written at once (see _write_ranges)
# Past cut-offs the models learn from, newest first, each with its window fully observed. Value
# windows (a year) overlap, a churn horizon apart, so a young shop still has rows to learn from.
CHURN_CUTOFFS = 4
VALUE_CUTOFFS = 4


# Clients whose past aggregates the models learn from: enough that the per-cut-off training samples
# (features.MAX_TRAIN_ROWS over the cut-offs) and BG/NBD fits (features.BTYD_FIT_ROWS) still draw
# from several times their size.
HISTORY_CLIENTS = 200_000


def history_step(n_clients):
    """The past of every k-th client: 1 (everyone) up to HISTORY_CLIENTS clients."""
    return max(1, -(-n_clients // HISTORY_CLIENTS))


class RunRefused(Exception):
    """Another run is in progress."""


def cut_of(as_of):
    """aggregates.cut_time as epoch days: the run sees what happened before it."""
    return aggregates.epoch_days(aggregates.cut_time(as_of))


def default_as_of():
    """The last complete day in TIME_ZONE: the night run at 03:00 scores yesterday."""
    return timezone.localdate() - dt.timedelta(days=1)


def start_run(as_of):
    stale = timezone.now() - dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    # A run whose worker died never finishes: after the task time limit it cannot be alive.
    ScoringRun.objects.filter(status=ScoringRun.Status.RUNNING, started_at__lt=stale).update(
        status=ScoringRun.Status.FAILED, finished_at=timezone.now(), error="abandoned: ran past the time limit")
    try:
        with transaction.atomic():
            run = ScoringRun.objects.create(as_of=as_of)
    except IntegrityError:
        running = ScoringRun.objects.filter(status=ScoringRun.Status.RUNNING).first()
        raise RunRefused(f"another run is in progress (as of {running.as_of if running else '?'}, "
                         f"started {running.started_at:%Y-%m-%d %H:%M} UTC)" if running else
                         "another run is in progress") from None
    logs.bind(run=run.pk)  # the run's id on every log line from here on
    return run


# The stages in order; `stage_seconds` fills in as each ends, so a page can show how far a run is.
STAGES = ("read", "models", "recommendations", "loyalty", "write scores", "segments")


@contextmanager
def _stage(run, name, progress, publish=None):
    if progress:
        progress(f"{name}...")
    started = time.monotonic()
    yield
    run.stage_seconds[name] = round(time.monotonic() - started, 2)
    if publish:
        publish(run)


def _publish_stages(run):
    """Write the stages done so far to the run's row for the admin's progress page, committed at once.

    Inside the night's transaction the row is written on a connection of its own (in a thread, as
    connections are per thread), or nobody would see it before the end. Never after the segments
    stage: the night's transaction then holds the run's row, and waiting for it would never end.
    """
    def write():
        ScoringRun.objects.filter(pk=run.pk).update(stage_seconds=dict(run.stage_seconds))

    if not connection.in_atomic_block:
        write()
        return
    with ThreadPoolExecutor(1) as pool:
        pool.submit(sql.on_own_connection(write)).result()


def rebuild_segments(as_of=None, progress=None):
    """Score every client as of a date and refresh every segment. Returns the finished run."""
    as_of = as_of or default_as_of()
    memory.map_big_blocks()
    run = start_run(as_of)
    try:
        _rebuild(run, progress)
    except BaseException as exc:
        _record_failure(run, exc)
        raise
    return run


def _record_failure(run, exc):
    # A connection lost outside a transaction (database restart, failover, a killed backend) stays
    # broken: without a fresh one the run could not be marked failed and, left "running", would
    # refuse every next run until CELERY_TASK_TIME_LIMIT. Inside a caller's transaction there is
    # nothing to do but let the caller roll back.
    if not connection.in_atomic_block and connection.connection is not None and not connection.is_usable():
        connection.close()
    try:
        ClientScore.objects.filter(run=run).delete()
        ScoringRun.objects.filter(pk=run.pk).update(
            status=ScoringRun.Status.FAILED, finished_at=timezone.now(), error=f"{type(exc).__name__}: {exc}",
            stage_seconds=run.stage_seconds)
    except DatabaseError:
        log.exception("scoring run %s failed and could not be recorded as failed", run.pk)


def _rebuild(run, progress):
    h, big_h = settings.CRM_CHURN_HORIZON_DAYS, settings.CRM_CLV_HORIZON_DAYS
    levels = settings.CRM_RFM_LEVELS
    cut = cut_of(run.as_of)
    churn_cuts = [cut - h * (k + 1) for k in range(CHURN_CUTOFFS)]
    value_cuts = [cut - big_h - h * k for k in range(VALUE_CUTOFFS)]

    # Published only where the run owns its transactions: inside a caller's, the run's row is not
    # committed, and another connection would wait on it.
    publish = _publish_stages if sql.may_go_apart() else None
    with _stage(run, "read", progress, publish):
        ids, first_seen = aggregates.client_ids(cut)
        events = aggregates.load(ids, first_seen, cut)
        (current,), _ = events.at([cut])
        # The past cut-offs only feed the models, which learn from samples anyway: on a big shop
        # they are computed for an evenly spread sample of clients (every k-th by id). Everyone
        # is still scored with the as-of aggregates.
        # Revenue over the churn windows too: the value model's short-window candidate learns from
        # them where the shop is too young for horizon-long windows (segments/clv.py).
        windows = ([(c, c + h, "orders") for c in churn_cuts] + [(c, c + big_h, "revenue") for c in value_cuts]
                   + [(c, c + h, "revenue") for c in churn_cuts])
        at, window_values = events.at([*churn_cuts, *value_cuts], windows, step=history_step(ids.size))
        del events
    n = CHURN_CUTOFFS
    churn_history = list(zip(at[:n], window_values[:n]))
    value_history = list(zip(at[n:], window_values[n:n + VALUE_CUTOFFS]))
    short_history = list(zip(at[:n], window_values[n + VALUE_CUTOFFS:]))

    with _stage(run, "models", progress, publish):
        cuts = scoring.global_cuts(current, levels)
        current_fit = features.fit_current(current)  # shared: both models predict with it
        typicals = reasons.shop_typicals(current)
        explain = _explainer(current, typicals)
        # The two models share only their inputs, so each learns and explains its scores beside the
        # other: the trees' loops and numpy release the GIL, and each model keeps to one OpenMP thread
        # (see limited_threads). The one that learns faster explains while the other still learns.
        with ThreadPoolExecutor(2) as pool:
            churn_job = pool.submit(explain, "churn", churn.score_churn, current, churn_history, h, current_fit)
            value_job = pool.submit(explain, "value", clv.score_value, current, value_history, big_h, current_fit,
                                    short_history=short_history, short_days=h)
            (churn_result, churn_why), (value_result, value_why) = churn_job.result(), value_job.result()
        why = {"churn": churn_why, "value": value_why}
    run.metrics = {"churn": {"method": churn_result.method, **_plain(churn_result.metrics)},
                   "value": {"method": value_result.method, **_plain(value_result.metrics)},
                   "cuts": cuts, "reasons": typicals}
    # Kept as message and values, so the admin says them in each reader's language (segments/notes.py).
    run.notes = [notes.stored(note) for note in (churn_result.note, value_result.note) if note]
    if ids.size and not (current["frequency"] > 0).any():
        run.notes.append(notes.stored(notes.Note(
            gettext_noop("No purchases yet: every client is a prospect; RFM, churn and value wait for orders."))))

    # Before the night's transaction, committed on its own: the lists are rewritten in one transaction
    # per night (readers see yesterday's or tonight's), and a night that fails later leaves lists that
    # are newer than the scores, which nothing reads together.
    with _stage(run, "recommendations", progress, publish):
        run.metrics["recommendations"] = _plain(recommendations_stage(run.as_of))

    # One transaction from here on, so the night is all or nothing: the points it grants and expires
    # commit with the memberships and the run's success, and a night that fails or is killed after
    # its loyalty stage leaves no ledger rows (the next night grants them). The scores are written
    # on other connections where work may go apart; a failed run's scores are deleted and were
    # never read (readers take the current run's). They need none of this transaction's rows, so
    # whether they may go apart is decided before it opens.
    apart = sql.may_go_apart()
    with transaction.atomic():
        with _stage(run, "loyalty", progress, publish):  # points granted and expired, tiers as of the night
            tier, run.metrics["loyalty"] = loyalty_stage(run.as_of, ids)

        with _stage(run, "write scores", progress, publish):
            cols = scoring.columns(current, churn_result, value_result, cuts, levels,
                                   (settings.CRM_CHURN_BAND_MEDIUM, settings.CRM_CHURN_BAND_HIGH), run.as_of, tier,
                                   why)
            _write_ranges(run, ids, cols, progress, apart)
            # The statistics must know this run's rows before the segments stage joins them with the
            # previous run's: taken for none, the join of two runs' score sets was planned as a nested
            # loop, many times slower (autovacuum would come too late, if it is on).
            sql.execute(f"ANALYZE {sql.table(ClientScore)}")

        with _stage(run, "segments", progress):
            sql.set_local("work_mem", settings.CRM_NIGHTLY_WORK_MEM)  # room for the anti-joins to hash in memory
            previous = ScoringRun.objects.current()
            moved = membership.apply(run, previous, ids, cols)
            run.migration = membership.rfm_migration(previous, run)
            buyers = int((current["frequency"] > 0).sum())
            run.counts = {"clients": int(ids.size), "buyers": buyers, "prospects": int(ids.size) - buyers, **moved}
            run.status = ScoringRun.Status.SUCCEEDED
            run.finished_at = timezone.now()
            run.save()
            ClientScore.objects.exclude(run=run).delete()
    ScoringRun.objects.filter(pk=run.pk).update(stage_seconds=run.stage_seconds)
    run_succeeded.send(sender=ScoringRun, run=run)


def _explainer(current, typicals):
    """explain(kind, score, *args, **kwargs) -> (score's result, each client's drivers of it): the
    model learned by score(*args, **kwargs), then its reasons (segments/reasons.py); '' for clients
    without orders, whom no model scores."""
    rows = features.buyers(current)
    buyers = features.take(current, rows)  # shared by both models' reasons

    def explain(kind, score, *args, **kwargs):
        result = score(*args, **kwargs)
        codes = np.full(len(current["frequency"]), "", dtype=object)
        prediction = result.probability if kind == "churn" else result.expected_revenue
        codes[rows] = reasons.explain(buyers, prediction[rows], result.predict, kind, typicals)
        return result, codes

    return explain


def _plain(metrics):
    """JSON-safe metrics (numpy numbers to Python, NaN to None), nested dicts and lists included."""
    def plain(v):
        if isinstance(v, dict):
            return _plain(v)
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and v != v:
            return None
        return v
    return {k: plain(v) for k, v in (metrics or {}).items()}


def _write_ranges(run, ids, cols, progress, apart):
    """Every client's scores, range by range, each range in a transaction of its own; where work
    may go apart (`apart`: the run is not inside a caller's transaction), WRITERS ranges at once,
    each through a connection of its own, so that the database's share (checking keys, filling the
    indexes) runs on as many cores."""
    ranges = [slice(start, start + RANGE_SIZE) for start in range(0, ids.size, RANGE_SIZE)]

    def write(part):
        _write_scores(run, ids[part], {k: v[part] for k, v in cols.items()})
        return part.stop

    at_once = apart and WRITERS > 1 and len(ranges) > 1
    with ThreadPoolExecutor(WRITERS) as pool:
        for stop in pool.map(sql.on_own_connection(write), ranges) if at_once else map(write, ranges):
            if progress:
                progress(f"  scored {min(stop, ids.size)} of {ids.size} clients")


STAGE = "segments_score_stage"


def _write_scores(run, client_ids, cols):
    """One range's scores, in a transaction of its own: numpy-built binary rows into a staging
    table, then one INSERT ... SELECT that restores NULLs, text and exact decimals (see
    scoring.STAGE_COLUMNS for the encoding)."""
    table = sql.table(ClientScore)
    data, vocabularies = scoring.binary_rows(client_ids, cols, run.as_of)
    expressions = {
        "recency_days": "CAST(NULLIF(recency_days, 'NaN') AS integer)",
        "monetary": "CAST(monetary AS numeric(16, 2))",
        "avg_order_value": "CAST(NULLIF(avg_order_value, 'NaN') AS numeric(16, 2))",
        "first_purchase_at": "NULLIF(first_purchase_at, 'infinity')",
        "last_purchase_at": "NULLIF(last_purchase_at, 'infinity')",
        "avg_days_between": "NULLIF(avg_days_between, 'NaN')",
        "r": "NULLIF(r, 0)", "f": "NULLIF(f, 0)", "m": "NULLIF(m, 0)",
        "churn_risk": "NULLIF(churn_risk, 'NaN')",
        "predicted_clv": "CAST(predicted_clv AS numeric(16, 2))",
        "next_order_at": "NULLIF(next_order_at, 'infinity')",
        "days_since_activity": "CAST(NULLIF(days_since_activity, 'NaN') AS integer)",
        **{name: f"NULLIF({name}, 'NaN')" for name in ("visit_seconds", "bounce_rate", "visit_gap_days",
                                                        "visit_conversion")},
    }
    params = [run.pk]
    select = []
    for name in scoring.ROW_COLUMNS:
        if name in vocabularies:
            select.append(f"(CAST(%s AS text[]))[{name} + 1]")
            params.append(vocabularies[name])
        else:
            select.append(expressions.get(name, name))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")
        cursor.execute(f"CREATE TEMPORARY TABLE {STAGE} ("
                       f"{', '.join(f'{name} {kind}' for name, kind, _ in scoring.STAGE_COLUMNS)}) ON COMMIT DROP")
        pgcopy.copy_in(cursor, f"COPY {STAGE} FROM STDIN (FORMAT binary)", data)
        cursor.execute(f"INSERT INTO {table} (run_id, {', '.join(scoring.ROW_COLUMNS)}) "
                       f"SELECT %s, {', '.join(select)} FROM {STAGE}", params)
        cursor.execute(f"DROP TABLE {STAGE}")
