"""The demo shop's three email campaigns, created active but without sending anything.

- `welcome`: triggered when a client enters `new-customers` in a nightly run (once per client).
- `win-back`: triggered on entering `at-risk` (again after 90 days), 10% holdout, subjects A/B 50/50.
- `champions-thanks`: recurring, 10:00 on the 1st of each month, to `champions`.

`make demo` then runs the nightly rebuild (which fires the two triggered ones) and launches
`champions-thanks` once by hand.
"""

from django.db import transaction

from segments.models import Segment

from .models import Campaign, CampaignVariant, EmailTemplate

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
