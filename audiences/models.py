from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from segments.models import ScoringRun, Segment

from .exports import PLATFORMS
from .exports.held import unpack

PLATFORM_CHOICES = [(slug, platform.label) for slug, platform in PLATFORMS.items()]


class ExportMode(models.TextChoices):
    FULL = "full", _("full")
    DELTA = "delta", _("delta (added and removed)")


class AudienceSync(models.Model):
    """A segment sent to an ad platform after every successful nightly run."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="audience_syncs",
                                verbose_name=_("segment"))
    platform = models.CharField(_("platform"), max_length=16, choices=PLATFORM_CHOICES)
    mode = models.CharField(_("mode"), max_length=8, choices=ExportMode.choices, default=ExportMode.DELTA,
                            help_text=_("Full: every client each night. Delta: the clients added and removed "
                                        "since the previous export of this segment to this platform."))
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("audience sync")
        verbose_name_plural = _("audience syncs")
        ordering = ["segment__slug", "platform"]
        # One delta state per segment and platform: two syncs of the pair would undo each other.
        constraints = [models.UniqueConstraint(fields=["segment", "platform"], name="one_sync_per_segment_platform")]

    def __str__(self):
        return f"{self.segment.slug} → {self.platform} ({self.mode})"


class AudienceExport(models.Model):
    """One export of a segment to an ad platform: what went into which file, and who started it.

    The record stays when the files are purged after CRM_AUDIENCE_RETENTION_DAYS, and when the
    segment is deleted (then `segment` is empty and `segment_slug` still names it).
    """

    class Status(models.TextChoices):
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")

    segment = models.ForeignKey(Segment, on_delete=models.SET_NULL, null=True, related_name="audience_exports",
                                verbose_name=_("segment"))
    segment_slug = models.CharField(_("segment"), max_length=64)
    platform = models.CharField(_("platform"), max_length=16, choices=PLATFORM_CHOICES)
    mode = models.CharField(_("mode"), max_length=8, choices=ExportMode.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.RUNNING)
    created_at = models.DateTimeField(_("started at"), auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    seconds = models.FloatField(_("seconds"), null=True, blank=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("started by"))
    sync = models.ForeignKey(AudienceSync, on_delete=models.SET_NULL, null=True, blank=True, related_name="exports",
                             verbose_name=_("sync"))
    run = models.ForeignKey(ScoringRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                            verbose_name=_("after scoring run"))
    # Current members of the segment, and those of them who may not be shown ads.
    members = models.IntegerField(_("members"), default=0)
    no_consent = models.IntegerField(_("without ads consent"), default=0)
    erased = models.IntegerField(_("erased"), default=0)
    # Eligible clients this export looked at who have nothing the platform can match on.
    skipped = models.IntegerField(_("no usable identifier"), default=0)
    # Full: clients in the files. Delta: clients newly sent to the platform.
    exported = models.IntegerField(_("exported"), default=0)
    removed = models.IntegerField(_("removed"), default=0)
    # Delta: clients still on the platform whose identifiers changed (old rows removed, new rows added).
    updated = models.IntegerField(_("updated"), default=0)
    audience = models.IntegerField(_("clients on the platform"), default=0,
                                   help_text=_("after this export, as far as our exports told the platform"))
    rows = models.JSONField(_("rows per file"), default=dict, blank=True)
    below_minimum = models.BooleanField(_("below the platform minimum"), default=False)
    # File key ("audience", "add/audience", "remove/emails"...) -> storage name, or path under out_dir.
    files = models.JSONField(_("files"), default=dict, blank=True)
    out_dir = models.CharField(_("written to folder"), max_length=500, blank=True,
                               help_text=_("set when the command wrote the files to a folder instead of the storage"))
    purged_at = models.DateTimeField(_("files deleted at"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("audience export")
        verbose_name_plural = _("audience exports")
        ordering = ["-created_at", "-id"]
        permissions = [("download_audience", _("Can download audience files (personal data)"))]

    def __str__(self):
        return f"{self.segment_slug} → {self.platform} ({self.mode}, {self.created_at:%Y-%m-%d %H:%M})"

    @property
    def platform_obj(self):
        return PLATFORMS.get(self.platform)

    @property
    def not_eligible(self):
        return self.no_consent + self.erased

    @property
    def downloadable(self):
        """Files the admin may hand out: kept in the storage, not purged, of a finished export."""
        return self.status == self.Status.SUCCEEDED and not self.out_dir and self.purged_at is None


class AudienceDownload(models.Model):
    """Someone downloaded an export's file: the files are personal data, so each download is kept."""

    export = models.ForeignKey(AudienceExport, on_delete=models.CASCADE, related_name="downloads",
                               verbose_name=_("export"))
    file_key = models.CharField(_("file"), max_length=64)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+",
                             verbose_name=_("user"))
    username = models.CharField(_("user name"), max_length=150)  # kept if the user is deleted
    at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("audience download")
        verbose_name_plural = _("audience downloads")
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.username} {self.file_key} {self.at:%Y-%m-%d %H:%M}"


class AudienceState(models.Model):
    """What an ad platform holds of a segment as far as our exports told it: the base of a delta.

    Its rows (AudienceLines) hold the lines sent, so a client is removed with exactly what was sent
    even after their data was changed or erased. Exports of a pair lock this row: one at a time.
    """

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="+")
    platform = models.CharField(max_length=16, choices=PLATFORM_CHOICES)
    export = models.ForeignKey(AudienceExport, on_delete=models.SET_NULL, null=True, related_name="+")
    # When the export that last changed the state started: clients changed since are checked again.
    synced_at = models.DateTimeField(null=True)
    clients = models.IntegerField(default=0)
    rows = models.JSONField(default=dict)  # file key -> rows held

    class Meta:
        constraints = [models.UniqueConstraint(fields=["segment", "platform"], name="one_state_per_segment_platform")]

    def __str__(self):
        return f"{self.segment_id} on {self.platform}: {self.clients}"


class AudienceLines(models.Model):
    """A batch of the lines a platform holds of one file, as sent (see audiences.exports.held).

    A row per batch of up to audiences.export.FETCH_SIZE lines, written and read in bulk by
    `audiences.export`: a full export stores a hundred rows for a million clients, not a million.
    A client's lines outlive the client (no foreign key), to remove them from the platform.
    """

    state = models.ForeignKey(AudienceState, on_delete=models.CASCADE, related_name="+")
    file_key = models.CharField(max_length=32)
    client_ids = models.TextField()  # comma-separated, one per line
    lines = models.TextField()  # the lines without their line end, joined by `separator`
    separator = models.CharField(max_length=1)

    def __str__(self):
        return f"{self.state_id} {self.file_key}: {self.client_ids.count(',') + 1} lines"

    def members(self):
        """(client id, line as sent without its line end) for each line of the batch."""
        return unpack(self.client_ids, self.lines, self.separator)

