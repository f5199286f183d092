"""Visits and the per-client measures a retention team reads from them, as of a cut-off. Pure numpy.

A visit is an activity row of kind `session` (its properties: crm/session_properties.py), starting
at its started_at (else at its occurred_at). A client with no session row before the cut-off has
their visits derived from their other activity rows (page views, events: each row a hit): hits
further than CRM_SESSION_GAP_MINUTES apart start a new visit, which lasts from its first hit to its
last and has as many pages as hits. A client with session rows has only those: the shop sends
either sessions or hits, and counting both would count one visit twice.

The measures, per client, at a cut-off (epoch microseconds; rows from the cut-off on are unseen):

    visits_30, visits_90   visits started in the 30 / 90 days before the cut-off
    visit_seconds          mean duration of the 90 days' visits that have one (NaN if none)
    bounce_rate            share of the 90 days' visits with one page or less, or shorter than
                           CRM_BOUNCE_SECONDS, among those with pages or a duration (NaN if none)
    visit_gap_days         median days between the starts of consecutive visits in the last 365
                           days (NaN with fewer than two)
    visit_conversion       share of the 90 days' visits that converted: a target_action, or a
                           completed order from the visit's start to CRM_SESSION_GAP_MINUTES after
                           its end (NaN without visits)
"""

from dataclasses import dataclass

import numpy as np

from crm.session_properties import CONVERTED_SESSION, HIT  # Trail.code

DAY = 86_400_000_000  # microseconds
MEASURES = ("visits_30", "visits_90", "visit_seconds", "bounce_rate", "visit_gap_days", "visit_conversion")


@dataclass
class Trail:
    """Activity rows sorted by client, then start: client positions, occurred_at and start in
    microseconds, duration (seconds) and pages as given (NaN if not), and a code (HIT for a row of
    another kind, SESSION, CONVERTED_SESSION when its target_action says so)."""

    client: np.ndarray
    occurred: np.ndarray
    start: np.ndarray
    seconds: np.ndarray
    pages: np.ndarray
    code: np.ndarray

    @classmethod
    def sorted(cls, columns):
        """From the list [client, occurred, start, seconds, pages, code], which it empties: each
        column is let go as soon as its sorted copy is made, so the read holds one spare column,
        not a second trail (the read is one of the night's two peaks of memory)."""
        # By client, then start to the second: one sort of one key, several times faster than a
        # two-key sort of seven million rows. Rows in the same second may come in any order; the
        # measures do not depend on it (a derived visit's start and end are its hits' min and max).
        order = np.argsort(_key(columns[0], columns[2]))
        columns.append(columns.pop().astype(np.int8))
        return cls(*(columns.pop(0)[order] for _ in range(len(columns))))

    def sample(self, step):
        """Every step-th client's rows, client positions divided by step (see Events.at)."""
        if step == 1:
            return self
        rows = self.where(self.client % step == 0)
        rows.client //= step
        return rows

    def where(self, mask):
        """The rows where mask is true (a new Trail)."""
        return Trail(*(column[mask] for column in self._columns()))

    def before(self, cut):
        """The rows that occurred before cut: this trail itself when all did (the as-of cut, which
        the rows were read up to), so the night's biggest pass copies nothing."""
        known = self.occurred < cut
        return self if known.all() else self.where(known)

    def _columns(self):
        return self.client, self.occurred, self.start, self.seconds, self.pages, self.code


@dataclass
class Visits:
    """Every visit known before a cut-off: each client's visits together, by start within a client
    (what gaps() needs; the other measures are per-client sums that take any order)."""

    client: np.ndarray
    start: np.ndarray  # microseconds
    seconds: np.ndarray  # NaN if unknown
    pages: np.ndarray  # NaN if unknown
    converted: np.ndarray  # bool: by its own target_action


def visits(trail, cut, n, gap_us):
    rows = trail.before(cut)
    session = rows.code != HIT
    if session.all():  # a shop that sends sessions: every row is a visit, as it is
        return Visits(rows.client, rows.start, rows.seconds, rows.pages, rows.code == CONVERTED_SESSION)
    sessions = rows.where(session)
    has_sessions = np.bincount(sessions.client, minlength=n) > 0
    hits = rows.where(~session & ~has_sessions[rows.client])
    starts_visit = np.ones(hits.client.size, dtype=bool)
    starts_visit[1:] = (hits.client[1:] != hits.client[:-1]) | (np.diff(hits.start) > gap_us)
    first = np.flatnonzero(starts_visit)
    began = np.minimum.reduceat(hits.start, first) if first.size else hits.start[first]
    ended = np.maximum.reduceat(hits.start, first) if first.size else hits.start[first]
    # Each part has its clients' visits together, by start, and no client is in both: joined as they are.
    parts = (
        (sessions.client, sessions.start, sessions.seconds, sessions.pages, sessions.code == CONVERTED_SESSION),
        (hits.client[first], began, (ended - began) / 1e6,
         np.diff(np.append(first, hits.client.size)).astype(np.float64), np.zeros(first.size, dtype=bool)),
    )
    return Visits(*(np.concatenate(column) for column in zip(*parts, strict=True)))


def measures(trail, order_client, order_time, cut, n, gap_minutes, bounce_seconds):
    """The measures (MEASURES) of n clients at `cut`; orders: completed orders' client positions and
    times (microseconds, any order; those from the cut-off on are left out here)."""
    gap_us = gap_minutes * 60_000_000
    v = visits(trail, cut, n, gap_us)
    recent = v.start >= cut - 90 * DAY
    client, start, seconds, pages = v.client[recent], v.start[recent], v.seconds[recent], v.pages[recent]
    visits_90 = np.bincount(client, minlength=n)
    timed = np.isfinite(seconds)
    judged, bounced = bounces(seconds, pages, bounce_seconds)
    converted = v.converted[recent] | ordered_during(client, start, seconds, order_client, order_time,
                                                      cut - 90 * DAY, cut, gap_us)
    return {
        "visits_30": np.bincount(client[start >= cut - 30 * DAY], minlength=n).astype(np.int64),
        "visits_90": visits_90.astype(np.int64),
        "visit_seconds": _share(np.bincount(client[timed], weights=seconds[timed], minlength=n),
                                np.bincount(client[timed], minlength=n)),
        "bounce_rate": _share(np.bincount(client[bounced], minlength=n), np.bincount(client[judged], minlength=n)),
        "visit_gap_days": _median_gap(v, cut - 365 * DAY, n),
        "visit_conversion": _share(np.bincount(client[converted], minlength=n), visits_90),
    }


def bounces(seconds, pages, bounce_seconds):
    """Per visit: whether it can be judged (has pages or a duration), and whether it bounced."""
    judged = np.isfinite(seconds) | np.isfinite(pages)
    with np.errstate(invalid="ignore"):
        return judged, judged & ((pages <= 1) | (seconds < bounce_seconds))


def _share(part, whole):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(whole > 0, part / np.maximum(whole, 1), np.nan)


def _key(client, us):
    """(client, second) as one sortable int64: seconds since 1970 fit in 32 bits until 2106."""
    return (client.astype(np.int64) << 32) | (us // 1_000_000)


def ordered_during(client, start, seconds, order_client, order_time, since, cut, gap_us):
    """Per visit: a completed order of its client from its start to gap_us after its end."""
    inside = (order_time >= since) & (order_time < cut)
    orders = np.sort(_key(order_client[inside], order_time[inside]))
    if not orders.size:
        return np.zeros(client.size, dtype=bool)
    end = start + (np.nan_to_num(seconds) * 1e6).astype(np.int64) + gap_us
    at = np.minimum(np.searchsorted(orders, _key(client, start)), orders.size - 1)
    return (orders[at] >= _key(client, start)) & (orders[at] <= _key(client, end))


def gaps(client, start):
    """(whether each visit follows one of the same client, days since that one, for those that do),
    for visits grouped by client and by start within a client (Visits)."""
    follows = np.zeros(client.size, dtype=bool)
    follows[1:] = client[1:] == client[:-1]
    gap = np.diff(start)[follows[1:]].astype(np.float64)  # one temporary at a time: the read's peak is here
    np.maximum(gap, 0, out=gap)  # 0: two starts in one second
    gap /= DAY
    return follows, gap


def _median_gap(v, since, n):
    kept = v.start >= since
    client, start = v.client[kept], v.start[kept]
    follows, gap = gaps(client, start)
    owner = client[follows]
    del client, start, follows  # the year's visits, let go before the sort (the read's peak)
    # By client, then gap: one float key (the gap a fraction below 1) sorts faster than two keys.
    order = np.argsort(owner + gap / (gap.max() + 1) if gap.size else owner, kind="stable")
    gap = gap[order]  # one at a time: two new arrays at once would be the read's peak
    owner = owner[order]
    counts = np.bincount(owner, minlength=n)
    starts = np.cumsum(counts) - counts
    has = counts > 0
    out = np.full(n, np.nan)
    low, high = (starts + (counts - 1) // 2)[has], (starts + counts // 2)[has]
    out[has] = (gap[low] + gap[high]) / 2
    return out
