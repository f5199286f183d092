"""The demo shop's three email campaigns, created active but without sending anything.

- `welcome`: triggered when a client enters `new-customers` in a nightly run (once per client).
- `win-back`: triggered on entering `at-risk` (again after 90 days), 10% holdout, subjects A/B 50/50.
- `champions-thanks`: recurring, 10:00 on the 1st of each month, to `champions`.

`make demo` then runs the nightly rebuild (which fires the two triggered ones) and launches
`champions-thanks` once by hand.

And one campaign from the shop's past, `spring-win-back` (create_finished_campaign): sent 40 days
before the demo's last day, finished, with a holdout, so that the results page and the dashboards
show a measured campaign from the start (the ones launched by `make demo` have had no time to
convert: the demo's history ends the day before).
"""

import datetime as dt
import random
from decimal import Decimal

from django.db import transaction
from django.db.models import Avg, Max, Q

from crm.models import Client, Purchase
from mailing.models import Campaign, CampaignVariant, Delivery, EmailTemplate
from mailing.recipients import in_holdout, suppression_reason, with_suppression
from segments.models import Segment

FOOTER = ('<p style="font-size:12px;color:#888">You get this email because you shop with us. '
          '<a href="{{ unsubscribe_url }}">Unsubscribe</a></p>')

TEMPLATES = {
    "Welcome": {
        "subject": 'Welcome, {{ client.first_name|default:"friend" }}!',
        "preheader": "Thank you for your first order",
        "html_body": (
            '<html><body><h1>Welcome, {{ client.first_name|default:"friend" }}!</h1>'
            "<p>Thank you for your first order with us.</p>"
            "{% if last_orders %}<p>Your order {{ last_orders.0.external_id }} of "
            "{{ last_orders.0.amount }} {{ last_orders.0.currency }} is on its way.</p>{% endif %}"
            "<p>Reply to this email if anything is not right: a person reads it.</p>" + FOOTER + "</body></html>"),
    },
    "Win-back": {
        "subject": 'We miss you, {{ client.first_name|default:"friend" }}',
        "preheader": "A little something to come back for",
        "html_body": (
            '<html><body><h1>We miss you, {{ client.first_name|default:"friend" }}</h1>'
            "{% if scores.recency_days %}<p>It has been {{ scores.recency_days }} days since your last order."
            "</p>{% endif %}"
            "{% if last_orders %}<p>Last time you took:</p><ul>{% for item in last_orders.0.items %}"
            "<li>{{ item.name|default:item.sku }}</li>{% endfor %}</ul>{% endif %}"
            "<p>Come back this week and take 15% off with the code <b>COMEBACK15</b>.</p>"
            + FOOTER + "</body></html>"),
    },
    "Champions thanks": {
        "subject": 'Thank you, {{ client.first_name|default:"friend" }}: a gift for our best customers',
        "preheader": "You are one of our best customers",
        "html_body": (
            '<html><body><h1>Thank you, {{ client.first_name|default:"friend" }}!</h1>'
            "<p>You are one of our best customers{% if client.city %} in {{ client.city }}{% endif %}, and we "
            "noticed. This month your delivery is on us: use the code <b>THANKYOU</b>.</p>"
            + FOOTER + "</body></html>"),
    },
}


def _template(name):
    template, _ = EmailTemplate.objects.get_or_create(name=name, defaults=TEMPLATES[name])
    return template


def create_demo_campaigns():
    """Create (or leave as they are) the three demo campaigns, active. Returns their slugs."""
    segments = {s.slug: s for s in Segment.objects.filter(slug__in=["new-customers", "at-risk", "champions"])}
    with transaction.atomic():
        welcome, _ = Campaign.objects.get_or_create(slug="welcome", defaults={
            "name": "Welcome", "template": _template("Welcome"), "schedule": Campaign.Schedule.TRIGGERED,
            "trigger_segment": segments["new-customers"], "reentry": Campaign.Reentry.ONCE,
            "state": Campaign.State.SCHEDULED})
        win_back, created = Campaign.objects.get_or_create(slug="win-back", defaults={
            "name": "Win-back", "template": _template("Win-back"), "schedule": Campaign.Schedule.TRIGGERED,
            "trigger_segment": segments["at-risk"], "reentry": Campaign.Reentry.AFTER_DAYS, "reentry_days": 90,
            "holdout_percent": 10, "state": Campaign.State.SCHEDULED})
        if created:
            CampaignVariant.objects.create(campaign=win_back, name="A", weight=50,
                                           subject='We miss you, {{ client.first_name|default:"friend" }}')
            CampaignVariant.objects.create(campaign=win_back, name="B", weight=50,
                                           subject='{{ client.first_name|default:"Hi" }}, 15% off to come back')
        champions, created = Campaign.objects.get_or_create(slug="champions-thanks", defaults={
            "name": "Champions thanks", "template": _template("Champions thanks"),
            "schedule": Campaign.Schedule.RECURRING, "cron": "0 10 1 * *", "state": Campaign.State.SCHEDULED})
        if created:
            champions.segments.set([segments["champions"]])
    return [welcome.slug, win_back.slug, champions.slug]


FINISHED = "spring-win-back"
FINISHED_DAYS_AGO = 40  # before the last day of the demo's history
FINISHED_HOLDOUT = 20  # percent: a clearer comparison than 10% on a demo audience of a few thousand
# The simulated effect of the email: besides the purchases every client makes anyway (the demo's
# own history, for both groups alike), this share of the sent group buys once more within the
# attribution window, more often after a click.
EXTRA_PURCHASE, EXTRA_PURCHASE_AFTER_CLICK = 0.02, 0.10
# What it cost, so that its results page shows a return on spend: an email service's price per
# message and a fixed cost for the design and copy (in the shop's currency).
FINISHED_COST_PER_MESSAGE, FINISHED_COST = Decimal("0.30"), Decimal("5000")


def create_finished_campaign(seed=1):
    """`spring-win-back`, as if launched 40 days before the last day of the demo's history: to the
    clients whose last order was 60 to 240 days old by then and whom a launch may mail (the
    launch's own rules: consent, unsubscribes, suppressions; its holdout draw), 20% held out.
    Returns its slug; None when it exists already or the shop has no orders yet."""
    last = Purchase.objects.aggregate(last=Max("purchased_at"))["last"]
    if last is None or Campaign.objects.filter(slug=FINISHED).exists():
        return None
    launched = (last - dt.timedelta(days=FINISHED_DAYS_AGO)).replace(hour=10, minute=0, second=0, microsecond=0)
    bought_before = Q(purchases__status=Purchase.Status.COMPLETED, purchases__purchased_at__lt=launched)
    lapsing = [client for client in with_suppression(
        Client.objects.annotate(last_order=Max("purchases__purchased_at", filter=bought_before),
                                average_order=Avg("purchases__amount", filter=bought_before))
        .filter(last_order__lt=launched - dt.timedelta(days=60), last_order__gte=launched - dt.timedelta(days=240))
        .order_by("pk")) if not suppression_reason(client)]  # who a launch would have mailed
    rng = random.Random(seed)
    deliveries, purchases = [], []
    with transaction.atomic():
        campaign = Campaign.objects.create(
            slug=FINISHED, name="Spring win-back", template=_template("Win-back"),
            schedule=Campaign.Schedule.MANUAL, holdout_percent=FINISHED_HOLDOUT, state=Campaign.State.DONE,
            launched_at=launched, finished_at=launched + dt.timedelta(hours=1),
            cost_per_message=FINISHED_COST_PER_MESSAGE, cost_per_campaign=FINISHED_COST)
        campaign.segments.set(Segment.objects.filter(slug="at-risk"))
        for client in lapsing:
            client_id, email = client.pk, client.email
            if in_holdout(campaign.pk, client_id, FINISHED_HOLDOUT):
                deliveries.append(Delivery(campaign=campaign, client_id=client_id, email=email,
                                           state=Delivery.State.SUPPRESSED, reason=Delivery.Reason.HOLDOUT,
                                           finished_at=launched))
                continue
            sent = launched + dt.timedelta(seconds=rng.uniform(0, 1800))
            opened = sent + dt.timedelta(hours=rng.uniform(0.1, 48)) if rng.random() < 0.35 else None
            clicked = opened + dt.timedelta(minutes=rng.uniform(0, 30)) if opened and rng.random() < 0.3 else None
            deliveries.append(Delivery(campaign=campaign, client_id=client_id, email=email, state=Delivery.State.SENT,
                                       subject="We miss you", attempts=1, sent_at=sent, finished_at=sent,
                                       delivered_at=sent, opened_at=opened, clicked_at=clicked))
            if rng.random() < (EXTRA_PURCHASE_AFTER_CLICK if clicked else EXTRA_PURCHASE):
                bought = (clicked or sent) + dt.timedelta(hours=rng.uniform(0.5, 96))
                # At the client's own average order, give or take.
                amount = (client.average_order * Decimal(rng.uniform(0.6, 1.4))).quantize(Decimal("0.01"))
                purchases.append(Purchase(external_id=f"DEMO-{FINISHED}-{client_id}", client_id=client_id,
                                          purchased_at=bought, amount=amount))
        Delivery.objects.bulk_create(deliveries, batch_size=2000)
        Purchase.objects.bulk_create(purchases, batch_size=2000)
    return campaign.slug
