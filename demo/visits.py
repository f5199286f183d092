"""What a demo client's visits look like, so the engagement pages show the relations the product is
about: the more often a client buys, the more engaged they are, and engaged clients visit more (the
shop's activity rate follows the buying rate), stay longer, see more pages, bounce less and reach
the shop's target action more often, while the least engaged also drop in now and then and leave
at once. Every order is placed in a visit of its own. Draws from a
generator of its own (seeded from the shop's seed), so the rest of the shop stays as it was drawn."""

import datetime as dt
import math

from crm.models import Activity


class VisitStyle:
    def __init__(self, rng):
        self.rng = rng

    def engagement(self, rate_per_day):
        """0..1: a logistic of the client's yearly buying rate (4 a year is the middle), with noise."""
        return 1 / (1 + math.exp(-(math.log(rate_per_day * 365 / 4) + self.rng.normal(0, 0.8))))

    def session(self, engaged, end):
        """A session's properties for a visit that ended at `end`."""
        rng = self.rng
        if rng.random() < 0.6 - 0.45 * engaged:  # a bounce: one page, a few seconds
            seconds, pages = float(rng.uniform(1, 9)), 1
        else:
            seconds = float(min(rng.lognormal(math.log(60 + 480 * engaged), 0.7), 86_400))
            pages = 2 + int(rng.poisson(1 + 6 * engaged))
        properties = {"started_at": (end - dt.timedelta(seconds=seconds)).isoformat(),
                      "duration_seconds": round(seconds, 1), "pages": pages,
                      "channel": "app" if rng.random() < 0.2 + 0.4 * engaged else "web"}
        if pages > 1 and rng.random() < 0.05 + 0.3 * engaged:
            properties["target_action"] = "add_to_cart"
        return properties

    def drop_ins(self, client, engaged, start, stop):
        """Visits of one page and a few seconds, up to one a month for the least engaged."""
        days = (stop - start).total_seconds() / 86400
        if days <= 0:
            return []
        count = min(int(self.rng.poisson(0.03 * (1 - engaged) ** 2 * days)), 100)
        out = []
        for offset in self.rng.uniform(0, days, size=count):
            end = start + dt.timedelta(days=float(offset), microseconds=int(self.rng.integers(1, 999_999)))
            seconds = float(self.rng.uniform(1, 9))
            out.append(Activity(client=client, kind="session", occurred_at=end, properties={
                "started_at": (end - dt.timedelta(seconds=seconds)).isoformat(), "duration_seconds": round(seconds, 1),
                "pages": 1, "channel": "web"}))
        return out

    def order_visit(self, client, engaged, ordered_at):
        """The session an order was placed in, ending with it."""
        seconds = float(self.rng.uniform(180, 600 + 1800 * engaged))
        properties = {"started_at": (ordered_at - dt.timedelta(seconds=seconds)).isoformat(),
                      "duration_seconds": round(seconds, 1), "pages": 3 + int(self.rng.poisson(2 + 4 * engaged)),
                      "channel": "app" if self.rng.random() < 0.2 + 0.4 * engaged else "web",
                      "target_action": "checkout"}
        return Activity(client=client, kind="session", occurred_at=ordered_at, properties=properties)
