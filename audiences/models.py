from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from segments.models import ScoringRun, Segment

from . import credentials
from .exports import PLATFORMS
from .exports.held import unpack

PLATFORM_CHOICES = [(slug, platform.label) for slug, platform in PLATFORMS.items()]


class ExportMode(models.TextChoices):
    FULL = "full", _("full")
    DELTA = "delta", _("delta (added and removed)")


class ConnectedAccount(models.Model):
    """One ad-platform account the CRM sends audiences to through the platform's API.

    `secrets` holds the credentials (tokens, keys) as a Fernet token (audiences.credentials): read
    and written only through `credentials()` and `set_credentials()`, shown again only masked.
    """

    platform = models.CharField(_("platform"), max_length=16, choices=PLATFORM_CHOICES)
    name = models.CharField(_("name"), max_length=100, unique=True)
    account_id = models.CharField(
        _("account id"), max_length=100,
        help_text=_("Meta: the ad account (act_…); Google: the Google Ads customer id; TikTok: the advertiser "
                    "id; Yandex and VK: any label (the token names the account)."))
    secrets = models.TextField(editable=False, blank=True)
    token_expires_at = models.DateTimeField(_("access token expires at"), null=True, blank=True, editable=False)
    checked_at = models.DateTimeField(_("connection tested at"), null=True, blank=True, editable=False)
    check_ok = models.BooleanField(_("connection works"), null=True, editable=False)
    check_message = models.TextField(_("connection test said"), blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("connected ad account")
        verbose_name_plural = _("connected ad accounts")
        ordering = ["platform", "name"]

    def __str__(self):
        return f"{self.name} ({self.get_platform_display()})"

    def credentials(self) -> dict:
        return credentials.decrypt(self.secrets)

    def set_credentials(self, values: dict):
        self.secrets = credentials.encrypt({key: value for key, value in values.items() if value})


class AudienceSync(models.Model):
    """A segment sent to an ad platform after every successful nightly run: as files, and through the
    platform's API too when an account is connected."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="audience_syncs",
                                verbose_name=_("segment"))
    platform = models.CharField(_("platform"), max_length=16, choices=PLATFORM_CHOICES)
    mode = models.CharField(_("mode"), max_length=8, choices=ExportMode.choices, default=ExportMode.DELTA,
                            help_text=_("Full: every client each night. Delta: the clients added and removed "
                                        "since the previous export of this segment to this platform."))
    is_active = models.BooleanField(_("active"), default=True)
    account = models.ForeignKey(
        ConnectedAccount, on_delete=models.PROTECT, null=True, blank=True, related_name="syncs",
        verbose_name=_("connected account"),
        help_text=_("Send the audience through this account's API every night (files are kept as well)."))
    # File key -> the platform's audience id (VK keeps a list per file: emails, phones).
    remote_ids = models.JSONField(_("audience on the platform"), default=dict, blank=True)
    replace_requested = models.BooleanField(
        _("full replace at the next sync"), default=False,
        help_text=_("Send every member again into a new audience on the platform at the next sync."))
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
    client_ids = models.TextField()  # comma-separated, one per line; empty for a line since removed
    lines = models.TextField()  # the lines without their line end, joined by `separator`
    separator = models.CharField(max_length=1)

    def __str__(self):
        return f"{self.state_id} {self.file_key}: {self.client_ids.count(',') + 1} lines"

    def members(self):
        """(client id, line as sent without its line end) for each line of the batch."""
        return unpack(self.client_ids, self.lines, self.separator)



class AudiencePush(models.Model):
    """An export's lines sent to a platform through its API, batch by batch: the sync's outcome.

    Created in the export's own transaction, so an export of an API sync is never left unsent: a push
    that did not finish (worker killed, platform down) is resumed by the next run of its sync, before
    any newer export, from its batch journal (PushBatch).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed (will resume)")

    export = models.OneToOneField(AudienceExport, on_delete=models.CASCADE, related_name="push",
                                  verbose_name=_("export"))
    sync = models.ForeignKey(AudienceSync, on_delete=models.CASCADE, related_name="pushes", verbose_name=_("sync"))
    account = models.ForeignKey(ConnectedAccount, on_delete=models.PROTECT, related_name="+",
                                verbose_name=_("connected account"))
    new_audience = models.BooleanField(_("into a new audience"), default=False)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # A worker holds the push until then; past it the worker is taken for dead and another resumes it.
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.IntegerField(_("attempts"), default=0)
    # Rows per request, fixed at the push's first run: a resumed push cuts its batches where the first did.
    batch_size = models.IntegerField(_("rows per request"), null=True, blank=True)
    batches = models.IntegerField(_("batches sent"), default=0)
    added = models.IntegerField(_("added"), default=0)
    removed = models.IntegerField(_("removed"), default=0)
    rejected = models.IntegerField(_("rejected by the platform"), default=0)
    reasons = models.JSONField(_("the platform's reasons"), default=dict, blank=True)
    match_rate = models.FloatField(_("match rate"), null=True, blank=True)
    # File key -> the platform audience this push fills; and those it replaced (a full replace).
    targets = models.JSONField(_("audience on the platform"), default=dict, blank=True)
    replaced_ids = models.JSONField(_("audiences replaced"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("audience API sync")
        verbose_name_plural = _("audience API syncs")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.export} via {self.account.name}"


class PushBatch(models.Model):
    """One request of a push, written before it is sent (SENDING) and after its answer (SENT): a resumed
    push skips what was sent, and asks the platform or sends again what may not have arrived."""

    class State(models.TextChoices):
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")

    push = models.ForeignKey(AudiencePush, on_delete=models.CASCADE, related_name="journal")
    seq = models.IntegerField()
    kind = models.CharField(max_length=8)  # add, remove
    file_key = models.CharField(max_length=32)
    lines = models.IntegerField()
    state = models.CharField(max_length=8, choices=State.choices)
    attempt = models.IntegerField(default=1)
    result = models.JSONField(default=dict)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["push", "seq"], name="one_batch_per_push_seq")]
        ordering = ["push", "seq"]

    def __str__(self):
        return f"{self.push_id} #{self.seq} {self.kind} {self.file_key}: {self.state}"
