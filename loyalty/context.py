"""Loyalty values for email templates, for a batch of clients in one query:

    {{ loyalty.points }}            the balance now
    {{ loyalty.tier }}              the tier's name as of the last nightly run ({{ loyalty.tier_slug }})
    {{ loyalty.streak_days }}       consecutive days with activity up to today (or yesterday)
    {{ loyalty.expiring_points }}   points that expire within EXPIRING_WITHIN_DAYS days
    {{ loyalty.expiring_on }}       the first of those days

Values that are not known (no tier, no streak, nothing expiring) are left out, so `default` applies.
Expiring points follow the ledger's rule (loyalty/granting.py, expire): debits take the points that
expire soonest first.
"""

import datetime as dt

from django.utils import timezone

from core.sql import number_of, rows, start_of, table
from segments.models import ClientScore, ScoringRun

from .models import PointsEntry, Tier
from .streaks import day_islands

EXPIRING_WITHIN_DAYS = 30
STREAK_LOOKBACK_DAYS = 400  # a streak is counted back this far at most

LEDGER = table(PointsEntry)


def loyalty_contexts(ids, today=None):
    """{client_id: {...}} for the clients with anything to say (see the module docstring)."""
    if not ids:
        return {}
    today = today or timezone.localdate()
    horizon = today + dt.timedelta(days=EXPIRING_WITHIN_DAYS)
    among = ", ".join(str(int(i)) for i in ids)
    params = {"today": today, "horizon": horizon, "yesterday": number_of(today) - 1,
              "since": start_of(today - dt.timedelta(days=STREAK_LOOKBACK_DAYS)),
              "until": start_of(today + dt.timedelta(days=1)), "succeeded": ScoringRun.Status.SUCCEEDED}
    no_date, no_text = "CAST(NULL AS date)", "CAST(NULL AS varchar(50))"
    islands = day_islands(f"client_id IN ({among}) AND occurred_at >= %(since)s AND occurred_at < %(until)s")
    current_run = (f"SELECT id FROM {table(ScoringRun)} WHERE status = %(succeeded)s "
                   f"ORDER BY finished_at DESC, id DESC LIMIT 1")
    lot_day = "CASE WHEN expires_on < %(today)s THEN %(today)s ELSE expires_on END"
    sql = (
        # L: balance, debits, expired so far
        f"SELECT client_id, 'L' AS part, {no_date} AS d, SUM(points) AS n1, "
        f"SUM(CASE WHEN points < 0 AND kind IN ('spent', 'adjusted') THEN -points ELSE 0 END) AS n2, "
        f"SUM(CASE WHEN kind = 'expired' THEN -points ELSE 0 END) AS n3, {no_text} AS slug, {no_text} AS label "
        f"FROM {LEDGER} WHERE client_id IN ({among}) GROUP BY client_id "
        # E: lots expiring by the horizon, per day (those already due counted as due today)
        f"UNION ALL SELECT client_id, 'E', {lot_day}, SUM(points), 0, 0, {no_text}, {no_text} FROM {LEDGER} "
        f"WHERE client_id IN ({among}) AND kind = 'earned' AND points > 0 AND expires_on <= %(horizon)s "
        f"GROUP BY client_id, {lot_day} "
        # T: the tier as of the last run
        f"UNION ALL SELECT cs.client_id, 'T', {no_date}, 0, 0, 0, cs.tier, t.name "
        f"FROM {table(ClientScore)} cs "
        f"LEFT JOIN {table(Tier)} t ON t.slug = cs.tier "
        f"WHERE cs.client_id IN ({among}) AND cs.tier <> '' AND cs.run_id = ({current_run}) "
        # S: the last island of consecutive active days, if it reaches yesterday or today
        f"UNION ALL SELECT client_id, 'S', {no_date}, COUNT(*), 0, 0, {no_text}, {no_text} FROM ({islands}) i "
        f"GROUP BY client_id, grp HAVING MAX(dn) >= %(yesterday)s")
    parts = {}
    for client_id, *row in rows(sql, params):
        parts.setdefault(client_id, []).append(row)
    return {client_id: _context(found) for client_id, found in parts.items()}


def _context(found):
    out, lots = {}, []
    balance = debits = expired = 0
    for part, day, n1, n2, n3, slug, name in found:
        if part == "L":
            balance, debits, expired = int(n1 or 0), int(n2 or 0), int(n3 or 0)
        elif part == "E":
            lots.append((day, int(n1)))
        elif part == "T":
            out["tier_slug"], out["tier"] = slug, name or slug
        elif part == "S":
            out["streak_days"] = int(n1)
    out["points"] = balance
    # Through each expiry day, what is earned by then less what was used or is gone already.
    earned = 0
    for day, points in sorted(lots):
        earned += points
        due = earned - debits - expired
        if due > 0 and "expiring_on" not in out:
            out["expiring_on"] = day
        if due > 0:
            out["expiring_points"] = min(due, balance)
    return out
