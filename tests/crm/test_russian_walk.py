"""A walk through the main admin pages in Russian, in a real browser, on the demo shop: no text of ours
left in English, no raw slugs or JSON where a person reads, and no page wider than the window.
Screenshots of each page in English and Russian go to var/screenshots/walk-*-{en,ru}.png."""

import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from crm.models import Client
from mailing.models import Campaign
from segments.models import ScoringRun, SegmentMembership

pytestmark = [pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "locale" / "ru" / "LC_MESSAGES" / "django.po"
# Ours, new in this change, checked by name as well as through the catalogue.
OURS = ["Retention CRM", "Django administration", "View site", "model: boosted trees", "rule used",
        "back-test on the newest", "segment entries", "training rows", "seconds per stage", "moved from",
        "entered", "Scores dashboard", "latest purchases", "segment history", "churn risk", "predicted value"]


def english_fragments(path=CATALOG):
    """The literal pieces (12+ characters, between placeholders) of every msgid of ours whose Russian
    differs: seeing one on a Russian page means a string of ours was left untranslated."""
    text = path.read_text(encoding="utf-8")
    fragments = set()
    for block in text.split("\n\n"):
        ids = re.findall(r'^msgid "(.*)"\n((?:".*"\n)*)', block + "\n", re.M)
        strs = re.findall(r'^msgstr(?:\[0\])? "(.*)"\n((?:".*"\n)*)', block + "\n", re.M)
        if not ids or not strs:
            continue
        msgid = ids[0][0] + "".join(re.findall(r'"(.*)"', ids[0][1]))
        msgstr = strs[0][0] + "".join(re.findall(r'"(.*)"', strs[0][1]))
        if not msgid or msgid == msgstr:
            continue
        for piece in re.split(r"%\(\w+\)[-+ #0]*\d*(?:\.\d+)?[sdf]|%[sdf]|\{\{.*?\}\}|\\n|\\\"", msgid):
            piece = piece.strip(" .,:;()'\"")
            if len(piece) >= 12 and re.search("[a-z]{3}", piece):
                fragments.add(piece)
    return fragments


# The outermost elements that reach past the window's right edge and are not inside a scrolling box.
WIDER = """
const w = document.documentElement.clientWidth;
const scrolls = e => { for (let p = e.parentElement; p; p = p.parentElement) {
  if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(p).overflowX) && p !== document.body
      && p !== document.documentElement) return true; } return false; };
return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > w + 1 && !scrolls(e))
  .slice(0, 6).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));
"""


@pytest.fixture
def shop(transactional_db, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    call_command("demo_data", "--clients", "300", "--seed", "1", verbosity=0)
    call_command("rebuild_segments", verbosity=0)
    get_user_model().objects.create_superuser("boss", "boss@example.com", "a-long-test-password")
    return "boss", "a-long-test-password"


def pages():
    client = (SegmentMembership.objects.order_by("client_id").values_list("client_id", flat=True).first()
              or Client.objects.order_by("pk").values_list("pk", flat=True).first())
    run = ScoringRun.objects.order_by("-started_at").first()
    finished = Campaign.objects.filter(slug="spring-win-back").first() or Campaign.objects.first()
    return {
        "clients": reverse("admin:crm_client_changelist"),
        "client": reverse("admin:crm_client_change", args=[client]),
        "segments": reverse("admin:segments_segment_changelist"),
        "runs": reverse("admin:segments_scoringrun_changelist"),
        "run": reverse("admin:segments_scoringrun_change", args=[run.pk]),
        "scores": reverse("admin:segments_dashboard"),
        "campaigns": reverse("admin:mailing_campaign_changelist"),
        "results": reverse("admin:mailing_campaign_results", args=[finished.pk]),
        "dashboards": reverse("admin:analytics_dashboard_changelist"),
    }


def test_the_main_pages_in_russian_have_no_english_of_ours(shop, browser, browser_ru):
    fragments = english_fragments() | set(OURS)
    browser.login(*shop)
    browser_ru.login(*shop)
    left = {}
    for name, path in pages().items():
        browser.open(path).shot(f"walk-{name}")
        browser_ru.open(path)
        browser_ru.shot(f"walk-{name}")
        if name == "client":  # the segment history, further down
            for b in (browser, browser_ru):
                b.driver.execute_script("document.querySelector('.field-segment_history').scrollIntoView()")
                b.shot("walk-client-history")
        text = browser_ru.text()
        found = sorted(f for f in fragments if f in text)
        if found:
            left[name] = found
        assert '{"' not in text, f"raw JSON on the {name} page"
        wide = browser_ru.driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        culprits = browser_ru.driver.execute_script(WIDER) if wide > 1 else []
        assert wide <= 1, f"the {name} page is {wide}px wider than the window: {culprits}"
    assert left == {}


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_refused_page_says_what_is_missing_and_who_grants_it(request, transactional_db, lang):
    from django.contrib.auth.models import Group

    from crm import roles

    user = get_user_model().objects.create_user("analyst", password="a-long-test-password", is_staff=True)
    user.groups.add(Group.objects.get(name=roles.ANALYST))
    browser = request.getfixturevalue("browser" if lang == "en" else "browser_ru")
    browser.login("analyst", "a-long-test-password")
    browser.open(reverse("admin:crm_importrun_upload"))
    browser.shot("permission-denied")
    expected = {"en": ("“add clients”", "Administrator role"), "ru": ("«добавление: клиенты»", "«Администратор»")}[lang]
    assert all(words in browser.text() for words in expected)
