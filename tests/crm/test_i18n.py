"""The Russian interface: the admin follows the browser's language or the user's choice, our pages
are translated, and the catalog in locale/ru is complete and compiled."""

import ast
import datetime as dt
import gettext
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from crm.models import Client, Purchase
from mailing.models import Campaign, Delivery, EmailTemplate
from mailing.unsubscribe import unsubscribe_url
from segments.models import ScoringRun, Segment

LOCALE = Path(settings.BASE_DIR) / "locale" / "ru" / "LC_MESSAGES"
RU = {"HTTP_ACCEPT_LANGUAGE": "ru"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture(autouse=True)
def _back_to_the_default_language():
    # LocaleMiddleware activates the request's language for the thread and leaves it so; the tests
    # after these ones expect the default language.
    yield
    translation.deactivate()


def page(client, url, **headers):
    response = client.get(url, **headers)
    assert response.status_code == 200, url
    return response.content.decode()


@pytest.fixture
def campaign(db):
    template = EmailTemplate.objects.create(name="Hello", subject="Hi", html_body="<p>Hi</p>")
    campaign = Campaign.objects.create(slug="win-back", name="Win back", template=template, holdout_percent=10)
    campaign.segments.set([Segment.objects.create(slug="t-audience", name="Audience")])
    return campaign


@pytest.fixture
def delivery(campaign):
    client = Client.objects.create(external_id="c1", email="ann@example.com", email_consent=True)
    Purchase.objects.create(external_id="o1", client=client, amount=Decimal("1234.50"),
                            purchased_at=dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC))
    return Delivery.objects.create(campaign=campaign, client=client, email=client.email, state=Delivery.State.SENT,
                                   sent_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))


# --- The admin follows the user's language ---------------------------------------------------------------

def test_it_shows_the_admin_in_russian_when_the_browser_asks_for_it(admin_client):
    russian = page(admin_client, reverse("admin:index"), **RU)
    english = page(admin_client, reverse("admin:index"), **EN)

    assert "Клиенты и покупки" in russian and "Оценки и сегменты" in russian and 'lang="ru"' in russian
    assert "Clients and purchases" in english and "Клиенты и покупки" not in english


def test_a_language_chosen_in_the_switcher_wins_over_the_browser(admin_client):
    index = page(admin_client, reverse("admin:index"), **EN)
    assert f'action="{reverse("set_language")}"' in index and 'value="ru"' in index  # the switcher is there

    response = admin_client.post(reverse("set_language"), {"language": "ru", "next": reverse("admin:index")}, **EN)

    assert response.status_code == 302 and response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ru"
    assert "Клиенты и покупки" in page(admin_client, reverse("admin:index"), **EN)


def test_the_login_page_has_the_switcher_too(client):
    login = page(client, reverse("admin:login"), **RU)
    assert 'id="language-switcher"' in login and "CRM удержания" in login  # the header in Russian


def test_the_client_list_speaks_russian(admin_client, delivery):
    russian = page(admin_client, reverse("admin:crm_client_changelist"), **RU)
    english = page(admin_client, reverse("admin:crm_client_changelist"), **EN)

    assert "согласие на email" in russian and "Выгрузить персональные данные (JSON)" in russian
    assert "email consent" in english and "Export personal data (JSON)" in english


def test_the_client_page_shows_purchases_in_the_shops_currency(admin_client, delivery):
    url = reverse("admin:crm_client_change", args=[delivery.client_id])

    assert "1\xa0234,50\xa0₽" in page(admin_client, url, **RU)
    assert "RUB\xa01,234.50" in page(admin_client, url, **EN)


def test_the_scores_dashboard_speaks_russian(admin_client, db):
    url = reverse("admin:segments_dashboard")
    assert "Ещё ни один расчёт оценок не завершился" in page(admin_client, url, **RU)

    ScoringRun.objects.create(as_of=dt.date(2026, 11, 20), status=ScoringRun.Status.SUCCEEDED,
                              finished_at=dt.datetime(2026, 11, 20, 3, tzinfo=dt.UTC), counts={"clients": 0})
    russian = page(admin_client, url, **RU)
    english = page(admin_client, url, **EN)

    # The RFM grid names its cells by their translated segment names.
    assert "RFM-сетка" in russian and "Чемпионы" in russian and "Под угрозой ухода" in russian
    assert "RFM grid" in english and "Champions" in english and "At risk" in english


def test_the_campaign_results_speak_russian(admin_client, delivery):
    url = reverse("admin:mailing_campaign_results", args=[delivery.campaign_id])
    russian = page(admin_client, url, **RU)
    english = page(admin_client, url, **EN)

    assert "Результаты: Win back" in russian and "Контрольная группа" in russian and "Определения" in russian
    assert "1\xa0234,50\xa0₽" in russian  # the revenue of the sent group, in the shop's currency
    assert "Results: Win back" in english and "Holdout" in english and "RUB\xa01,234.50" in english


def test_the_unsubscribe_page_follows_the_visitors_language(client, delivery):
    path = unsubscribe_url(delivery.pk, delivery.email).removeprefix(settings.CRM_PUBLIC_URL)

    russian = page(client, path, **RU)
    english = page(client, path, **EN)

    assert '<html lang="ru">' in russian and "Отписаться?" in russian and "«Win back»" in russian
    assert '<html lang="en">' in english and "Unsubscribe?" in english
    invalid = client.get("/u/not-a-token/", **RU)
    assert invalid.status_code == 404 and "Эта ссылка для отписки недействительна" in invalid.content.decode()


def test_the_import_page_reports_problems_in_russian(admin_client):
    upload = SimpleUploadedFile("orders.csv", b"order_id,client_id,purchased_at,amount\nn1,c1,31.12.2025,5\n")

    response = admin_client.post(reverse("admin:crm_importrun_upload"), {"kind": "purchases", "file": upload}, **RU)

    text = response.content.decode()
    assert "Ничего не импортировано" in text and "прочитано 1" in text and "отклонено 1" in text
    assert "&#x27;31.12.2025&#x27; — не дата и не дата со временем в формате ISO 8601" in text


def test_segments_the_nightly_run_keeps_are_named_in_the_users_language(db):
    kept = Segment(slug="at-risk", name="At risk", kind=Segment.Kind.RFM)
    own = Segment(slug="vip", name="At risk", kind=Segment.Kind.RULE)  # a user's own name is left alone

    with translation.override("ru"):
        assert (str(kept), str(own)) == ("Под угрозой ухода", "At risk")
    with translation.override("en"):
        assert str(kept) == "At risk"


def test_import_errors_are_reported_in_the_users_language():
    from crm import parsing

    with translation.override("ru"), pytest.raises(ValueError, match="не дата"):
        parsing.date("31.12.2025")
    with translation.override("en"), pytest.raises(ValueError, match="is not a date"):
        parsing.date("31.12.2025")


# --- The catalog ------------------------------------------------------------------------------------------

def _unquote(text):
    return ast.literal_eval(text)


def read_po(path):
    """Entries of a .po file as dicts: msgid, msgid_plural, msgstr (a list: one item, or one per plural form), flags."""
    entries, entry, key = [], None, None
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            if entry and "msgid" in entry:
                entries.append(entry)
            entry, key = None, None
            continue
        entry = entry if entry is not None else {"flags": set(), "msgstr": {}}
        if line.startswith("#,"):
            entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            if isinstance(key, int):
                entry["msgstr"][key] += _unquote(line)
            else:
                entry[key] += _unquote(line)
        else:
            keyword, _, text = line.partition(" ")
            plural_form = re.fullmatch(r"msgstr\[(\d)\]", keyword)
            if plural_form:
                key = int(plural_form[1])
                entry["msgstr"][key] = _unquote(text)
            elif keyword == "msgstr":
                key = 0
                entry["msgstr"][0] = _unquote(text)
            else:
                key = keyword
                entry[key] = _unquote(text)
    return entries


@pytest.fixture(scope="module")
def po():
    entries = read_po(LOCALE / "django.po")
    header, entries = entries[0], entries[1:]
    assert header["msgid"] == ""
    return header, entries


PLACEHOLDER = re.compile(r"%\(\w+\)[-+ #0-9.]*[a-zA-Z]|\{\w+\}")


def test_every_string_is_translated_and_none_is_fuzzy(po):
    header, entries = po
    assert "nplurals=3;" in header["msgstr"][0] and "fuzzy" not in header["flags"]
    assert len(entries) > 500
    untranslated = [e["msgid"] for e in entries if not all(e["msgstr"].values())]
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    wrong_forms = [e["msgid"] for e in entries if "msgid_plural" in e and len(e["msgstr"]) != 3]

    assert untranslated == [], f"untranslated in locale/ru (run `make messages`, then translate): {untranslated}"
    assert fuzzy == [], f"fuzzy (check and drop the flag): {fuzzy}"
    assert wrong_forms == [], f"Russian has three plural forms: {wrong_forms}"


def test_translations_keep_the_placeholders(po):
    _header, entries = po
    broken = [e["msgid"] for e in entries for text in e["msgstr"].values()
              if sorted(PLACEHOLDER.findall(text)) != sorted(PLACEHOLDER.findall(e.get("msgid_plural") or e["msgid"]))
              and sorted(PLACEHOLDER.findall(text)) != sorted(PLACEHOLDER.findall(e["msgid"]))]
    assert broken == []


def test_the_compiled_catalog_is_up_to_date_with_the_po(po):
    """django.mo is kept in the repository (a machine without gettext cannot compile it): it must say
    exactly what django.po says. `make messages` compiles it."""
    _header, entries = po
    with open(LOCALE / "django.mo", "rb") as handle:
        compiled = gettext.GNUTranslations(handle)

    stale = []
    for e in entries:
        context = e.get("msgctxt")  # a word with a meaning of its own there (pgettext)
        if "msgid_plural" in e:
            forms = [compiled.npgettext(context, e["msgid"], e["msgid_plural"], n) if context
                     else compiled.ngettext(e["msgid"], e["msgid_plural"], n) for n in (1, 2, 5)]
            if forms != [e["msgstr"][0], e["msgstr"][1], e["msgstr"][2]]:
                stale.append(e["msgid"])
        elif (compiled.pgettext(context, e["msgid"]) if context else compiled.gettext(e["msgid"])) != e["msgstr"][0]:
            stale.append(e["msgid"])
    assert stale == [], f"django.mo is older than django.po (run `make messages`): {stale}"
    assert len(compiled._catalog) - 1 == sum(3 if "msgid_plural" in e else 1 for e in entries)  # - 1: the header
