from collections import Counter

import pytest
from django.core import mail

from mailing.launch import launch_campaign
from mailing.models import CampaignError, CampaignVariant, Delivery, EmailTemplate
from mailing.recipients import in_holdout, pick_variant


def test_it_splits_clients_between_variants_by_weight_and_always_the_same_way():
    variants = [("A", 20), ("B", 80)]
    picks = [pick_variant(7, client_id, variants) for client_id in range(1, 20_001)]

    share = Counter(picks)["A"] / len(picks)
    assert 0.19 < share < 0.21
    assert picks == [pick_variant(7, client_id, variants) for client_id in range(1, 20_001)]
    assert pick_variant(7, 1, []) is None


def test_the_variant_split_does_not_depend_on_the_holdout():
    # Among clients outside the holdout, the split stays 50/50: the two hashes are independent.
    sent = [c for c in range(1, 20_001) if not in_holdout(7, c, 30)]
    share = Counter(pick_variant(7, c, [("A", 50), ("B", 50)]) for c in sent)["A"] / len(sent)
    assert 0.48 < share < 0.52


def test_it_sends_each_variant_its_subject_and_template_and_records_them(make_client, make_campaign, segment,
                                                                         template,
                                                                         django_capture_on_commit_callbacks):
    clients = [make_client([segment]) for _ in range(40)]
    campaign = make_campaign(holdout_percent=20)
    other = EmailTemplate.objects.create(name="Other", subject="Other {{ client.first_name }}",
                                         html_body="<p>Other body {{ unsubscribe_url }}</p>")
    a = CampaignVariant.objects.create(campaign=campaign, name="A", weight=50,
                                       subject="A for {{ client.first_name|default:'you' }}")
    b = CampaignVariant.objects.create(campaign=campaign, name="B", weight=50, template=other)

    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(campaign)

    rows = {d.client_id: d for d in Delivery.objects.select_related("variant", "template_version")}
    held = [d for d in rows.values() if d.reason == Delivery.Reason.HOLDOUT]
    assert held and all(d.variant is None for d in held)  # holdout first, then variants among the sent
    sent = [d for d in rows.values() if d.state == Delivery.State.SENT]
    assert len(held) + len(sent) == len(clients)
    assert {d.variant_id for d in sent} == {a.pk, b.pk}
    by_address = {m.to[0]: m for m in mail.outbox}
    for d in sent:
        first_name = d.client.first_name
        if d.variant_id == a.pk:
            assert d.subject == f"A for {first_name}" and d.template_version.template_id == template.pk
        else:
            assert d.subject == f"Other {first_name}" and d.template_version.template_id == other.pk
            assert "Other body" in by_address[d.email].body
        assert by_address[d.email].subject == d.subject


def test_it_refuses_to_launch_when_the_variant_splits_do_not_add_up(make_client, make_campaign, segment):
    make_client([segment])
    campaign = make_campaign(slug="ab")
    CampaignVariant.objects.create(campaign=campaign, name="A", weight=50)
    CampaignVariant.objects.create(campaign=campaign, name="B", weight=40)

    with pytest.raises(CampaignError, match="'ab' cannot be launched: variants: .* add up to 90%, not 100%"):
        launch_campaign(campaign)
    assert not Delivery.objects.exists()
