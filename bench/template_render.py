"""Per-message render time of the campaign bench's template: Django's renderer against mailing/fastrender.py.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_bench_campaigns \\
        .venv/bin/python bench/template_render.py [--messages 3000] [--repeat 3]

It reads (never writes) the shop made by bench/campaign_throughput.py (run that first, e.g. with
--prepare), builds the first --messages recipients' contexts as sending does, checks that both
renderers give the same text for each, then renders the subject, the preheader and the pair template
(what `render_message` renders) for every context, Django and fastrender alternating, --repeat times;
the best time of each counts. fastrender's kept formatted values are emptied before each of its runs,
as at the start of a campaign. Target: fastrender at least 2 times faster on the three together.
"""

import argparse
import os
import sys
import time

import django_setup  # noqa: F401 - first: puts the repository on the path and sets Django up
from campaign_throughput import HTML, PREHEADER, SUBJECT
from django.template import Context

from crm.models import Client
from mailing import fastrender
from mailing.templating import build_contexts, compile_template, pair_template_from_html

TARGET = 2.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--messages", type=int, default=3000, help="recipients' contexts (default 3000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each renderer; the best counts (default 3)")
    args = parser.parse_args(argv)
    contexts = _contexts(args.messages)
    if not contexts:
        print("no clients: run bench/campaign_throughput.py --prepare first", file=sys.stderr)
        return 2
    templates = {"subject": (compile_template(SUBJECT), False), "preheader": (compile_template(PREHEADER), False),
                 "pair": (pair_template_from_html(HTML), True)}
    for template, autoescape in templates.values():
        for context in contexts:
            assert fastrender.render_fast(template, context, autoescape) == template.render(
                Context(context, autoescape=autoescape)), "the renderers differ"
    print(f"{len(contexts):,} messages, both renderers give the same text; best of {args.repeat}; "
          f"load average {os.getloadavg()[0]:.1f}")
    totals = {"django": 0.0, "fast": 0.0}
    for name, (template, autoescape) in templates.items():
        best = {"django": float("inf"), "fast": float("inf")}
        for _ in range(args.repeat):
            started = time.perf_counter()
            for context in contexts:
                template.render(Context(context, autoescape=autoescape))
            best["django"] = min(best["django"], time.perf_counter() - started)
            fastrender._formatted.clear()
            started = time.perf_counter()
            for context in contexts:
                fastrender.render(template, context, autoescape)
            best["fast"] = min(best["fast"], time.perf_counter() - started)
        django, fast = (best[key] / len(contexts) * 1e6 for key in ("django", "fast"))
        totals["django"] += django
        totals["fast"] += fast
        print(f"  {name}: Django {django:.0f} µs/message, fastrender {fast:.0f} µs/message, {django / fast:.2f}x")
    ratio = totals["django"] / totals["fast"]
    print(f"render_message's renders: Django {totals['django']:.0f} µs/message, fastrender {totals['fast']:.0f} "
          f"µs/message: {ratio:.2f}x (target >= {TARGET:g}: {'MET' if ratio >= TARGET else 'NOT MET'}); "
          f"load average {os.getloadavg()[0]:.1f}")
    return 0


def _contexts(count):
    ids = list(Client.objects.order_by("pk").values_list("pk", flat=True)[:count])
    contexts = []
    for start in range(0, len(ids), 500):
        clients = list(Client.objects.filter(pk__in=ids[start:start + 500]).order_by("pk"))
        built = build_contexts(clients)
        contexts += [{**built[client.pk], "campaign": {"name": "Autumn picks", "slug": "autumn"},
                      "unsubscribe_url": f"https://crm.example.com/u/{client.pk}/"} for client in clients]
    return contexts


if __name__ == "__main__":
    sys.exit(main())
