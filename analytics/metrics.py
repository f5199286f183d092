"""The dashboards' formulas: pure functions on numbers, no database. Each returns None where the
denominator is zero (shown as "—"), never a made-up 0.

The definitions in DEFINITIONS are printed on the pages as written here.
"""

import numpy as np
from django.utils.translation import gettext_lazy as _

DEFINITIONS = {
    "period": _("A period is a run of whole calendar months in the shop's time zone, up to the day of the last "
                "nightly run (a month not yet over counts up to that day). Refunded orders never count."),
    "active": _("Active clients: clients with at least one order or one activity event (visit, login, ...) in "
                "the period. Paying clients: clients with at least one order in the period."),
    "arpu": _("ARPU = revenue in the period / active clients."),
    "arppu": _("ARPPU = revenue in the period / paying clients."),
    "aov": _("Average order value = revenue / orders in the period."),
    "frequency": _("Purchase frequency = orders / paying clients in the period."),
    "repeat": _("Repeat purchase rate = paying clients with two or more orders in the period / paying clients."),
    "days_between": _("Average days between orders = mean gap between two consecutive orders of the same client, "
                      "both in the period."),
    "retention": _("A client counts as a client at the end of a month while they have ordered in that month or "
                   "the {window_before} months before it ({window} months, from the churn horizon). Retention rate "
                   "of a month = (clients at its end − clients who joined during it) / clients at its start, where "
                   "joined = first order ever (new) or came back after lapsing (returning): the share of the "
                   "start's clients still clients at the end. Churn rate = 1 − retention rate."),
    "cohorts": _("Clients grouped by the month of their first order; each cell is the share of the cohort that "
                 "ordered in that later month (month 0 is the first month: 100%)."),
    "ltv": _("Historic LTV = revenue to date per paying client of the group. Predicted value = the nightly model's "
             "expected revenue per paying client in the next {horizon} days. Predicted LTV = historic + predicted. "
             "Engagement bands and values are from the last nightly run."),
    "cac": _("CAC = marketing spend of the channel in the period / clients of that channel whose first order is "
             "in the period. LTV:CAC = predicted LTV of the channel's paying clients / CAC. Payback period = CAC / "
             "monthly revenue per client, in months, where monthly revenue per client = the channel's revenue in the "
             "period / months / the channel's clients who have ordered by the last run (revenue, not margin: the CRM "
             "knows no costs)."),
    "nps": _("NPS = % promoters (9–10) − % detractors (0–6) of the NPS answers given in the period, from −100 to "
             "+100. CSAT = share of 4 and 5 among the CSAT answers (1–5). By segment: the segments the client is in "
             "now (last nightly run); a client may be in several."),
    "rfm": _("RFM grid: R (recency) rows by FM (frequency and money, rounded mean of F and M) columns; clients and "
             "revenue to date in each cell, from the last nightly run."),
    "migration": _("Clients who moved from one RFM segment (rows) to another (columns) in the last nightly run."),
    # xgettext:no-python-format  ("95% i" is not a placeholder: the text is shown as it is)
    "campaigns": _("The last campaigns: messages sent, clients who bought within the attribution window "
                   "(conversions) and their revenue; uplift = conversion rate of the sent group minus the holdout's "
                   "(percentage points), with its 95% interval. As of the last nightly run; while windows are still "
                   "open, conversions may yet come."),
}


def ratio(numerator, denominator):
    """numerator / denominator as a float, None when the denominator is 0 or missing."""
    if not denominator:
        return None
    return float(numerator) / float(denominator)


def arpu(revenue, active_clients):
    return ratio(revenue, active_clients)


def arppu(revenue, paying_clients):
    return ratio(revenue, paying_clients)


def average_order_value(revenue, orders):
    return ratio(revenue, orders)


def purchase_frequency(orders, paying_clients):
    return ratio(orders, paying_clients)


def repeat_purchase_rate(repeat_clients, paying_clients):
    return ratio(repeat_clients, paying_clients)


def average_days_between(gap_days, gaps):
    return ratio(gap_days, gaps)


def retention_rate(at_start, at_end, joined):
    """(clients at end − clients who joined in the period) / clients at start."""
    return ratio(at_end - joined, at_start)


def churn_rate(at_start, at_end, joined):
    kept = retention_rate(at_start, at_end, joined)
    return None if kept is None else 1 - kept


def nps(score_counts):
    """score_counts: answers per score 0..10 (a list of 11). % promoters − % detractors, −100..+100."""
    total = sum(score_counts)
    if not total:
        return None
    promoters = sum(score_counts[9:11])
    detractors = sum(score_counts[0:7])
    return 100.0 * (promoters - detractors) / total


def csat(score_counts):
    """score_counts: answers per score 1..5 (a list of 5). Share of 4 and 5."""
    return ratio(sum(score_counts[3:5]), sum(score_counts))


def cac(spend, new_clients):
    return ratio(spend, new_clients)


def ltv_to_cac(ltv, acquisition_cost):
    if ltv is None or not acquisition_cost:
        return None
    return float(ltv) / float(acquisition_cost)


def payback_months(acquisition_cost, monthly_revenue_per_client):
    """Months of a client's revenue that pay back what acquiring them cost."""
    if acquisition_cost is None or not monthly_revenue_per_client:
        return None
    return float(acquisition_cost) / float(monthly_revenue_per_client)


def cohort_shares(sizes, active):
    """sizes[c]: clients whose first order is in month c; active[c][k]: of them, how many ordered in
    month c + k. Returns shares (0..1) with None where the cohort is empty."""
    return [[ratio(n, size) for n in row] for size, row in zip(sizes, active, strict=True)]


# --- Month-range counts -------------------------------------------------------------------------
#
# "How many distinct clients ordered in months a..b" for every pair (a, b), from rows the database
# groups cheaply. For each client, take their months with an order in order: a month m whose
# previous such month is p is the first month with an order on or after any a in (p, m]; so the
# client counts in [a, b] for every such a and every b >= m. Counting pairs (p, m) is a small
# GROUP BY (months x months rows) however many clients; the rest is two cumulative sums here.


def pair_events(pairs):
    """(p, m, count) rows -> range_counts events: the clients count from month p + 1 (from the
    start when p is None: no earlier month) up to m, with m as their first month on or after it."""
    for p, m, count in pairs:
        yield (None if p is None else p + 1), m, count
        yield m + 1, m, -count


def range_counts(events, months):
    """events: (a, b, delta): from month index a on (None or below 0: from the window's start), delta
    more clients have b as the month that completes them (an order in b, or the second order for
    repeat buyers); a later event at a' with -delta ends that. Events with b outside 0..months-1
    are ignored. Returns an integer matrix counts[a][b] (zero below the diagonal): clients counted
    in months a..b."""
    diff = np.zeros((months + 1, months), dtype=np.int64)
    for a, b, delta in events:
        if b is None or b < 0 or b >= months:
            continue
        a = 0 if a is None or a < 0 else min(a, months)
        diff[a, b] += delta
    by_month = np.cumsum(diff, axis=0)[:months]  # [a][b]: clients from a on completed exactly in b
    return np.triu(np.cumsum(by_month, axis=1))


def range_sum(matrix, first, last):
    """Sum of matrix[p][q] over first <= p and q <= last (pairs of months both in the period)."""
    block = np.asarray(matrix)[first:last + 1, first:last + 1]
    return float(block.sum())


def lapse_coverage(starts, ends, window):
    """Clients at the end of each month. A client counts in spells: a spell starts in a month with
    an order and lasts until `window` - 1 months after its last order. starts[k], ends[k]: spells
    starting, and whose last order month is, k. Returns a list: spells covering month k."""
    n = len(starts)
    leaving = np.zeros(n + window, dtype=np.int64)
    leaving[window:window + n] = ends
    return (np.cumsum(starts) - np.cumsum(leaving[:n])).tolist()


def retention_by_month(starts, new, ends, window):
    """Per month: clients at start, at end, new, returning, retained, retention and churn rates."""
    at_end = lapse_coverage(starts, ends, window)
    rows = []
    for k in range(len(starts)):
        at_start = at_end[k - 1] if k else 0
        joined = starts[k]
        rows.append({"at_start": at_start, "at_end": at_end[k], "new": new[k], "returning": joined - new[k],
                     "retained": at_end[k] - joined, "retention": retention_rate(at_start, at_end[k], joined),
                     "churn": churn_rate(at_start, at_end[k], joined)})
    return rows
