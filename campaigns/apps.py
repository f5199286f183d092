from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns and audiences")

    def ready(self):
        # Signal receivers: audience syncs and triggered campaigns after a nightly run, beat entries
        # that follow campaigns, ESP tracking events onto deliveries.
        from . import receivers  # noqa: F401
        from .mailing import scheduling, tracking  # noqa: F401

        checks.register(check_file_storage)


def check_file_storage(app_configs=None, **kwargs):
    """Audience files go to the default storage: a backend that cannot be imported stops the start."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    backend = settings.STORAGES["default"]["BACKEND"]
    try:
        import_string(backend)
    except ImportError as exc:
        return [checks.Error(
            f"The file storage backend {backend!r} (DEFAULT_FILE_STORAGE_BACKEND) cannot be imported: {exc}",
            hint="Install it (for S3: pip install 'django-storages[s3]') or unset DEFAULT_FILE_STORAGE_BACKEND.",
            id="campaigns.E001")]
    return []
