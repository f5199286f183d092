from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class AudiencesConfig(AppConfig):
    name = "audiences"
    verbose_name = _("Ad audiences")

    def ready(self):
        from . import receivers  # noqa: F401 - audience syncs after a nightly run
        from .accounts import check_credentials_key

        checks.register(check_file_storage)
        checks.register(check_credentials_key, checks.Tags.database)


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
            id="audiences.E001")]
    return []
