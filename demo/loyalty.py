"""The demo shop's loyalty programme: a few point rules and three tiers, so the first nightly run
fills the ledger and the tier segments. Counts from two years back, so the demo's history earns."""

import datetime as dt

from django.db import transaction
from django.utils import timezone

from loyalty.models import PointRule, Tier

RULES = [
    {"name": "Daily login", "activity_kind": "login", "points": 5, "daily_cap": 5},
    {"name": "Lesson completed", "activity_kind": "lesson_completed", "points": 20, "daily_cap": 60,
     "weekly_cap": 200},
    {"name": "Review written", "activity_kind": "review", "points": 50, "weekly_cap": 100},
    {"name": "Orders: 1 point per 100 spent", "source": "purchase", "basis": "per_amount", "points": 1,
     "amount_unit": 100},
    {"name": "3 days in a row", "source": "streak", "streak_days": 3, "points": 30},
]
TIERS = [
    {"name": "Bronze", "slug": "bronze", "rank": 1, "min_points": 1},
    {"name": "Silver", "slug": "silver", "rank": 2, "min_points": 300},
    {"name": "Gold", "slug": "gold", "rank": 3, "min_points": 1000, "min_active_days": 20},
]


def create_demo_programme():
    """Create the rules and tiers when there are none. Returns the names of what was created."""
    created = []
    starts = timezone.localdate() - dt.timedelta(days=730)
    with transaction.atomic():
        if not PointRule.objects.exists():
            for fields in RULES:
                PointRule.objects.create(starts_on=starts, expires_after_days=365, **fields)
                created.append(fields["name"])
        if not Tier.objects.exists():
            for fields in TIERS:
                Tier.objects.create(window_days=365, **fields)
                created.append(fields["name"])
    return created
