"""A tier's segment follows the tier at once (the nightly run syncs them again, for bulk edits)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Tier
from .tiers import sync_segments


@receiver(post_save, sender=Tier)
@receiver(post_delete, sender=Tier)
def _tier_changed(sender, **kwargs):
    sync_segments()
