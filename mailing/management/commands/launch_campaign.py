from django.core.management.base import BaseCommand, CommandError

from mailing.launch import launch_campaign
from mailing.models import Campaign, CampaignError
from mailing.tasks import QueueUnavailable


class Command(BaseCommand):
    help = "Launch an email campaign (as the admin's Launch action does): write its deliveries and queue sending."

    def add_arguments(self, parser):
        parser.add_argument("slug")

    def handle(self, slug, **options):
        campaign = Campaign.objects.filter(slug=slug).first()
        if campaign is None:
            known = ", ".join(Campaign.objects.order_by("slug").values_list("slug", flat=True)[:20]) or "none"
            raise CommandError(f"No campaign with slug {slug!r} (campaigns: {known}).")
        try:
            result = launch_campaign(campaign)
        except CampaignError as exc:
            raise CommandError(str(exc)) from None
        except QueueUnavailable as exc:
            raise CommandError(f"{slug}: {exc}") from None
        campaign.refresh_from_db()
        self.stdout.write(
            f"{campaign.slug}: {result.created} new deliveries, {result.pending} queued in {result.batches} batches, "
            f"{result.suppressed} suppressed; campaign is {campaign.get_state_display()}.")
