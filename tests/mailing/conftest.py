import datetime as dt
import importlib
import itertools

import pytest
from django.core import mail
from django.test import override_settings
from django.urls import clear_url_caches

from crm.models import Client
from mailing.models import Campaign, EmailTemplate
from segments.models import Segment, SegmentMembership

from .backends import ScriptedBackend

HTML = ('<html><body><h1>Hello {{ client.first_name|default:"friend" }}</h1>'
        '<p>Your segment: {{ scores.rfm_segment|default:"new" }}.</p>'
        '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>')


@pytest.fixture(autouse=True)
def _mail(settings):
    settings.EMAIL_BACKEND = "tests.mailing.backends.ScriptedBackend"
    settings.CRM_PUBLIC_URL = "https://crm.example.com"
    mail.outbox = []
    ScriptedBackend.failures = []
    yield
    ScriptedBackend.failures = []


@pytest.fixture(autouse=True)
def _eager_celery(request):
    """Unit tests run tasks in-process even where REDIS_URL is set; the worker tests use the broker."""
    if request.node.get_closest_marker("worker"):
        yield
        return
    from config.celery import app

    before = app.conf.task_always_eager, app.conf.task_eager_propagates
    # Not propagating lets an eager task retry itself (in-process, without the countdown), as a worker would.
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, False
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = before


@pytest.fixture
def make_client(db):
    counter = itertools.count(1)

    def make(segments=(), email=None, consent=True, **fields):
        n = next(counter)
        client = Client.objects.create(
            external_id=f"c{n}", email=f"client{n}@example.com" if email is None else email, email_consent=consent,
            first_name=fields.pop("first_name", f"Ann{n}"), **fields)
        for segment in segments:
            SegmentMembership.objects.create(segment=segment, client=client, entered_at=dt.date(2026, 1, 1))
        return client

    return make


@pytest.fixture
def segment(db):
    return Segment.objects.create(slug="t-audience", name="Audience")


@pytest.fixture
def excluded(db):
    return Segment.objects.create(slug="t-excluded", name="Excluded")


@pytest.fixture
def template(db):
    return EmailTemplate.objects.create(name="Hello", subject="Hi {{ client.first_name }}", html_body=HTML)


@pytest.fixture
def make_campaign(template, segment):
    counter = itertools.count(1)

    def make(segments=None, exclude=(), **fields):
        campaign = Campaign.objects.create(slug=fields.pop("slug", f"camp-{next(counter)}"),
                                           name=fields.pop("name", "Spring sale"), template=template, **fields)
        campaign.segments.set(segments or [segment])
        campaign.exclude_segments.set(exclude)
        return campaign

    return make


@pytest.fixture
def site_built_for():
    """site_built_for(backend): the site's URLs as they are when EMAIL_BACKEND names `backend` (URLs are
    built at import: mailing/urls.py mounts the tracking webhook of that ESP only); as before afterwards."""
    import config.urls
    import mailing.urls

    before = mailing.urls.urlpatterns, config.urls.urlpatterns

    def build(backend):
        with override_settings(EMAIL_BACKEND=backend):
            importlib.reload(mailing.urls)
            importlib.reload(config.urls)
        clear_url_caches()

    yield build
    mailing.urls.urlpatterns, config.urls.urlpatterns = before
    clear_url_caches()
