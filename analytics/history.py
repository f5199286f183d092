"""The snapshot's history by month, kept between nights: a night recomputes only the months whose
orders or activity changed.

    update(cut, full=False)  brings the tables below up to the orders and activity before `cut`
                             and returns the months it recomputed;
    pieces()                 every month's piece, for precompute.assemble.

Three tables (models.py). ClientMonth: one row per client and month with a completed order (orders,
revenue, first and last order time, the client's channel) and its neighbours (the client's previous
and next month with an order, and their first). ActiveMonth: one row per client and month with an
order or an activity event, and the previous such month. MonthPiece: per month, small GROUP BYs over
that month's rows of both (totals, (previous, next month) links, cohort cells, channels, active
pairs), and the fingerprints of the month's completed orders and activity (count and sums of a
hash of each row: client, time, amount, id).

A night compares each month's fingerprints with the stored ones (one GROUP BY over purchases and one
over activity). For a month whose orders changed (a new order, a refund, an edit, a deletion, an
order imported late with an old date) its (client, month) rows are read again and compared with the
stored ones: the clients whose rows differ, those whose activity months differ, and those whose
acquisition channel changed (clients updated since the last snapshot) are the touched clients. Their
rows are recomputed in full (every month of theirs: a new first order moves their cohort, a new
order changes the next month of their previous one), and the pieces of every month in which one of
their rows changed are updated by those rows: stored piece + new rows - old rows (whole numbers, so
exactly what a full GROUP BY gives). The rest of the months are not read. A fingerprint is a sum, so
an edit that leaves every sum of a month unchanged (two amounts swapped between two clients) would go
unseen: `manage.py build_analytics --full` recomputes everything.
"""

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.sql import execute, rows, set_local, start_of, table
from crm.models import Activity, Client, Purchase

from .models import ActiveMonth, ClientMonth, HistoryMark, MonthPiece
from .months import first_day, index_of

CM = table(ClientMonth)
AM = table(ActiveMonth)
LOCK = 220_001  # the advisory lock's key
BASE = "client_id, month, orders, cents, first_at, last_at"
CM_COLUMNS = f"{BASE}, channel, prev_month, prev_last_at, next_month, first_month"
DAY_US = 86_400_000_000


def month_sql(column):
    """SQL for the month number (year * 12 + month - 1) of a timestamp column in TIME_ZONE, and its params."""
    tz = settings.TIME_ZONE
    local = f"({column} AT TIME ZONE %s)"
    return f"CAST(date_part('year', {local}) * 12 + date_part('month', {local}) - 1 AS INTEGER)", [tz, tz]


def _month_of(model, column, cut):
    """SQL for the month number of `column` (as month_sql) by a binary search among the month
    starts from the table's first row to `cut` (width_bucket): no time zone arithmetic per row,
    which took longer than reading the table. Its params."""
    earliest = rows(f"SELECT MIN({column}) FROM {table(model)}")[0][0]  # the index answers
    first = index_of(timezone.localtime(earliest or cut))
    last = index_of(timezone.localtime(cut))
    starts = [start_of(first_day(m)) for m in range(first, last + 2)]
    return f"(%s + width_bucket({column}, CAST(%s AS TIMESTAMPTZ[])) - 1)", [first, starts]


def _micros(expression):
    # date_part (double precision) rather than EXTRACT (numeric): on a big shop the numeric
    # arithmetic alone took longer than reading the table. Exact to the microsecond up to 2255.
    return f"CAST(date_part('epoch', {expression}) * 1000000 AS BIGINT)"


def _within(column, months, cut):
    """SQL condition (and params): `column` in one of `months`, before `cut` (the index on it serves)."""
    if not months:
        return "FALSE", []
    parts, params = [], []
    for m in sorted(months):
        parts.append(f"({column} >= %s AND {column} < %s)")
        params += [start_of(first_day(m)), min(start_of(first_day(m + 1)), cut)]
    return "(" + " OR ".join(parts) + ")", params


def _prints(cut):
    """{month: fingerprint} of the completed orders and of the activity before `cut`."""
    month, params = _month_of(Purchase, "purchased_at", cut)
    # One bigint per row from client, time and amount, hashed with the id as seed: a moved, edited,
    # refunded (no longer completed) or deleted order changes its month's sum.
    orders = {m: [int(n), str(total), str(h)] for m, n, total, h in rows(
        f"SELECT {month}, COUNT(*), SUM(amount), SUM(hashint8extended((client_id * 1000003) "
        f"# CAST(date_part('epoch', purchased_at) * 1000000 AS BIGINT) # CAST(amount * 100 AS BIGINT), id)) "
        f"FROM {table(Purchase)} WHERE status = 'completed' AND purchased_at < %s GROUP BY 1", [*params, cut])}
    month, params = _month_of(Activity, "occurred_at", cut)
    activity = {m: [int(n), str(h)] for m, n, h in rows(
        f"SELECT {month}, COUNT(*), SUM(hashint8extended((client_id * 1000003) "
        f"# CAST(date_part('epoch', occurred_at) * 1000000 AS BIGINT), 0)) "
        f"FROM {table(Activity)} WHERE occurred_at < %s GROUP BY 1", [*params, cut])}
    return orders, activity


def _client_months_sql(where, params, cut):
    """SELECT of (client_id, month, orders, cents, first_at, last_at) from completed orders."""
    month, month_params = _month_of(Purchase, "purchased_at", cut)
    return (f"SELECT client_id, {month} AS month, COUNT(*) AS orders, CAST(SUM(amount) * 100 AS BIGINT) AS cents, "
            f"{_micros('MIN(purchased_at)')} AS first_at, {_micros('MAX(purchased_at)')} AS last_at "
            f"FROM {table(Purchase)} "
            f"WHERE status = 'completed' AND {where} GROUP BY 1, 2"), [*month_params, *params]


def _with_neighbours_sql(base):
    """INSERT of ClientMonth rows from `base` (a SELECT of BASE): the channel and each row's
    neighbours added."""
    return (f"INSERT INTO {CM} ({CM_COLUMNS}) SELECT b.client_id, b.month, b.orders, b.cents, b.first_at, "
            f"b.last_at, COALESCE(c.acquisition_channel, ''), LAG(b.month) OVER w, LAG(b.last_at) OVER w, "
            f"LEAD(b.month) OVER w, FIRST_VALUE(b.month) OVER w FROM ({base}) b "
            f"LEFT JOIN {table(Client)} c ON c.id = b.client_id "
            f"WINDOW w AS (PARTITION BY b.client_id ORDER BY b.month)")


def _active_months_sql(clients_where, cut):
    month, params = _month_of(Activity, "occurred_at", cut)
    return (f"INSERT INTO {AM} (client_id, month, ordered, visited, prev_month) "
            f"SELECT client_id, month, BOOL_OR(ordered), BOOL_OR(visited), LAG(month) OVER "
            f"(PARTITION BY client_id ORDER BY month) FROM ("
            f"SELECT client_id, month, TRUE AS ordered, FALSE AS visited FROM {CM} WHERE {clients_where} "
            f"UNION ALL SELECT DISTINCT client_id, {month}, FALSE, TRUE FROM {table(Activity)} a "
            f"WHERE {clients_where} AND occurred_at < %s) u GROUP BY client_id, month"), [*params, cut]


def update(cut, full=False):
    """Bring the history up to `cut` (recomputing every month when `full`, or when nothing is stored
    yet); returns the months whose pieces were recomputed. Inside one transaction: a failed night
    leaves the previous history."""
    with transaction.atomic():
        execute("SELECT pg_advisory_xact_lock(%s)", [LOCK])  # one update at a time
        mark = HistoryMark.objects.filter(pk=1).first()
        started = timezone.now()
        set_local("work_mem", settings.CRM_NIGHTLY_WORK_MEM)
        set_local("jit", "off")  # JIT compiles each of these statements for longer than it saves
        orders, activity = _prints(cut)
        if full or mark is None:
            recomputed = compute_pieces(_rebuild(cut))
        else:
            recomputed = _refresh(cut, orders, activity, mark.checked_at)
        _store(recomputed, orders, activity, started)
        HistoryMark.objects.update_or_create(pk=1, defaults={"checked_at": started})
    return set(recomputed)


def _rebuild(cut):
    execute(f"TRUNCATE {CM}, {AM}, {table(MonthPiece)}")
    # The indexes built once after the load, not row by row during it.
    with connection.schema_editor() as editor:
        for model in (ClientMonth, ActiveMonth):
            for index in model._meta.indexes:
                editor.remove_index(model, index)
        sql, params = _client_months_sql("purchased_at < %s", [cut], cut)
        execute(_with_neighbours_sql(sql), params)
        sql, params = _active_months_sql("TRUE", cut)
        execute(sql, params)
        for model in (ClientMonth, ActiveMonth):
            for index in model._meta.indexes:
                editor.add_index(model, index)
    execute(f"ANALYZE {CM}, {AM}")
    return {m for (m,) in rows(f"SELECT DISTINCT month FROM {AM}")}


def _changed(stored, current):
    return {m for m in set(stored) | set(current) if stored.get(m) != current.get(m)}


def _refresh(cut, orders, activity, since):
    """Recompute the touched clients' rows; returns the months in which any of their rows changed."""
    stored = dict(MonthPiece.objects.values_list("month", "orders_print"))
    order_months = _changed(stored, orders)
    stored = dict(MonthPiece.objects.values_list("month", "activity_print"))
    activity_months = _changed(stored, activity)

    where, params = _within("purchased_at", order_months, cut)
    sql, params = _client_months_sql(where, params, cut)
    _temporary("analytics_fresh", sql, params)
    base = BASE
    in_orders = in_visits = "month = ANY(CAST(%s AS INTEGER[]))"
    month, month_params = _month_of(Activity, "occurred_at", cut)
    where, params = _within("occurred_at", activity_months, cut)
    _temporary("analytics_visits", f"SELECT DISTINCT client_id, {month} AS month FROM {table(Activity)} "
                                   f"WHERE {where}", [*month_params, *params])
    # Touched: rows of a changed month that differ, visit months that differ, a changed channel.
    _temporary("analytics_touched", (
        f"SELECT client_id FROM (SELECT {base} FROM analytics_fresh EXCEPT SELECT {base} FROM {CM} "
        f"WHERE {in_orders}) a "
        f"UNION SELECT client_id FROM (SELECT {base} FROM {CM} WHERE {in_orders} EXCEPT SELECT {base} "
        f"FROM analytics_fresh) b "
        f"UNION SELECT client_id FROM (SELECT client_id, month FROM analytics_visits EXCEPT SELECT client_id, month "
        f"FROM {AM} WHERE visited AND {in_visits}) c "
        f"UNION SELECT client_id FROM (SELECT client_id, month FROM {AM} WHERE visited AND {in_visits} "
        f"EXCEPT SELECT client_id, month FROM analytics_visits) d "
        f"UNION SELECT cm.client_id FROM {table(Client)} c JOIN {CM} cm ON cm.client_id = c.id "
        f"AND cm.prev_month IS NULL WHERE c.updated_at >= %s AND cm.channel <> c.acquisition_channel"),
        [sorted(order_months)] * 2 + [sorted(activity_months)] * 2 + [since])
    execute("CREATE INDEX ON analytics_touched (client_id)")
    execute("ANALYZE analytics_touched")
    touched = "client_id IN (SELECT client_id FROM analytics_touched)"

    _temporary("analytics_old_cm", f"SELECT {CM_COLUMNS} FROM {CM} WHERE {touched}")
    _temporary("analytics_old_am", f"SELECT client_id, month, ordered, visited, prev_month FROM {AM} WHERE {touched}")
    execute(f"DELETE FROM {CM} WHERE {touched}")
    # The touched clients' months: unchanged months as stored, changed months as read again.
    execute(_with_neighbours_sql(
        f"SELECT {base} FROM analytics_old_cm WHERE NOT month = ANY(CAST(%s AS INTEGER[])) "
        f"UNION ALL SELECT {base} FROM analytics_fresh WHERE {touched}"), [sorted(order_months)])
    execute(f"DELETE FROM {AM} WHERE {touched}")
    sql, params = _active_months_sql(touched, cut)
    execute(sql, params)

    am = "client_id, month, ordered, visited, prev_month"
    # The touched clients' new rows, read once by client (their index) rather than by month.
    _temporary("analytics_new_cm", f"SELECT {CM_COLUMNS} FROM {CM} WHERE {touched}")
    _temporary("analytics_new_am", f"SELECT {am} FROM {AM} WHERE {touched}")
    months = {m for (m,) in rows(
        f"SELECT month FROM (SELECT {CM_COLUMNS} FROM analytics_old_cm EXCEPT SELECT {CM_COLUMNS} "
        f"FROM analytics_new_cm) a UNION SELECT month FROM (SELECT {CM_COLUMNS} FROM analytics_new_cm "
        f"EXCEPT SELECT {CM_COLUMNS} FROM analytics_old_cm) b "
        f"UNION SELECT month FROM (SELECT {am} FROM analytics_old_am EXCEPT SELECT {am} FROM analytics_new_am) c "
        f"UNION SELECT month FROM (SELECT {am} FROM analytics_new_am EXCEPT SELECT {am} FROM analytics_old_am) d")}
    # Each piece is sums and counts by key over the month's rows, in whole numbers: the stored piece
    # plus the touched clients' new rows minus their old ones is exactly the piece of all its rows,
    # at a cost of the touched clients' rows rather than the month's.
    stored = dict(MonthPiece.objects.filter(month__in=months).values_list("month", "data"))
    plus = compute_pieces(months, cm="analytics_new_cm", am="analytics_new_am")
    minus = compute_pieces(months, cm="analytics_old_cm", am="analytics_old_am")
    return {m: _merged(stored.get(m) or _empty(), plus[m], minus[m]) for m in months}


def _temporary(name, select, params=()):
    execute(f"DROP TABLE IF EXISTS {name}")
    execute(f"CREATE TEMPORARY TABLE {name} ON COMMIT DROP AS {select}", params)


def _store(recomputed, orders, activity, now):
    """Store the recomputed pieces and every month's fingerprints; drop months left empty."""
    pieces = {m: piece for m, piece in recomputed.items() if piece["totals"][1] or piece["active"]}
    keep = set(orders) | set(activity) | set(pieces)
    MonthPiece.objects.exclude(month__in=keep).delete()
    existing = {p.month: p for p in MonthPiece.objects.filter(month__in=keep)}
    changed, created = [], []
    for m in keep:
        piece = existing.get(m) or MonthPiece(month=m, computed_at=now)
        before = (piece.orders_print, piece.activity_print)
        piece.orders_print, piece.activity_print = orders.get(m, []), activity.get(m, [])
        if m in pieces:
            piece.data, piece.computed_at = pieces[m], now
        if piece.pk is None:
            created.append(piece)
        elif m in pieces or before != (piece.orders_print, piece.activity_print):
            changed.append(piece)
    MonthPiece.objects.bulk_create(created, batch_size=500)
    MonthPiece.objects.bulk_update(changed, ["orders_print", "activity_print", "data", "computed_at"], batch_size=500)


KEYS = {"pairs": 1, "links": 3, "cohorts": 1, "channels": 1, "active": 1}  # key columns of each list's rows


def _empty():
    return {"totals": [0, 0, 0, 0], **{key: [] for key in KEYS}}


def compute_pieces(months, cm=CM, am=AM):
    """{month: piece} for `months`, from their rows in `cm` and `am` (ClientMonth and ActiveMonth, or
    tables of the same columns; GROUP BYs by month): money in cents and times in
    microseconds (DAY_US a day), exact whatever the order of the rows. Each list's rows are the key
    columns (KEYS), then the clients, then sums."""
    if not months:
        return {}
    params = [sorted(months)]
    out = {m: _empty() for m in months}
    where = "WHERE month = ANY(CAST(%s AS INTEGER[]))"
    for m, cents, n, gap_us, gaps in rows(
            f"SELECT month, SUM(cents), SUM(orders), SUM(last_at - first_at), SUM(orders - 1) FROM {cm} {where} "
            f"GROUP BY 1", params):
        out[m]["totals"] = [int(cents or 0), int(n), int(gap_us or 0), int(gaps or 0)]
    # Gaps between consecutive orders in two different months, by the earlier month.
    for m, p, count, gap_us in rows(
            f"SELECT month, prev_month, COUNT(*), SUM(CASE WHEN prev_month IS NULL THEN 0 "
            f"ELSE first_at - prev_last_at END) FROM {cm} {where} GROUP BY 1, 2", params):
        out[m]["pairs"].append([p, int(count), int(gap_us or 0)])
    for m, p, following, two, count in rows(
            f"SELECT month, prev_month, next_month, orders >= 2, COUNT(*) FROM {cm} {where} GROUP BY 1, 2, 3, 4",
            params):
        out[m]["links"].append([p, following, two, int(count)])
    for m, first_m, count in rows(f"SELECT month, first_month, COUNT(*) FROM {cm} {where} GROUP BY 1, 2", params):
        out[m]["cohorts"].append([first_m, int(count)])
    for m, channel, count, cents, new in rows(
            f"SELECT month, channel, COUNT(*), SUM(cents), SUM(CASE WHEN prev_month IS NULL THEN 1 ELSE 0 END) "
            f"FROM {cm} {where} GROUP BY 1, 2", params):
        out[m]["channels"].append([channel, int(count), int(cents or 0), int(new)])
    for m, p, count in rows(f"SELECT month, prev_month, COUNT(*) FROM {am} {where} GROUP BY 1, 2", params):
        out[m]["active"].append([p, int(count)])
    for piece in out.values():
        _sort(piece)
    return out


def _sort(piece):
    """Each list in one order, whatever order the database grouped in."""
    for key in KEYS:
        piece[key].sort(key=lambda row: tuple((x is None, x) for x in row))


def _merged(piece, plus, minus):
    """piece + plus - minus, key by key; a key left with no client goes."""
    out = {"totals": [a + b - c for a, b, c in zip(piece["totals"], plus["totals"], minus["totals"], strict=True)]}
    for key, width in KEYS.items():
        sums = {}
        for rows_, sign in ((piece[key], 1), (plus[key], 1), (minus[key], -1)):
            for row in rows_:
                k = tuple(row[:width])
                values = sums.setdefault(k, [0] * (len(row) - width))
                for i, value in enumerate(row[width:]):
                    values[i] += sign * value
        out[key] = [[*k, *values] for k, values in sums.items() if values[0]]
    _sort(out)
    return out


def pieces():
    """{month: piece} of every stored month."""
    return dict(MonthPiece.objects.values_list("month", "data"))



