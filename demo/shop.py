"""A realistic, deterministic demo shop: clients buy at their own rate and drop out at random
(a buy-till-you-die process, as in BG/NBD), some come back later, and active clients leave a trail
of sessions, logins, reviews and lessons; how their visits go follows how engaged they are
(demo/visits.py). Same seed and end date, same shop."""

import datetime as dt
from decimal import Decimal

import numpy as np
from django.db import transaction

from crm.models import Activity, Client, Purchase, PurchaseItem

from .visits import VisitStyle

FIRST_RU = (["Иван", "Алексей", "Дмитрий", "Сергей", "Андрей", "Михаил", "Никита", "Артём", "Павел", "Егор"],
            ["Анна", "Мария", "Елена", "Ольга", "Наталья", "Екатерина", "Татьяна", "Дарья", "Ирина", "Софья"])
LAST_RU = ["Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов", "Новиков",
           "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров"]
FIRST_EN = (["James", "John", "Robert", "Michael", "David", "Thomas", "Daniel", "Mark"],
            ["Mary", "Emma", "Olivia", "Sophia", "Linda", "Susan", "Laura", "Kate"])
LAST_EN = ["Smith", "Johnson", "Brown", "Taylor", "Wilson", "Clark", "Walker", "Hall", "Young", "King"]
CITIES_RU = ["Москва", "Санкт-Петербург", "Новосибирск", "Екатеринбург", "Казань", "Нижний Новгород", "Самара"]
CITIES_EN = [("London", "GB"), ("Berlin", "DE"), ("New York", "US"), ("Riga", "LV"), ("Almaty", "KZ")]
CHANNELS = ["organic", "yandex_direct", "google_ads", "vk_ads", "referral", "email", "meta_ads"]
CHANNEL_WEIGHTS = [0.3, 0.2, 0.15, 0.12, 0.1, 0.08, 0.05]
CATEGORIES = {
    "books": (300, 1500), "courses": (2000, 15000), "stationery": (50, 600),
    "electronics": (1500, 30000), "home": (200, 5000), "toys": (300, 4000),
}
ACTIVITY_KINDS = ["session", "session", "session", "login", "login", "lesson_completed", "review"]


def catalogue(rng):
    products = []
    for category, (low, high) in CATEGORIES.items():
        for n in range(1, 11):
            price = Decimal(int(rng.uniform(low, high) / 10) * 10 + 9)
            products.append((f"{category[:3].upper()}-{n:03d}", f"{category.title()} #{n}", category, price))
    return products


def generate(clients, seed, end, years=3):
    """Yield lists of unsaved model objects, in insertion order, for `clients` clients."""
    rng = np.random.default_rng(seed)
    products = catalogue(rng)
    tastes = Tastes(products, np.random.default_rng([seed, 24]))
    style = VisitStyle(np.random.default_rng([seed, 26]))
    end_ts = dt.datetime.combine(end, dt.time(23, 0), tzinfo=dt.UTC)
    span_days = 365 * years
    for start in range(0, clients, 2000):
        batch = range(start, min(start + 2000, clients))
        people, orders, items, events = [], [], [], []
        for index in batch:
            client, purchases, client_items, activity = _one_client(rng, index, products, tastes, style, end_ts,
                                                                        span_days)
            people.append(client)
            orders.extend(purchases)
            items.extend(client_items)
            events.extend(activity)
        yield people, orders, items, events


def _one_client(rng, index, products, tastes, style, end_ts, span_days):
    russian = rng.random() < 0.8
    female = rng.random() < 0.55
    if russian:
        first = str(rng.choice(FIRST_RU[female]))
        last = str(rng.choice(LAST_RU)) + ("а" if female else "")
        city, country, phone = str(rng.choice(CITIES_RU)), "RU", f"+79{rng.integers(10**8, 10**9 - 1)}"
    else:
        first, last = str(rng.choice(FIRST_EN[female])), str(rng.choice(LAST_EN))
        city, country = CITIES_EN[rng.integers(len(CITIES_EN))]
        phone = "" if rng.random() < 0.5 else f"+4420{rng.integers(10**7, 10**8 - 1)}"
    # Newer clients are more common: shops grow.
    joined = end_ts - dt.timedelta(days=float(span_days * (1 - rng.power(1.6))))
    email_consent = rng.random() < 0.7
    client = Client(
        external_id=f"C{index + 1:07d}",
        email=f"{_latin(first)}.{_latin(last)}.{index + 1}@example.{'ru' if russian else 'com'}",
        phone=phone, first_name=first, last_name=last, city=city, country=country,
        zip=f"{rng.integers(100000, 999999)}" if russian else "",
        birth_date=dt.date(int(rng.integers(1960, 2006)), int(rng.integers(1, 13)), int(rng.integers(1, 29))),
        gender="f" if female else "m",
        acquisition_channel=str(rng.choice(CHANNELS, p=CHANNEL_WEIGHTS)),
        first_seen=joined, email_consent=email_consent,
        email_consent_at=joined if email_consent else None, email_consent_source="demo" if email_consent else "",
        ads_consent=rng.random() < 0.6,
        unsubscribed_at=joined + dt.timedelta(days=30) if rng.random() < 0.04 else None,
    )
    # Buy-till-you-die: a personal purchase rate, a chance to drop out after each order, and a
    # small chance that a lapsed client comes back months later.
    rate_per_day = max(rng.gamma(0.9, 1.0) * 6, 0.3) / 365
    dropout = rng.beta(1.2, 5.0)
    spend = rng.gamma(4.0, 0.25)
    never_buys = rng.random() < 0.12
    favourites = tastes.favourites()
    purchases, items, events = [], [], []
    t, alive = joined, True
    activity_rate = rate_per_day * rng.uniform(2, 5) + 0.005
    engaged = style.engagement(rate_per_day)
    while t < end_ts and not never_buys:
        wait = float(rng.exponential(1 / rate_per_day))
        if wait >= (end_ts - t).days + 1:
            break
        t = t + dt.timedelta(days=wait)
        if t >= end_ts:
            break
        if not alive:
            if rng.random() < 0.15:  # came back after a break
                alive = True
            else:
                break
        order_no = len(purchases) + 1
        order = Purchase(external_id=f"O{index + 1:07d}-{order_no:03d}", client=client, purchased_at=t,
                         currency="RUB", status="refunded" if rng.random() < 0.04 else "completed")
        total = Decimal(0)
        for k in tastes.lines(favourites, int(rng.integers(1, 4))):
            sku, name, category, price = products[k]
            quantity = int(rng.integers(1, 3))
            line_price = (price * Decimal(str(round(spend, 2)))).quantize(Decimal("1.00")) or Decimal("1.00")
            items.append(PurchaseItem(purchase=order, sku=sku, name=name, category=category,
                                      quantity=quantity, price=line_price))
            total += line_price * quantity
        order.amount = total
        purchases.append(order)
        events.append(style.order_visit(client, engaged, t))
        if rng.random() < dropout:
            alive = False
            gap = dt.timedelta(days=float(rng.uniform(120, 400)))
            _activity(rng, events, client, t, min(t + dt.timedelta(days=30), end_ts), activity_rate * 0.5,
                      style, engaged)
            t = t + gap
            continue
    # Activity while the client is around: until their last order plus a tail, or for a while if
    # they never bought.
    last_seen = purchases[-1].purchased_at + dt.timedelta(days=float(rng.uniform(10, 90))) if purchases else (
        joined + dt.timedelta(days=float(rng.uniform(1, 60))))
    _activity(rng, events, client, joined, min(last_seen, end_ts), activity_rate, style, engaged)
    events.extend(style.drop_ins(client, engaged, joined, end_ts))
    return client, purchases, items, events


class Tastes:
    """What clients like, so that recommendations have something to find: each client has one or
    two favourite categories that most of their order lines (FAVOURITE_SHARE) come from, and inside
    a category a few products sell far better than the rest. Draws from a generator of its own (seeded
    from the shop's seed), so tastes do not shift with every change to how clients are drawn."""

    FAVOURITE_SHARE = 0.75

    def __init__(self, products, rng):
        self.rng = rng
        names = list(dict.fromkeys(category for _, _, category, _ in products))
        self.members = [np.array([i for i, p in enumerate(products) if p[2] == name]) for name in names]
        # Zipf-like popularity within each category, the best seller a random one of its products.
        self.weights = []
        for members in self.members:
            w = 1.0 / (rng.permutation(len(members)) + 1.0)
            self.weights.append(w / w.sum())
        overall = np.concatenate([w / len(self.members) for w in self.weights])
        self.overall_products = np.concatenate(self.members)
        self.overall = overall / overall.sum()

    def favourites(self):
        count = 1 if self.rng.random() < 0.6 else 2
        return self.rng.choice(len(self.members), size=count, replace=False)

    def lines(self, favourites, count):
        """`count` distinct products for one order."""
        chosen = []
        while len(chosen) < count:
            if self.rng.random() < self.FAVOURITE_SHARE:
                c = int(self.rng.choice(favourites))
                k = int(self.rng.choice(self.members[c], p=self.weights[c]))
            else:
                k = int(self.rng.choice(self.overall_products, p=self.overall))
            if k not in chosen:
                chosen.append(k)
        return chosen


def _activity(rng, events, client, start, stop, rate_per_day, style, engaged):
    days = (stop - start).total_seconds() / 86400
    if days <= 0:
        return
    count = min(int(rng.poisson(rate_per_day * days)), 400)
    seen = set()
    for offset in np.sort(rng.uniform(0, days, size=count)):
        at = (start + dt.timedelta(days=float(offset))).replace(microsecond=0)
        kind = str(rng.choice(ACTIVITY_KINDS))
        if (at, kind) in seen:
            continue
        seen.add((at, kind))
        props = {"lesson": int(rng.integers(1, 40))} if kind == "lesson_completed" else {}
        if kind == "session":
            props = style.session(engaged, at)
        events.append(Activity(client=client, kind=kind, occurred_at=at, properties=props))


_TRANSLIT = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
                     ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r",
                      "s", "t", "u", "f", "h", "ts", "ch", "sh", "sch", "", "y", "", "e", "yu", "ya"]))


def _latin(name):
    return "".join(_TRANSLIT.get(ch, ch) for ch in name.lower())


def build(clients, seed, end, progress=None):
    """Write the demo shop in bulk. Returns (clients, purchases, items, activities) counts."""
    totals = [0, 0, 0, 0]
    with transaction.atomic():
        for people, orders, items, events in generate(clients, seed, end):
            Client.objects.bulk_create(people, batch_size=2000)
            Purchase.objects.bulk_create(orders, batch_size=2000)
            PurchaseItem.objects.bulk_create(items, batch_size=2000)
            Activity.objects.bulk_create(events, batch_size=2000)
            for i, rows in enumerate((people, orders, items, events)):
                totals[i] += len(rows)
            if progress:
                progress(f"{totals[0]} clients, {totals[1]} purchases, {totals[3]} activity events")
    return tuple(totals)
