"""Points granted set-based in SQL: for activity and orders (with daily and weekly caps), for
streaks, points taken back for refunded orders, and points expired. No per-client loop.

Idempotent: every row written here has a natural key unique per client (PointsEntry source, ref
and rule: the activity, the order, the streak day, the expiry day), and
rows already in the ledger are skipped, so the nightly run, a re-run, and the API granting at once
for the events it receives never grant the same thing twice. A cap counts what was granted before
(by the API or an earlier night), so late events never push a day or a week past its cap.

"As of": the nightly run for a day grants for what happened before the end of that day only, each
row dated by the day of its activity or order; readers as of a day read rows dated up to it.
"""


from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from core.sql import analyze, date_of, day_number, execute, local_day, rows, start_of, table, temporary
from crm.models import Activity, Client, Purchase
from segments.aggregates import cut_time

from .models import ExpiryProgress, PointRule, PointsEntry
from .streaks import day_islands

LEDGER = table(PointsEntry)
NO_CAP = 2**62  # room under a cap that is not set
CANDIDATES = "loyalty_candidates"
REFUND_REASON = gettext_noop("order refunded: its points taken back")


def _only(clients, column="client_id"):
    """SQL restricting a client id column to a list of ids ('' for every client)."""
    if clients is None:
        return ""
    return f" AND {column} IN ({', '.join(str(int(c)) for c in clients) or 'NULL'})"


def grant(cut, clients=None, rules=None, streaks=True):
    """Grant what the active rules give for events before `cut` (an aware datetime). `clients`:
    only these client ids (the API's case); `streaks`: streak bonuses too (they read each client's
    whole run of days, so the API leaves them to the night). Returns {"earned": rows, "refunds": rows}."""
    rules = list(PointRule.objects.filter(is_active=True)) if rules is None else rules
    counts = {"earned": 0, "refunds": 0}
    if not rules:
        return counts
    with transaction.atomic():
        events = [r for r in rules if r.source in (PointRule.Source.ACTIVITY, PointRule.Source.PURCHASE)]
        if events:
            counts["earned"] += _grant_events(events, cut, clients)
            # Statistics for the ledger after a big insert (the first night of a rule): the refund
            # and expiry statements that follow join it, and planned for an empty table they crawl.
            analyze(LEDGER, counts["earned"])
        for rule in rules:
            if streaks and rule.source == PointRule.Source.STREAK:
                counts["earned"] += _grant_streak(rule, cut, clients)
        orders = [r for r in rules if r.source == PointRule.Source.PURCHASE]
        if orders:
            counts["refunds"] = _take_back_refunds(clients)
        execute(f"DROP TABLE IF EXISTS {CANDIDATES}")
    return counts


def _grant_events(rules, cut, clients):
    temporary(CANDIDATES, "client_id bigint, src bigint, prefix varchar(1), rule_id bigint, dn integer, "
                          "t timestamp with time zone, v integer")
    candidates = 0
    for rule in rules:
        params = {"rule": rule.pk, "start": start_of(rule.starts_on), "cut": cut}
        if rule.source == PointRule.Source.ACTIVITY:
            model, prefix, at, value, extra = Activity, "a", "occurred_at", "%(points)s", "AND kind = %(kind)s"
            params |= {"points": rule.points, "kind": rule.activity_kind}
        else:
            model, prefix, at, extra = Purchase, "p", "purchased_at", "AND status = 'completed'"
            if rule.basis == PointRule.Basis.PER_AMOUNT:
                value = "CAST(FLOOR(amount * %(points)s / %(unit)s) AS bigint)"
                params |= {"points": rule.points, "unit": rule.amount_unit}
            else:
                value = "%(points)s"
                params |= {"points": rule.points}
        candidates += execute(f"INSERT INTO {CANDIDATES} (client_id, src, prefix, rule_id, dn, t, v) "
            f"SELECT x.client_id, x.id, '{prefix}', %(rule)s, {day_number(local_day('x.' + at))}, x.{at}, {value} "
            f"FROM {table(model)} x WHERE x.{at} >= %(start)s AND x.{at} < %(cut)s {extra}{_only(clients)} "
            f"AND NOT EXISTS (SELECT 1 FROM {LEDGER} e WHERE e.client_id = x.client_id "
            f"AND e.source = '{prefix}' AND e.ref = x.id AND e.rule_id = %(rule)s)", params)
    analyze(CANDIDATES, candidates)
    capped = [r for r in rules if r.daily_cap is not None or r.weekly_cap is not None]
    caps = " ".join(f"WHEN {r.pk} THEN {r.daily_cap if r.daily_cap is not None else NO_CAP}" for r in rules)
    weekly = " ".join(f"WHEN {r.pk} THEN {r.weekly_cap if r.weekly_cap is not None else NO_CAP}" for r in rules)
    expiry = " ".join(f"WHEN {r.pk} THEN {r.expires_after_days}" for r in rules if r.expires_after_days)
    expires = f"CASE c.rule_id {expiry} END" if expiry else "CAST(NULL AS integer)"
    # Granted before, per client, rule and day or week, for the capped rules only (an uncapped rule
    # needs no look back), from a week before the earliest candidate. Weeks run Monday to Sunday:
    # day 0 (1970-01-01) was a Thursday.
    params = {"now": timezone.now()}
    if capped:
        params["since"] = _earliest_candidate_day() - 7
        ids = ", ".join(str(r.pk) for r in capped)
        before = (f"SELECT client_id, rule_id, {day_number('day')} AS dn, CAST(SUM(points) AS bigint) AS pts "
                  f"FROM {LEDGER} WHERE kind = 'earned' AND rule_id IN ({ids}) AND day >= {date_of('%(since)s')} "
                  f"AND client_id IN (SELECT client_id FROM {CANDIDATES}) GROUP BY client_id, rule_id, day")
        day_before = (f"LEFT JOIN ({before}) gd ON gd.client_id = c.client_id AND gd.rule_id = c.rule_id "
                      f"AND gd.dn = c.dn")
        week_before = (f"LEFT JOIN (SELECT client_id, rule_id, (dn + 3) / 7 AS wk, CAST(SUM(pts) AS bigint) AS pts "
                       f"FROM ({before}) b "
                       f"GROUP BY client_id, rule_id, (dn + 3) / 7) gw ON gw.client_id = c.client_id "
                       f"AND gw.rule_id = c.rule_id AND gw.wk = (c.dn + 3) / 7")
        day_room = f"GREATEST((CASE c.rule_id {caps} END) - COALESCE(gd.pts, 0), 0)"
        week_room = f"GREATEST((CASE c.rule_id {weekly} END) - COALESCE(gw.pts, 0), 0)"
    else:
        day_before = week_before = ""
        day_room = week_room = str(NO_CAP)
    # A running sum per day and per week, each event given what is left under the cap after the
    # events before it: min(sum up to it, room) - min(sum before it, room). (Sums of integers are
    # bigint; of bigints they would be numeric, several times slower.)
    ranked = (f"SELECT c.client_id, c.src, c.prefix, c.rule_id, c.dn, c.t, c.v, (c.dn + 3) / 7 AS wk, "
              f"SUM(c.v) OVER (PARTITION BY c.client_id, c.rule_id, c.dn ORDER BY c.t, c.src "
              f"ROWS UNBOUNDED PRECEDING) AS cum_d, {day_room} AS room_d, {week_room} AS room_w, "
              f"{expires} AS expires_after FROM {CANDIDATES} c {day_before} {week_before}")
    daily = (f"SELECT r.*, CAST(LEAST(r.cum_d, r.room_d) - LEAST(r.cum_d - r.v, r.room_d) AS integer) "
             f"AS g FROM ({ranked}) r")
    weekly_sum = (f"SELECT d.*, SUM(d.g) OVER (PARTITION BY d.client_id, d.rule_id, d.wk ORDER BY d.dn, d.t, d.src "
                  f"ROWS UNBOUNDED PRECEDING) AS cum_w FROM ({daily}) d")
    granted = "LEAST(w.cum_w, w.room_w) - LEAST(w.cum_w - w.g, w.room_w)"
    return execute(
        f"INSERT INTO {LEDGER} (client_id, kind, points, day, expires_on, rule_id, source, ref, reason, created_at) "
        f"SELECT w.client_id, 'earned', {granted}, {date_of('w.dn')}, "
        f"CASE WHEN w.expires_after IS NOT NULL THEN {date_of('w.dn + w.expires_after')} END, w.rule_id, "
        f"w.prefix, w.src, '', %(now)s FROM ({weekly_sum}) w "
        f"WHERE {granted} > 0 ON CONFLICT DO NOTHING", params)


def _earliest_candidate_day():
    """The earliest day number with a candidate event (0 when there is none: nothing to grant)."""
    return rows(f"SELECT MIN(dn) FROM {CANDIDATES}")[0][0] or 0


def _grant_streak(rule, cut, clients):
    """Every `streak_days`-th consecutive day with activity (of the rule's kind, or any) earns the
    bonus, dated that day: islands of consecutive days found by day minus its rank."""
    kind = "AND kind = %(kind)s" if rule.activity_kind else ""
    islands = day_islands(f"occurred_at >= %(start)s AND occurred_at < %(cut)s {kind}{_only(clients)}")
    positions = (f"SELECT client_id, dn, ROW_NUMBER() OVER (PARTITION BY client_id, grp ORDER BY dn) AS pos "
                 f"FROM ({islands}) i")
    expires = date_of(f"s.dn + {rule.expires_after_days}") if rule.expires_after_days else "NULL"
    return execute(
        f"INSERT INTO {LEDGER} (client_id, kind, points, day, expires_on, rule_id, source, ref, reason, created_at) "
        f"SELECT s.client_id, 'earned', %(points)s, {date_of('s.dn')}, {expires}, %(rule)s, 's', s.dn, '', %(now)s "
        f"FROM ({positions}) s WHERE s.pos %% %(every)s = 0 AND NOT EXISTS (SELECT 1 FROM {LEDGER} e "
        f"WHERE e.client_id = s.client_id AND e.source = 's' AND e.ref = s.dn AND e.rule_id = %(rule)s) "
        f"ON CONFLICT DO NOTHING",
        {"start": start_of(rule.starts_on), "cut": cut, "kind": rule.activity_kind,
         "points": rule.points, "rule": rule.pk, "every": rule.streak_days, "now": timezone.now()})


def _take_back_refunds(clients):
    """A refunded order's points come back off the balance, dated the day it is noticed (the
    refund's own time is not recorded), so a night recomputed for an earlier day is unchanged."""
    return execute(
        f"INSERT INTO {LEDGER} (client_id, kind, points, day, expires_on, rule_id, source, ref, reason, created_at) "
        f"SELECT e.client_id, 'adjusted', -e.points, %(today)s, NULL, e.rule_id, 'r', e.ref, %(reason)s, %(now)s "
        f"FROM {table(Purchase)} p JOIN {LEDGER} e ON e.client_id = p.client_id AND e.source = 'p' AND e.ref = p.id "
        f"AND e.rule_id IS NOT NULL WHERE p.status = 'refunded'{_only(clients, 'p.client_id')} "
        f"AND NOT EXISTS (SELECT 1 FROM {LEDGER} r WHERE r.client_id = e.client_id AND r.source = 'r' "
        f"AND r.ref = e.ref AND r.rule_id = e.rule_id) ON CONFLICT DO NOTHING",
        {"today": timezone.localdate(), "reason": REFUND_REASON, "now": timezone.now()})


EXPIRY_DATES = "loyalty_expiry_dates"
EXPIRY_CLIENTS = "loyalty_expiry_clients"


def expire(as_of):
    """Record the points that expired on each day up to `as_of` not yet looked at.

    Spending and other debits take the points that expire soonest first, so by an expiry date E
    every lot expiring by E is used or gone: expired through E = max over dates e <= E of
    (earned in lots expiring by e) - (debits before e). Each date's row is the growth of that
    running maximum. Dates after the last run's `through`, and the dates of lots recorded since
    it looked (a rule reaching into the past), are looked at; keys make a second look harmless.
    Returns the number of expiry rows written."""
    progress = ExpiryProgress.objects.first() or ExpiryProgress.objects.create()
    # Lots recorded from here on are looked at by the next run (lots recorded before it by this
    # one): a lot is never left out, and the next night does not look at this night's lots again.
    started_at = timezone.now()
    with transaction.atomic():
        written = _expire(as_of, progress)
        ExpiryProgress.objects.filter(pk=progress.pk).update(
            through=max(filter(None, [progress.through, as_of])), checked_at=started_at)
        execute(f"DROP TABLE IF EXISTS {EXPIRY_DATES}")
        execute(f"DROP TABLE IF EXISTS {EXPIRY_CLIENTS}")
    analyze(LEDGER, written)  # as after granting: the statements that follow join the ledger
    return written


def _expire(as_of, progress):
    fresh = []
    if progress.through is not None:
        fresh.append("expires_on > %(through)s")
    else:
        fresh.append("1 = 1")
    if progress.checked_at is not None:
        fresh.append("created_at > %(checked)s")
    params = {"as_of": as_of, "through": progress.through,
              "checked": progress.checked_at, "now": timezone.now()}
    temporary(EXPIRY_DATES, "client_id bigint, dn integer")
    execute(f"INSERT INTO {EXPIRY_DATES} SELECT DISTINCT client_id, {day_number('expires_on')} FROM {LEDGER} "
        f"WHERE kind = 'earned' AND points > 0 AND expires_on IS NOT NULL AND expires_on <= %(as_of)s "
        f"AND ({' OR '.join(fresh)})", params)
    # The clients concerned, keyed: each part of the time line below finds its rows by them, with an
    # index whatever the planner thinks of the ledger (its statistics lag behind a night's inserts;
    # taking one kind of row for none once made a nested loop that ran far too long).
    temporary(EXPIRY_CLIENTS, "client_id bigint PRIMARY KEY")
    execute(f"INSERT INTO {EXPIRY_CLIENTS} SELECT DISTINCT client_id FROM {EXPIRY_DATES}")
    execute(f"ANALYZE {EXPIRY_DATES}")
    execute(f"ANALYZE {EXPIRY_CLIENTS}")
    mine = f"EXISTS (SELECT 1 FROM {EXPIRY_CLIENTS} m WHERE m.client_id = {LEDGER}.client_id)"
    # One time line per client: lots by expiry date (0), the dates to look at (1), then debits and
    # expiries recorded on a day (2), which count only for later dates.
    timeline = (
        f"SELECT client_id, {day_number('expires_on')} AS dn, 0 AS prio, points AS a, 0 AS d, 0 AS x FROM {LEDGER} "
        f"WHERE {mine} AND kind = 'earned' AND points > 0 AND expires_on IS NOT NULL AND expires_on <= %(as_of)s "
        f"UNION ALL SELECT client_id, dn, 1, 0, 0, 0 FROM {EXPIRY_DATES} "
        f"UNION ALL SELECT client_id, {day_number('day')}, 2, 0, -points, 0 FROM {LEDGER} "
        f"WHERE {mine} AND points < 0 AND kind IN ('spent', 'adjusted') AND day <= %(as_of)s "
        f"UNION ALL SELECT client_id, {day_number('day')}, 2, 0, 0, -points FROM {LEDGER} "
        f"WHERE {mine} AND kind = 'expired'")
    running = ("SELECT client_id, dn, prio, "
               "SUM(a) OVER w AS a, SUM(d) OVER w AS d, SUM(x) OVER w AS x "
               f"FROM ({timeline}) t WINDOW w AS (PARTITION BY client_id ORDER BY dn, prio ROWS UNBOUNDED PRECEDING)")
    needed = ("SELECT client_id, dn, x, MAX(a - d) OVER (PARTITION BY client_id ORDER BY dn "
              f"ROWS UNBOUNDED PRECEDING) AS need FROM ({running}) r WHERE prio = 1")
    total = f"SELECT client_id, dn, x, GREATEST(x, need, 0) AS total FROM ({needed}) n"
    stepped = ("SELECT client_id, dn, x, total, LAG(total) OVER (PARTITION BY client_id ORDER BY dn) AS before "
               f"FROM ({total}) t")
    amount = "s.total - GREATEST(COALESCE(s.before, 0), s.x)"
    return execute(
        f"INSERT INTO {LEDGER} (client_id, kind, points, day, expires_on, rule_id, source, ref, reason, created_at) "
        f"SELECT s.client_id, 'expired', -({amount}), {date_of('s.dn')}, NULL, NULL, 'x', s.dn, '', %(now)s "
        f"FROM ({stepped}) s WHERE {amount} > 0 ON CONFLICT DO NOTHING", params)


def grant_received(external_ids):
    """Grant at once for the activity the API just recorded, for these clients (shop's ids): the
    activity rules' points for what they did up to the end of today (streak bonuses and orders are
    the night's). The nightly run finds these rows and grants nothing twice."""
    rules = list(PointRule.objects.filter(is_active=True, source=PointRule.Source.ACTIVITY))
    if not rules or not external_ids:
        return {"earned": 0, "refunds": 0}
    wanted = {e.strip() for e in external_ids}
    clients = list(Client.objects.filter(external_id__in=wanted).values_list("pk", flat=True))
    if not clients:
        return {"earned": 0, "refunds": 0}
    return grant(cut_time(timezone.localdate()), clients=clients, rules=rules, streaks=False)
