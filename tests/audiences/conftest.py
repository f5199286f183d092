import datetime as dt
import os

import pytest


@pytest.fixture
def eager():
    """Tasks in-process, even where REDIS_URL sends them to a broker."""
    from config.celery import app

    before = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = before


@pytest.fixture(params=["native", "python"])
def speedups(request, monkeypatch):
    """The batch formatters twice: with the C module (native/audience_speedups) and without it, as on
    a machine where it did not build. Both must give the rules' exact results."""
    from audiences.exports import base, normalize

    if request.param == "python":
        monkeypatch.setattr(normalize, "_native_batch", None)
        monkeypatch.setattr(base, "_native_csv_lines", None)
    elif normalize._native_batch is None or base._native_csv_lines is None:
        # Its build is optional, so a laptop without a compiler skips; CI's machine has one, and a
        # module that silently stopped loading there would make every export slow.
        missing = "the native module audience_speedups is not installed (make setup builds it)"
        if os.environ.get("CI") == "true":
            pytest.fail(missing)
        pytest.skip(missing)
    return request.param


@pytest.fixture
def credentials_key(settings):
    """A fresh CRM_CREDENTIALS_KEY for the test."""
    from cryptography.fernet import Fernet

    settings.CRM_CREDENTIALS_KEY = Fernet.generate_key().decode()
    return settings.CRM_CREDENTIALS_KEY


@pytest.fixture
def waits(monkeypatch, settings):
    """The seconds the API clients would have slept between attempts (they do not sleep in the tests)."""
    from audiences.apis import base

    slept = []
    monkeypatch.setattr(base, "sleep", slept.append)
    settings.CRM_AUDIENCE_API_BACKOFF = 2.0
    return slept


def _fake(settings, fake, *slugs):
    with fake:
        settings.CRM_AUDIENCE_API_URLS = {**settings.CRM_AUDIENCE_API_URLS,
                                          **dict(zip(slugs, (fake.api_url, f"{fake.url}/token")))}
        yield fake


@pytest.fixture
def fake_meta(settings):
    from tests.audiences.fakes.meta import FakeMeta

    yield from _fake(settings, FakeMeta(), "meta")


@pytest.fixture
def fake_yandex(settings):
    from tests.audiences.fakes.yandex import FakeYandex

    yield from _fake(settings, FakeYandex(), "yandex", "yandex_oauth")


@pytest.fixture
def fake_google(settings):
    from tests.audiences.fakes.google import FakeGoogle

    yield from _fake(settings, FakeGoogle(), "google", "google_oauth")


@pytest.fixture
def fake_tiktok(settings):
    from tests.audiences.fakes.tiktok import FakeTikTok

    yield from _fake(settings, FakeTikTok(), "tiktok")


@pytest.fixture
def fake_vk(settings):
    from tests.audiences.fakes.vk import FakeVK

    with FakeVK() as fake:
        settings.CRM_AUDIENCE_API_URLS = {**settings.CRM_AUDIENCE_API_URLS, "vk": fake.api_url,
                                          "vk_oauth": f"{fake.api_url}/v2/oauth2/token.json"}
        yield fake


@pytest.fixture
def segment(db):
    from segments.models import Segment

    return Segment.objects.create(slug="at-risk-vip", name="At risk, high value", kind=Segment.Kind.RULE)


@pytest.fixture
def member(segment):
    """member("c1", email=..., ads_consent=False, ...) creates a client in the segment."""
    from crm.models import Client
    from segments.models import SegmentMembership

    def make(external_id, **fields):
        fields = {"email": f"{external_id}@example.com", "ads_consent": True, **fields}
        client = Client.objects.create(external_id=external_id, **fields)
        SegmentMembership.objects.create(segment=segment, client=client, entered_at=dt.date(2026, 6, 1))
        return client

    return make
