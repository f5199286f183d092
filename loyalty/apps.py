from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = _("Loyalty: points and tiers")

    def ready(self):
        from . import signals  # noqa: F401 - keeps each tier's segment in step with the tier
