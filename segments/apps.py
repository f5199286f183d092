from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class SegmentsConfig(AppConfig):
    name = "segments"
    verbose_name = _("Scores and segments")

    def ready(self):
        post_migrate.connect(_builtin_segments, sender=self, dispatch_uid="segments.builtin")


def _builtin_segments(**kwargs):
    from .builtin import ensure
    from .models import Segment

    ensure(Segment)  # the segments every shop has (builtin.py), kept by the nightly run
