"""How fast a campaign sends, from launch to every delivery final, against a bare render-and-send loop.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_bench_campaigns \\
        .venv/bin/python bench/campaign_throughput.py [--recipients 100000] [--repeat 1] [--regenerate]
                                                      [--profile FILE] [--prepare] [--force]

It makes (once; again with --regenerate or another --recipients) a shop in SQL with generate_series:
--recipients clients in a segment `bench-campaign` (plus 10% outside it), about 1.5% of the members
without consent, unsubscribed or without an address (they end suppressed, not sent); 0 to 6
completed orders each (a few refunded) of 1 to 3 products from a 2,000-product catalogue whose
popularity is skewed (a few best sellers, a long tail); a finished scoring run with every client's
scores. The template is a realistic one: a <style> block (inlined), a preheader, the client's name,
scores, favourite category and days since the last order, the last orders with their items, three
recommended products, an unsubscribe link, and no text body (generated from the HTML per message).

Every message goes to anymail's test backend (`anymail.backends.test.EmailBackend`), whose outbox is
emptied after each batch (it looks a message's id up in the outbox list, which would otherwise make
the run quadratic). Then, in the same run and `--repeat` times each (best time kept):

  campaign  a new campaign to the segment: `launch_campaign` (audience, one delivery row per
            recipient, the batches queued) and then every queued batch sent in this process by
            `sending.send_batch`, the function the Celery task `send_delivery_batch` calls, one
            after the other (the queueing is captured instead of going to a broker). Measured from
            the launch until every delivery is final (sent or suppressed; checked). Consent,
            suppression and the campaign's state are read per chunk of 25 at its claim (with the
            previous chunk's outcomes written in the same transaction), not again per message; the
            frequency cap is on, quiet hours off.
  baseline  a bare loop over the same recipients, per 500: their client rows and their contexts
            built as sending builds them (`templating.build_contexts`: scores, last orders,
            favourite category, the recommendations the night stored), then for each the same template's subject and
            HTML body rendered (compiled once), handed to the same backend over one connection as
            an EmailMultiAlternatives. No delivery rows, no consent re-read, no claims, no CSS
            inlining, no text body, no unsubscribe signing. This is the ratio's denominator: the
            same template rendered with the same content for each recipient.
  bare      (information) the same loop with only the client's own fields in the context (empty
            orders and recommendations), i.e. what rendering costs without personal data.

It prints messages per second for both and campaign time / baseline time (target: at most 2), and
exits 0 whether or not the target is met: it is a report, not a test. --profile FILE writes a
cProfile of one campaign run and prints its top functions.

THIS EMPTIES THE DATABASE'S CRM AND CAMPAIGN TABLES when it generates the data (TRUNCATE crm_client
CASCADE), and deletes every delivery before each campaign run. It refuses to run unless the database
is PostgreSQL and its name contains "bench" (override with --force).
"""

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
import uuid
from unittest import mock

import django_setup  # first: puts the repository on the path and sets Django up
from django.core import mail
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.management import call_command
from django.db import connection
from django.test.utils import override_settings

from crm.models import Client
from mailing import fastrender, sending, tasks
from mailing.launch import batch_size, launch_campaign
from mailing.models import Campaign, Delivery, EmailTemplate
from mailing.templating import CLIENT_FIELDS, build_contexts, compile_template
from recommendations.nightly import run_stage as recommend_tonight
from segments.models import ScoringRun, Segment

TARGET_RATIO = 2.0
SLUG = "bench-campaign"
# Bump when the generated data changes, so an old data set is not taken for the new one.
DATA_VERSION = "2"  # 2: the recommendations made by the night are part of the shop
BACKEND = "anymail.backends.test.EmailBackend"

SUBJECT = "{{ client.first_name|default:'Hello' }}, new in {{ scores.favourite_category|default:'our shop' }}"
PREHEADER = "Picked for you, {{ client.first_name|default:'friend' }}"
HTML = """<html><head><style>
body { font-family: Arial, sans-serif; color: #222; background: #f6f6f6; }
h1 { font-size: 22px; color: #0a5; margin: 0 0 12px; }
p.lead { font-size: 16px; line-height: 1.4; }
table.orders td { padding: 4px 8px; border-bottom: 1px solid #ddd; }
.product { display: inline-block; width: 30%; padding: 8px; border: 1px solid #eee; }
.product .price { font-weight: bold; color: #c30; }
a.button { background: #0a5; color: #fff; padding: 10px 16px; text-decoration: none; border-radius: 4px; }
.footer { font-size: 12px; color: #888; }
@media (max-width: 600px) { .product { display: block; width: auto; } }
</style></head><body>
<h1>Hello {{ client.first_name|default:"friend" }}!</h1>
<p class="lead">{% if scores.days_since_last_order %}It has been {{ scores.days_since_last_order }} days since your
last order{% if client.city %} in {{ client.city }}{% endif %}.{% else %}Welcome to our shop.{% endif %}
{% if scores.rfm_segment == "champions" %}Thank you for being one of our best clients.{% endif %}</p>
{% if last_orders %}<table class="orders">{% for order in last_orders %}
<tr><td>{{ order.purchased_at|date:"j M Y" }}</td><td>{{ order.external_id }}</td>
<td>{% for item in order.items %}{{ item.name }}{% if not forloop.last %}, {% endif %}{% endfor %}</td>
<td>{{ order.amount }} {{ order.currency }}</td></tr>{% endfor %}</table>{% endif %}
<h2>Picked for you{% if scores.favourite_category %} (you like {{ scores.favourite_category }}){% endif %}</h2>
<div>{% for product in recommendations %}<div class="product"><div>{{ product.name }}</div>
<div class="price">{{ product.price }}</div>
<a class="button" href="https://shop.example.com/p/{{ product.sku|urlencode }}">See it</a></div>
{% endfor %}</div>
<p class="footer">{{ campaign.name }} &middot; <a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
</body></html>"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--recipients", type=int, default=100_000, help="segment members (default 100000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement; the best counts (default 1)")
    parser.add_argument("--regenerate", action="store_true", help="make the data again even if it is there")
    parser.add_argument("--profile", metavar="FILE", help="cProfile one campaign run into FILE and print its top")
    parser.add_argument("--prepare", action="store_true", help="make the data (if needed) and stop")
    parser.add_argument("--force", action="store_true", help="run even if the database name lacks 'bench'")
    args = parser.parse_args(argv)
    if args.recipients < 1 or args.repeat < 1:
        parser.error("--recipients and --repeat must be at least 1")
    refusal = django_setup.refusal("bench/campaign_throughput.py", "crm_bench_campaigns", args.force)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2

    call_command("migrate", verbosity=0)
    segment = _data(args.recipients, args.regenerate)
    template = _template()
    if args.prepare:
        return 0
    print(f"database {connection.settings_dict['NAME']} on PostgreSQL {django_setup.server_version()}; "
          f"segment {SLUG}: {args.recipients:,} members; batches of {batch_size()}; best of {args.repeat}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)

    with override_settings(EMAIL_BACKEND=BACKEND, CRM_QUIET_HOURS=""):
        best = {}
        for round_ in range(args.repeat):
            profile = cProfile.Profile() if args.profile and round_ == 0 else None
            sent, suppressed, seconds, launch, cpu = _campaign(segment, template, profile)
            _keep_best(best, "campaign", seconds)
            _keep_best(best, "launch", launch)
            _keep_best(best, "campaign CPU", cpu)
            recipients = _recipients(sent)
            base, base_cpu = _baseline(template, recipients)
            _keep_best(best, "baseline", base)
            _keep_best(best, "baseline CPU", base_cpu)
            _keep_best(best, "bare", _baseline(template, recipients, personal=False)[0])
            print(f"  round {round_ + 1}: campaign {seconds:.1f} s ({sent.count():,} sent, {suppressed:,} suppressed), "
                  f"baseline {base:.1f} s, bare {best['bare']:.1f} s; CPU campaign {_seconds(cpu)}, baseline "
                  f"{_seconds(base_cpu)}; load average {os.getloadavg()[0]:.1f}", flush=True)
            if profile:
                profile.dump_stats(args.profile)
                out = io.StringIO()
                pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(35)
                print(out.getvalue())

    messages = len(recipients)
    campaign, base, bare = best["campaign"], best["baseline"], best["bare"]
    ratio = campaign / base
    print(f"\nbare (client fields only: render subject + HTML, hand to the backend): {bare:.1f} s, "
          f"{messages / bare:,.0f} messages/s; campaign / bare: {campaign / bare:.2f}")
    print(f"baseline (the same contexts, built per 500 as sending does; render subject + HTML, hand to the "
          f"backend): {base:.1f} s, {messages / base:,.0f} messages/s")
    print(f"campaign (launch {best['launch']:.1f} s + send, until every delivery is final): {campaign:.1f} s, "
          f"{messages / campaign:,.0f} messages/s")
    if "campaign CPU" in best and "baseline CPU" in best:
        print(f"CPU time of this process and its PostgreSQL backend (less disturbed by a busy machine than the "
              f"wall clock): campaign {best['campaign CPU']:.1f} s, baseline {best['baseline CPU']:.1f} s, ratio "
              f"{best['campaign CPU'] / best['baseline CPU']:.2f}")
    print(f"ratio campaign / baseline: {ratio:.2f} (target <= {TARGET_RATIO:g}: "
          f"{'MET' if ratio <= TARGET_RATIO else 'NOT MET'})")
    print(f"peak RSS: {django_setup.peak_rss_mb():.0f} MB")
    return 0


def _campaign(segment, template, profile=None):
    """Launch a fresh campaign and send every queued batch in this process; (sent rows, suppressed, s, launch s)."""
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Delivery._meta.db_table} CASCADE")
        cursor.execute("CHECKPOINT")  # the deletion's dirty pages are written now, not during the run
    Campaign.objects.filter(slug__startswith=SLUG).delete()
    campaign = Campaign.objects.create(slug=f"{SLUG}-{uuid.uuid4().hex[:8]}", name="Autumn picks", template=template,
                                       state=Campaign.State.DRAFT)
    campaign.segments.set([segment])
    queued = []

    def capture(args=None, **options):
        queued.append(list(args[0]))

    with (mock.patch.object(tasks.send_delivery_batch, "delay_on_commit", lambda ids: queued.append(list(ids))),
          mock.patch.object(tasks.send_delivery_batch, "apply_async", capture)):
        if profile:
            profile.enable()
        cpu = django_setup.cpu_seconds()
        started = time.perf_counter()
        launch_campaign(campaign)
        launched = time.perf_counter()
        for ids in queued:
            sending.send_batch(ids, claim_token=uuid.uuid4().hex)
            mail.outbox.clear()
        seconds = time.perf_counter() - started
        cpu = django_setup.cpu_seconds() - cpu if cpu is not None else None
        if profile:
            profile.disable()
    rows = Delivery.objects.filter(campaign=campaign)
    unfinished = rows.exclude(state__in=Delivery.FINAL_STATES).count()
    assert unfinished == 0, f"{unfinished} deliveries are not final"
    assert not rows.filter(state=Delivery.State.FAILED).exists(), "some deliveries failed"
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.DONE, f"campaign is {campaign.state}"
    suppressed = rows.filter(state=Delivery.State.SUPPRESSED).count()
    return rows.filter(state=Delivery.State.SENT), suppressed, seconds, launched - started, cpu


def _recipients(sent):
    return list(sent.order_by("client_id").values_list("client_id", flat=True))


def _baseline(template, client_ids, personal=True):
    """Render the same template for each recipient and hand it to the same backend; (seconds, CPU seconds).

    personal: each recipient's context built as sending builds it (`build_contexts`, per 500), so the
    same content is rendered; else only the client's own fields (a bare render, for information).
    """
    version = template.current_version()
    subject_template, html_template = compile_template(version.subject), compile_template(version.html_body)
    base_url = "https://crm.example.com/u/"
    campaign = {"name": "Autumn picks", "slug": "autumn"}
    cpu = django_setup.cpu_seconds()
    started = time.perf_counter()
    with get_connection() as backend:
        for start in range(0, len(client_ids), 500):
            clients = list(Client.objects.filter(pk__in=client_ids[start:start + 500]).order_by("pk"))
            contexts = build_contexts(clients) if personal else {
                client.pk: {"client": {field: getattr(client, field) for field in CLIENT_FIELDS}} for client in clients}
            for client in clients:
                context = {**contexts[client.pk], "campaign": campaign, "unsubscribe_url": f"{base_url}{client.pk}/"}
                # The renderer sending uses (mailing/fastrender.py), so the ratio is the campaign's
                # machinery, not a faster renderer against a slower one.
                subject = " ".join(fastrender.render(subject_template, context, autoescape=False).split())
                html = fastrender.render(html_template, context, autoescape=True)
                message = EmailMultiAlternatives(subject=subject, body="", to=[client.email], connection=backend)
                message.attach_alternative(html, "text/html")
                message.send()
            mail.outbox.clear()
    seconds = time.perf_counter() - started
    return seconds, django_setup.cpu_seconds() - cpu if cpu is not None else None


def _template():
    template, _ = EmailTemplate.objects.update_or_create(
        name="Bench: autumn picks", defaults={"subject": SUBJECT, "preheader": PREHEADER, "html_body": HTML,
                                             "text_body": ""})
    return template


def _data(recipients, regenerate):
    """The bench segment and its shop, made in SQL unless there already with this size and data version."""
    marker = f"bench data v{DATA_VERSION}, {recipients} members"
    segment = Segment.objects.filter(slug=SLUG).first()
    if segment and segment.description == marker and not regenerate:
        return segment
    started = time.perf_counter()
    print(f"generating a shop with {recipients:,} recipients...", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE crm_client, mailing_campaign, mailing_emailtemplate, segments_scoringrun CASCADE")
    Segment.objects.filter(slug=SLUG).delete()
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(_CLIENTS_SQL, [recipients + recipients // 10])
        cursor.execute(_PURCHASES_SQL)
        cursor.execute(_ITEMS_SQL)
        cursor.execute("UPDATE crm_purchase p SET amount = s.total FROM (SELECT purchase_id, SUM(price * quantity) "
                       "AS total FROM crm_purchaseitem GROUP BY purchase_id) s WHERE s.purchase_id = p.id")
        cursor.execute(
            "INSERT INTO segments_scoringrun (as_of, status, started_at, finished_at, error, counts, metrics, notes, "
            "stage_seconds, migration) VALUES (CURRENT_DATE - 1, 'succeeded', now(), now(), '', '{}', '{}', '[]', "
            "'{}', '{}') RETURNING id")
        run_id = cursor.fetchone()[0]
        cursor.execute(_SCORES_SQL, [run_id])
    run = ScoringRun.objects.get(pk=run_id)
    started_lists = time.perf_counter()
    run.metrics = {"recommendations": recommend_tonight(run.as_of)}
    run.save(update_fields=["metrics"])
    print(f"recommendations of the night: {time.perf_counter() - started_lists:.1f} s, shipped "
          f"{run.metrics['recommendations']['method']}", flush=True)
    segment_id = django_setup.member_segment(SLUG, "Campaign benchmark", marker, recipients, skip_every=11)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute("SELECT (SELECT COUNT(*) FROM crm_purchase), (SELECT COUNT(*) FROM crm_purchaseitem)")
        orders, items = cursor.fetchone()
    print(f"generated in {time.perf_counter() - started:.0f} s: {orders:,} orders, {items:,} order lines", flush=True)
    return Segment.objects.get(pk=segment_id)


_CLIENTS_SQL = """
INSERT INTO crm_client (external_id, email, phone, first_name, last_name, city, country, zip, birth_date, gender,
    acquisition_channel, email_consent, email_consent_source, ads_consent, unsubscribed_at, erased_at,
    created_at, updated_at)
SELECT 'C' || n,
    CASE WHEN mod(n, 211) = 0 THEN '' ELSE 'client.' || n || '@example.com' END,
    '+7912' || lpad((mod(n, 10000000))::text, 7, '0'),
    (ARRAY['Иван', 'Мария', 'Анна', 'Пётр', 'Ольга', 'Алексей', 'Елена', 'Дмитрий', 'John', ''])[1 + mod(n, 10)],
    (ARRAY['Иванов', 'Петрова', 'Смирнов', 'Кузнецова', 'Попов', 'Соколова', 'Smith', ''])[1 + mod(n, 8)],
    (ARRAY['Москва', 'Санкт-Петербург', 'Казань', 'Новосибирск', 'Нижний Новгород', ''])[1 + mod(n, 6)],
    'RU', '', NULL, (ARRAY['m', 'f', ''])[1 + mod(n, 3)], 'organic',
    mod(n, 97) <> 0, '', true,
    CASE WHEN mod(n, 151) = 0 THEN now() END, NULL,
    now(), now()
FROM generate_series(1, %s) n
"""

# 0 to 6 orders per client over two years, 4% refunded.
_PURCHASES_SQL = """
INSERT INTO crm_purchase (external_id, client_id, purchased_at, amount, currency, status)
SELECT 'O' || c.id || '-' || k, c.id, now() - make_interval(days => 1 + floor(random() * 720)::int), 0, 'RUB',
       CASE WHEN random() < 0.04 THEN 'refunded' ELSE 'completed' END
FROM crm_client c, LATERAL generate_series(1, floor(random() * 7 + c.id * 0)::int) k
"""

# 1 to 3 products per order from 2,000, skewed towards the first ones (power 3: a long tail).
_ITEMS_SQL = """
INSERT INTO crm_purchaseitem (purchase_id, sku, name, category, quantity, price)
SELECT DISTINCT ON (p.id, s.sku) p.id, s.sku, 'Product ' || s.sku,
       (ARRAY['books', 'courses', 'stationery', 'electronics', 'home', 'toys'])[1 + mod(s.product, 6)],
       1 + floor(random() * 2)::int, (100 + mod(s.product * 37, 4900))::numeric
FROM crm_purchase p, LATERAL generate_series(1, 1 + floor(random() * 3 + p.id * 0)::int) k,
     LATERAL (SELECT product, 'SKU-' || lpad(product::text, 4, '0') AS sku
              FROM (SELECT floor(2000 * power(random(), 3))::int + k * 0 AS product) r) s
"""

_SCORES_SQL = """
INSERT INTO segments_clientscore (run_id, client_id, recency_days, frequency, monetary, avg_order_value,
    rfm_segment, churn_risk, churn_band, predicted_clv, activity_30, activity_90, engagement_score, engagement_band,
    tier)
SELECT %s, c.id, CASE WHEN a.orders > 0 THEN a.recency END, COALESCE(a.orders, 0), COALESCE(a.revenue, 0),
       a.revenue / NULLIF(a.orders, 0),
       (ARRAY['champions', 'loyal', 'potential-loyalists', 'at-risk', 'hibernating', 'lost'])[1 + mod(c.id, 6)],
       mod(c.id, 100) / 100.0, (ARRAY['low', 'medium', 'high'])[1 + mod(c.id, 3)], mod(c.id, 5000), 0, 0, 0, 'low', ''
FROM crm_client c LEFT JOIN (
    SELECT client_id, COUNT(*) AS orders, SUM(amount) AS revenue,
           EXTRACT(DAY FROM now() - MAX(purchased_at))::int AS recency
    FROM crm_purchase WHERE status = 'completed' GROUP BY client_id) a ON a.client_id = c.id
"""


def _keep_best(best, key, seconds):
    if seconds is not None:
        best[key] = min(best.get(key, seconds), seconds)


def _seconds(value):
    return "?" if value is None else f"{value:.1f} s"


if __name__ == "__main__":
    sys.exit(main())
