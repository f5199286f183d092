"""Survey answers and marketing spend for a demo shop (demo/shop.py has clients and orders only),
so that every dashboard has something to show. Deterministic for a seed; adds nothing to a shop
that already has answers or spend."""

import datetime as dt
from decimal import Decimal

import numpy as np
from django.db.models import Min
from django.utils import timezone

from analytics.models import MarketingSpend
from crm.models import Client, Purchase, SurveyAnswer

# What one new client costs per channel in the demo, in the shop's currency; organic costs nothing.
DEMO_CAC = {"google_ads": 9000, "yandex_direct": 7500, "vk_ads": 6000, "meta_ads": 11000, "email": 1500,
            "referral": 3000}


def fill(seed=1, end=None):
    """Answers for about a fifth of the buyers over the last year, and spend for every month with new clients."""
    rng = np.random.default_rng(seed)
    end = end or timezone.now()
    made = {"answers": 0, "spend": 0}
    if not SurveyAnswer.objects.exists():
        buyers = sorted(set(Purchase.objects.filter(status="completed").values_list("client_id", flat=True)))
        picked = [c for c in buyers if rng.random() < 0.2]
        answers = []
        for client_id in picked:
            loyal = rng.random()  # a client's mood: the same for both surveys
            at = end - dt.timedelta(days=float(rng.uniform(1, 365)), hours=float(rng.uniform(0, 24)))
            nps = int(np.clip(round(rng.normal(5 + 5 * loyal, 2)), 0, 10))
            answers.append(SurveyAnswer(client_id=client_id, kind="nps", score=nps, answered_at=at))
            if rng.random() < 0.6:
                csat = int(np.clip(round(rng.normal(2.5 + 2.5 * loyal, 0.9)), 1, 5))
                answers.append(SurveyAnswer(client_id=client_id, kind="csat", score=csat,
                                            answered_at=at + dt.timedelta(minutes=5)))
        SurveyAnswer.objects.bulk_create(answers, batch_size=2000)
        made["answers"] = len(answers)
    if not MarketingSpend.objects.exists():
        firsts = (Purchase.objects.filter(status="completed").values("client_id").annotate(first=Min("purchased_at"))
                  .values_list("client_id", "first"))
        channel = dict(Client.objects.values_list("id", "acquisition_channel"))
        counts = {}
        for client_id, first in firsts:
            key = (channel.get(client_id, ""), timezone.localtime(first).date().replace(day=1))
            counts[key] = counts.get(key, 0) + 1
        rows = [MarketingSpend(channel=name, month=month,
                               amount=Decimal(int(n * DEMO_CAC[name] * rng.uniform(0.7, 1.3))))
                for (name, month), n in sorted(counts.items()) if name in DEMO_CAC]
        MarketingSpend.objects.bulk_create(rows)
        made["spend"] = len(rows)
    return made
