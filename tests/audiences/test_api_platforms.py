"""Every platform's module against its fake: after each sync the platform holds exactly the lines the
CRM records as sent (the file export's held state), through creation, additions and removals."""

import csv
import datetime as dt

import pytest

from audiences import push as pushing
from audiences.models import AudienceLines, AudienceSync, ConnectedAccount
from crm.models import Client
from segments.models import Segment, SegmentMembership

pytestmark = pytest.mark.django_db

MEMBERS = 1_005  # above TikTok's minimum of 1,000 people after an update


def connect(platform, fake):
    """A ConnectedAccount with what the platform's fake accepts."""
    account_id, secrets = {
        "meta": ("act_1001", {"access_token": getattr(fake, "token", "")}),
        "yandex": ("shop", {"access_token": getattr(fake, "token", "")}),
        "tiktok": (getattr(fake, "advertiser", ""), {"access_token": getattr(fake, "token", "")}),
        "google": (getattr(fake, "customer", ""), {"refresh_token": getattr(fake, "refresh_token", ""),
                                                   "client_id": "app", "client_secret": "app-secret"}),
        "vk": ("cabinet", {"refresh_token": getattr(fake, "refresh_token", ""), "client_id": "app",
                           "client_secret": "app-secret"}),
    }[platform]
    account = ConnectedAccount(platform=platform, name=platform, account_id=account_id)
    account.set_credentials(secrets)
    account.save()
    return account


def held(sync, file_key):
    """The rows the CRM records the platform as holding, for one file."""
    lines = AudienceLines.objects.filter(state__segment=sync.segment, state__platform=sync.platform, file_key=file_key)
    return {tuple(next(csv.reader([line]))) for batch in lines for _, line in batch.members()}


@pytest.mark.parametrize("platform", ["meta", "yandex", "google", "tiktok", "vk"])
def test_the_platform_holds_what_the_crm_sent_through_creation_additions_and_removals(
        platform, request, credentials_key, waits):
    fake = request.getfixturevalue(f"fake_{platform}")
    segment = Segment.objects.create(slug="api-loyal", name="Loyal (API)", kind=Segment.Kind.RULE)
    clients = Client.objects.bulk_create(
        Client(external_id=f"c{n}", email=f"client{n}@example.com", ads_consent=True, country="RU",
               phone=f"+7912{n:07d}" if n % 3 else "",
               **({"first_name": "Иван", "last_name": "Петров", "zip": "190000"} if n % 5 == 0 else {}))
        for n in range(MEMBERS))
    SegmentMembership.objects.bulk_create(
        SegmentMembership(segment=segment, client=client, entered_at=dt.date(2026, 6, 1)) for client in clients)
    sync = AudienceSync.objects.create(segment=segment, platform=platform, account=connect(platform, fake))

    first = pushing.sync_via_api(sync)

    assert first.status == "succeeded", first.error
    sync.refresh_from_db()
    assert set(sync.remote_ids) == set(first.export.platform_obj.files)
    for key, remote_id in sync.remote_ids.items():
        assert fake.members(remote_id) == held(sync, key) != set()

    SegmentMembership.objects.filter(client__in=clients[:3]).update(left_at=dt.date(2026, 6, 2))
    Client.objects.filter(pk=clients[3].pk).update(email="changed@example.com", updated_at=dt.datetime.now(dt.UTC))
    newcomers = Client.objects.bulk_create(
        Client(external_id=f"new{n}", email=f"new{n}@example.com", phone=f"+7913{n:07d}", ads_consent=True)
        for n in range(4))
    SegmentMembership.objects.bulk_create(
        SegmentMembership(segment=segment, client=client, entered_at=dt.date(2026, 6, 2)) for client in newcomers)

    later = pushing.sync_via_api(sync)

    assert later.status == "succeeded", later.error
    sync.refresh_from_db()
    for key, remote_id in sync.remote_ids.items():
        assert fake.members(remote_id) == held(sync, key)
    assert later.added >= 4 and later.removed >= 3
    assert (later.export.exported, later.export.removed, later.export.updated) == (4, 3, 1)
