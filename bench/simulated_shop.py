"""Simulated shops with known behaviour, for back-tests and tests of the scoring maths.

Each client of a shop:
- signs up at a uniform time over the observed span; most convert (first order after a short
  delay), the rest stay prospects who browse for a while and then fade;
- buys at a personal Poisson rate lambda ~ Gamma(r, alpha) and, after each repeat purchase, drops
  out with a personal probability p ~ Beta(a, b): with no comebacks this is exactly BG/NBD;
- may come back once after a break (a client-level trait), with a purchase, and then carries on
  as before;
- spends Gamma(p, nu) per order with nu ~ Gamma(q, gamma) per client: exactly Gamma-Gamma;
- leaves an activity trail (sessions, email clicks): while engaged, sessions arrive at a personal
  rate that grows with the purchase rate; a few sessions precede every order (including the
  return after a break); after dropping out the rate decays exponentially to a small floor.
  So activity says whether a client is still alive, which purchases alone cannot.
  Each session has a duration, pages and whether it reached a target action (add to cart): an
  engaged client's sessions last longer and bounce less the deeper their personal interest, a
  lapsed client's are short and mostly bounces, and the sessions before an order are the longest
  (drawn from a generator of their own, so the shop's orders and activity times stay as they were).

Population parameters are drawn per seed (`random_params`), so different seeds give different
shops. Everything is vectorised over clients; the only Python loop runs over purchase rounds.
"""

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ShopParams:
    days: float = 1095.0  # observed span [0, days]
    r: float = 0.8  # purchase rate lambda ~ Gamma(shape r, rate alpha), per day
    alpha: float = 40.0
    a: float = 0.9  # dropout probability after each purchase ~ Beta(a, b)
    b: float = 4.0
    comeback_share: float = 0.25  # clients who return once after dropping out
    break_days: float = 150.0  # mean length of that break
    spend_p: float = 5.0  # order value ~ Gamma(shape p, rate nu), nu ~ Gamma(shape q, rate gamma)
    spend_q: float = 4.0
    spend_gamma: float = 50.0
    sessions_per_order: float = 4.0  # mean engaged-session rate as a multiple of the purchase rate
    browse_rate: float = 0.03  # sessions/day of an engaged client on top of that
    pre_order_sessions: float = 1.5  # mean sessions in the week before each order
    lapsed_floor: float = 0.05  # activity of a lapsed client, as a share of the engaged rate
    decay_days: float = 20.0  # how fast engagement fades after dropping out
    prospect_share: float = 0.2  # sign-ups who never buy
    first_order_delay: float = 20.0  # mean days from sign-up to the first order
    prospect_engaged_days: float = 45.0  # mean days a non-buying prospect stays engaged
    # Yearly swing of every rate (sign-ups, orders, sessions): 0 = none, 0.6 = peak 1.6x, trough 0.4x
    # the mean, the peak at day 0 of every year (a December shop, say).
    seasonality: float = 0.0


def random_params(seed: int, days: float = 1095.0) -> ShopParams:
    """A plausible, seed-dependent shop: typical gaps of 25-90 days, 10-30% dropout per order."""
    rng = np.random.default_rng([seed, 7])
    r = rng.uniform(0.4, 1.5)
    a = rng.uniform(0.6, 1.6)
    dropout = rng.uniform(0.1, 0.3)
    q = rng.uniform(3.0, 6.0)
    p = rng.uniform(3.0, 8.0)
    mean_spend = rng.uniform(30.0, 150.0)
    return ShopParams(
        days=days,
        r=r,
        alpha=r * rng.uniform(25.0, 90.0),  # mean rate r / alpha = one order per 25-90 days
        a=a,
        b=a * (1.0 - dropout) / dropout,  # mean dropout a / (a + b)
        comeback_share=rng.uniform(0.1, 0.4),
        break_days=rng.uniform(90.0, 240.0),
        spend_p=p,
        spend_q=q,
        spend_gamma=mean_spend * (q - 1.0) / p,  # mean order value p * gamma / (q - 1)
        sessions_per_order=rng.uniform(2.0, 6.0),
        browse_rate=rng.uniform(0.01, 0.05),
        pre_order_sessions=rng.uniform(0.5, 2.5),
        lapsed_floor=rng.uniform(0.02, 0.1),
        decay_days=rng.uniform(10.0, 40.0),
        prospect_share=rng.uniform(0.1, 0.3),
        first_order_delay=rng.uniform(5.0, 40.0),
        prospect_engaged_days=rng.uniform(20.0, 90.0),
    )


@dataclass
class SimulatedShop:
    """Arrays in the shape `tests.segments.oracles.aggregates_at` takes, plus the hidden truth."""

    n_clients: int
    days: float
    client_index: np.ndarray  # orders, sorted by time
    order_times: np.ndarray
    order_amounts: np.ndarray
    activity_client_index: np.ndarray
    activity_times: np.ndarray
    activity_seconds: np.ndarray  # each session's duration
    activity_pages: np.ndarray
    activity_converted: np.ndarray  # bool: reached a target action
    first_seen: np.ndarray
    params: ShopParams
    truth: dict = field(default_factory=dict)  # per-client lambda, p, mean spend, comeback flag

    def arrays(self) -> tuple:
        """Positional arguments for aggregates_at(..., n_clients, as_of, first_seen=...)."""
        return (
            self.client_index,
            self.order_times,
            self.order_amounts,
            self.activity_client_index,
            self.activity_times,
            self.n_clients,
        )


class _Intervals:
    """Collects (client, start, end) activity intervals as the simulation goes."""

    def __init__(self):
        self.parts = []

    def add(self, clients, start, end):
        keep = end > start
        self.parts.append((clients[keep], start[keep], end[keep]))

    def arrays(self):
        if not self.parts:
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
        return tuple(np.concatenate(col) for col in zip(*self.parts))


def _uniform_events(rng, clients, start, end, rate):
    """Poisson events of a constant rate on each interval."""
    counts = rng.poisson(rate * (end - start))
    who = np.repeat(np.arange(len(clients)), counts)
    times = start[who] + rng.random(len(who)) * (end - start)[who]
    return clients[who], times


def _decaying_events(rng, clients, start, end, rate, decay_days):
    """Poisson events of rate `rate * exp(-(t - start) / decay_days)` on each interval."""
    length = end - start
    mass = 1.0 - np.exp(-length / decay_days)
    counts = rng.poisson(rate * decay_days * mass)
    who = np.repeat(np.arange(len(clients)), counts)
    u = rng.random(len(who))
    offsets = -decay_days * np.log1p(-u * mass[who])  # inverse CDF of the truncated exponential
    return clients[who], start[who] + offsets


def _session_details(rng, clients, kind, n):
    """Duration (seconds), pages and target action of each session by its kind (0 engaged, 1 lapsed,
    2 before an order) and the client's personal depth of interest."""
    depth = rng.gamma(2.0, 0.5, n)  # mean 1
    bounce = np.choose(kind, [0.35 / (1 + depth[clients]), np.full(len(kind), 0.6), np.full(len(kind), 0.1)])
    bounced = rng.random(len(kind)) < bounce
    typical = np.choose(kind, [60 + 180 * depth[clients], np.full(len(kind), 40.0), 240 + 240 * depth[clients]])
    seconds = np.where(bounced, rng.uniform(1, 9, len(kind)), rng.lognormal(np.log(typical), 0.7))
    pages = np.where(bounced, 1, 2 + rng.poisson(np.choose(kind, [1 + 2 * depth[clients], np.ones(len(kind)),
                                                                   3 + 2 * depth[clients]])))
    converted = ~bounced & (rng.random(len(kind)) < np.choose(kind, [0.05 + 0.05 * depth[clients],
                                                                     np.full(len(kind), 0.02),
                                                                     np.full(len(kind), 0.4)]))
    return np.round(seconds, 1), pages.astype(np.float64), converted


def _seasonal(times: np.ndarray, amplitude: float) -> np.ndarray:
    """Times of a steady process moved so that its rate swings by `amplitude` over each year.

    A steady process of rate 1 in "busy time" u seen through u = W(t) = t + A * 365 / (2 pi) * sin(2 pi t / 365)
    has rate W'(t) = 1 + A cos(2 pi t / 365) in calendar time t; W is increasing for A < 1 and keeps
    whole years whole, so the shop's span is unchanged when it is a whole number of years.
    """
    grid = np.linspace(-1.0, times.max(initial=0.0) + 2.0, 200_000)
    warped = grid + amplitude * 365.0 / (2 * np.pi) * np.sin(2 * np.pi * grid / 365.0)
    return np.interp(times, warped, grid)


def simulate_shop(n_clients: int, seed: int, params: ShopParams | None = None) -> SimulatedShop:
    """One shop of `n_clients` sign-ups over [0, params.days]; deterministic in `seed`."""
    params = params or random_params(seed)
    rng = np.random.default_rng([seed, 11])
    n, days = n_clients, params.days

    lam = rng.gamma(params.r, 1.0 / params.alpha, n)
    drop = rng.beta(params.a, params.b, n)
    nu = rng.gamma(params.spend_q, 1.0 / params.spend_gamma, n)
    returner = rng.random(n) < params.comeback_share
    engaged_rate = lam * rng.gamma(2.0, params.sessions_per_order / 2.0, n) + params.browse_rate
    signup = rng.uniform(0.0, days, n)
    buyer = rng.random(n) >= params.prospect_share

    engaged, lapsed = _Intervals(), _Intervals()
    order_ci, order_t = [], []
    clients = np.arange(n)

    # Prospects who never buy: engaged for a while after sign-up, then lapsed.
    pros = clients[~buyer]
    fade = np.minimum(signup[pros] + rng.exponential(params.prospect_engaged_days, len(pros)), days)
    engaged.add(pros, signup[pros], fade)
    lapsed.add(pros, fade, np.full(len(pros), days))

    current = signup + rng.exponential(params.first_order_delay, n)
    segment_start = signup.copy()
    came_back = np.zeros(n, dtype=bool)
    n_orders = np.zeros(n, dtype=np.int64)
    active = clients[buyer & (current <= days)]
    late = clients[buyer & (current > days)]  # signed up, first order falls after the span
    engaged.add(late, signup[late], np.full(len(late), days))

    while len(active):
        order_ci.append(active)
        order_t.append(current[active])
        # As in BG/NBD, the first order (time zero of the model) cannot be followed by a dropout.
        dropping = (rng.random(len(active)) < drop[active]) & (n_orders[active] > 0)
        n_orders[active] += 1
        gone, stay = active[dropping], active[~dropping]

        # Dropped out right after this purchase (BG/NBD): engagement ends, maybe a comeback later.
        engaged.add(gone, segment_start[gone], current[gone])
        back = returner[gone] & ~came_back[gone]
        return_at = np.where(back, current[gone] + rng.exponential(params.break_days, len(gone)), np.inf)
        lapsed.add(gone, current[gone], np.minimum(return_at, days))
        returning = gone[return_at <= days]
        came_back[returning] = True
        current[returning] = return_at[return_at <= days]
        segment_start[returning] = current[returning]

        current[stay] += rng.exponential(1.0 / lam[stay])
        beyond = stay[current[stay] > days]
        engaged.add(beyond, segment_start[beyond], np.full(len(beyond), days))
        active = np.concatenate([stay[current[stay] <= days], returning])

    ci = np.concatenate(order_ci) if order_ci else np.zeros(0, np.int64)
    ot = np.concatenate(order_t) if order_t else np.zeros(0)
    amounts = np.round(rng.gamma(params.spend_p, 1.0 / nu[ci]), 2)

    # Activity: engaged sessions, lapsed trail (fading engagement + a floor), and pre-order browsing.
    e_ci, e_s, e_e = engaged.arrays()
    l_ci, l_s, l_e = lapsed.arrays()
    parts = [
        _uniform_events(rng, e_ci, e_s, e_e, engaged_rate[e_ci]),
        _uniform_events(rng, l_ci, l_s, l_e, engaged_rate[l_ci] * params.lapsed_floor),
        _decaying_events(rng, l_ci, l_s, l_e, engaged_rate[l_ci], params.decay_days),
    ]
    pre = rng.poisson(params.pre_order_sessions, len(ci))
    pre_ci = np.repeat(ci, pre)
    pre_t = np.repeat(ot, pre) - rng.uniform(0.0, 7.0, len(pre_ci))
    parts.append((pre_ci, pre_t))
    act_ci = np.concatenate([p[0] for p in parts])
    act_t = np.concatenate([p[1] for p in parts])
    kind = np.repeat([0, 1, 1, 2], [len(p[0]) for p in parts])  # engaged, lapsed, before an order
    seconds, pages, converted = _session_details(np.random.default_rng([seed, 13]), act_ci, kind, n)
    # Sessions can't precede the sign-up (pre-order browsing of the first order may otherwise).
    keep = act_t >= signup[act_ci]

    if params.seasonality:
        ot, act_t, signup = (_seasonal(t, params.seasonality) for t in (ot, act_t, signup))
    order = np.argsort(ot, kind="stable")
    act_order = np.argsort(act_t[keep], kind="stable")
    return SimulatedShop(
        n_clients=n,
        days=days,
        client_index=ci[order],
        order_times=ot[order],
        order_amounts=amounts[order],
        activity_client_index=act_ci[keep][act_order],
        activity_times=act_t[keep][act_order],
        activity_seconds=seconds[keep][act_order],
        activity_pages=pages[keep][act_order],
        activity_converted=converted[keep][act_order],
        first_seen=signup,
        params=params,
        truth={"lam": lam, "p": drop, "mean_spend": params.spend_p / nu, "returner": returner, "buyer": buyer},
    )
