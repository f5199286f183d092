from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm import session_properties


class Client(models.Model):
    class Gender(models.TextChoices):
        FEMALE = "f", _("female")
        MALE = "m", _("male")

    external_id = models.CharField(_("client id"), max_length=64)
    email = models.CharField(_("email"), max_length=254, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True,
                               help_text=_("ISO 3166-1 alpha-2, e.g. RU"))
    zip = models.CharField(_("zip"), max_length=20, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    gender = models.CharField(_("gender"), max_length=1, choices=Gender.choices, blank=True)
    acquisition_channel = models.CharField(_("acquisition channel"), max_length=64, blank=True)
    first_seen = models.DateTimeField(_("first seen"), null=True, blank=True)
    email_consent = models.BooleanField(_("email consent"), default=False)
    email_consent_at = models.DateTimeField(_("email consent changed at"), null=True, blank=True)
    email_consent_source = models.CharField(_("email consent source"), max_length=100, blank=True)
    ads_consent = models.BooleanField(_("ads consent"), default=False)
    unsubscribed_at = models.DateTimeField(_("unsubscribed at"), null=True, blank=True)
    # Right to be forgotten: personal fields are cleared, the row stays so aggregates stay right.
    erased_at = models.DateTimeField(_("erased at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("client")
        verbose_name_plural = _("clients")
        # Personal data: given separately from change permission (admin actions, privacy/personal_data.py).
        permissions = [
            ("export_client_data", _("Can export a client's personal data")),
            ("erase_client", _("Can erase a client's personal data")),
        ]
        # Indexes are declared here rather than with unique=/db_index= on the fields: on PostgreSQL
        # those also add a "_like" pattern index per column, which no query of ours uses and every
        # import pays for.
        constraints = [models.UniqueConstraint(fields=["external_id"], name="client_external_id_unique")]
        indexes = [
            models.Index(fields=["email"], name="client_email"),
            models.Index(fields=["phone"], name="client_phone"),
            models.Index(fields=["last_name"], name="client_last_name"),
            models.Index(fields=["country"], name="client_country"),
            models.Index(fields=["acquisition_channel"], name="client_channel"),
            # Admin filters on consent; the nightly run and campaigns pick consenting clients.
            models.Index(fields=["email_consent", "unsubscribed_at"], name="client_email_ok"),
            models.Index(fields=["ads_consent"], name="client_ads_ok"),
        ]

    def __str__(self):
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{self.external_id} {name}".strip()

    def clean(self):
        # The same rule as the import's and the API's (crm.parsing.birth_date), for the admin's form.
        if self.birth_date and self.birth_date > timezone.localdate():
            raise ValidationError({"birth_date": _("A birth date cannot be in the future.")})


class Purchase(models.Model):
    class Status(models.TextChoices):
        COMPLETED = "completed", _("completed")
        REFUNDED = "refunded", _("refunded")

    external_id = models.CharField(_("order id"), max_length=64)
    # No separate index on client: the (client, purchased_at) index below serves look-ups by client.
    client = models.ForeignKey(
        Client, on_delete=models.CASCADE, related_name="purchases", verbose_name=_("client"), db_index=False
    )
    purchased_at = models.DateTimeField(_("purchased at"))
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    # Blank until __init__ fills in the shop's currency: a callable default would tie the migrations to this module.
    currency = models.CharField(_("currency"), max_length=3, default="")
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.COMPLETED)

    class Meta:
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        # The client page lists a client's orders newest first; the nightly run scans by client.
        indexes = [
            models.Index(fields=["client", "purchased_at"], name="purchase_client_time"),
            models.Index(fields=["purchased_at"], name="purchase_time"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["external_id"], name="purchase_external_id_unique"),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="purchase_amount_not_negative"),
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.currency:  # an order that names no currency is in the shop's (CRM_CURRENCY)
            self.currency = settings.CRM_CURRENCY

    def __str__(self):
        return self.external_id


class PurchaseItem(models.Model):
    purchase = models.ForeignKey(Purchase, on_delete=models.CASCADE, related_name="items", verbose_name=_("order"))
    sku = models.CharField(_("SKU"), max_length=64)
    name = models.CharField(_("name"), max_length=200, blank=True)
    category = models.CharField(_("category"), max_length=100, blank=True)
    quantity = models.DecimalField(_("quantity"), max_digits=12, decimal_places=3)
    price = models.DecimalField(_("price"), max_digits=14, decimal_places=2)

    class Meta:
        verbose_name = _("purchase item")
        verbose_name_plural = _("purchase items")
        constraints = [models.UniqueConstraint(fields=["purchase", "sku"], name="item_unique_per_order")]
        indexes = [models.Index(fields=["category"], name="item_category")]

    def __str__(self):
        return f"{self.sku} x {self.quantity}"


class Product(models.Model):
    """A product of the shop's catalogue as recommendations see it. A row appears for every SKU sold (the
    nightly run keeps name, category and price as last sold) or comes with the products import; the
    flags are the shop's: what is out of stock or excluded is never recommended, and a consumable
    (restock after N days) may be recommended again to a client who bought it that long ago."""

    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    category = models.CharField(_("category"), max_length=100, blank=True)
    price = models.DecimalField(_("price"), max_digits=14, decimal_places=2, null=True, blank=True)
    in_stock = models.BooleanField(_("in stock"), default=True)
    excluded = models.BooleanField(
        _("never recommend"), default=False, help_text=_("e.g. gift cards, delivery, samples"))
    restock_days = models.PositiveIntegerField(
        _("restock after (days)"), null=True, blank=True,
        help_text=_("a consumable: recommended again to a client who bought it this many days ago"))

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["sku"]

    def __str__(self):
        return f"{self.sku} {self.name}".strip()

    @property
    def recommendable(self):
        return self.in_stock and not self.excluded


class Activity(models.Model):
    # Look-ups by client use the unique (client, occurred_at, kind) index below.
    client = models.ForeignKey(
        Client, on_delete=models.CASCADE, related_name="activities", verbose_name=_("client"), db_index=False
    )
    kind = models.CharField(_("kind"), max_length=64, help_text=_("free text: session, login, review, ..."))
    occurred_at = models.DateTimeField(_("occurred at"))
    properties = models.JSONField(_("properties"), default=dict, blank=True)
    # The visit a session row describes, as PostgreSQL keeps it from `properties` on every write
    # (crm/session_properties.py): what the night reads.
    visit_start, visit_seconds, visit_pages, visit_code = (
        models.GeneratedField(expression=RawSQL(expression, ()), output_field=field, db_persist=True)
        for _name, expression, field in session_properties.visit_columns())

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        # An event is identified by who, what and when: re-importing a file changes nothing.
        constraints = [
            models.UniqueConstraint(fields=["client", "occurred_at", "kind"], name="activity_unique_event"),
        ]
        indexes = [models.Index(fields=["occurred_at"], name="activity_time")]

    def __str__(self):
        return f"{self.kind} @ {self.occurred_at:%Y-%m-%d %H:%M}"

    def clean(self):
        # The admin's form checks a session's properties as the import and the API do.
        if self.kind == session_properties.KIND and isinstance(self.properties, dict):
            try:
                self.properties = session_properties.normalised(self.properties, self.occurred_at,
                                                                timezone.get_current_timezone(), timezone.now())
            except ValueError as exc:
                raise ValidationError({"properties": str(exc)}) from None


class SurveyAnswer(models.Model):
    """An NPS (0-10) or CSAT (1-5) answer. One answer per client, kind and moment: re-importing changes nothing."""

    class Kind(models.TextChoices):
        NPS = "nps", "NPS"
        CSAT = "csat", "CSAT"

    SCALE = {Kind.NPS: (0, 10), Kind.CSAT: (1, 5)}

    client = models.ForeignKey(
        Client, on_delete=models.CASCADE, related_name="survey_answers", verbose_name=_("client"), db_index=False
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    score = models.PositiveSmallIntegerField(_("score"))
    answered_at = models.DateTimeField(_("answered at"))

    class Meta:
        verbose_name = _("survey answer")
        verbose_name_plural = _("survey answers")
        constraints = [
            models.UniqueConstraint(fields=["client", "kind", "answered_at"], name="survey_answer_unique"),
            models.CheckConstraint(
                condition=(models.Q(kind="nps", score__lte=10) | models.Q(kind="csat", score__gte=1, score__lte=5)),
                name="survey_score_on_scale",
            ),
        ]
        indexes = [models.Index(fields=["answered_at"], name="survey_answer_time")]

    def __str__(self):
        return f"{self.kind} {self.score}"


class AuditLog(models.Model):
    """Who did what to personal data (downloads of files with personal data, client exports, erasures),
    and the staff accounts' security: sign-ins, failures, lock-outs, two-factor, sessions ended."""

    class Action(models.TextChoices):
        DOWNLOAD = "download", _("downloaded personal data")
        EXPORT_CLIENT = "export_client", _("exported a client's data")
        ERASE_CLIENT = "erase_client", _("erased a client")
        SIGN_IN = "sign_in", _("signed in with a password")
        SIGN_IN_FAILED = "sign_in_failed", _("failed to sign in")
        LOCKED_OUT = "locked_out", _("locked out after failed sign-ins")
        LOCKOUT_LIFTED = "lockout_lifted", _("lifted a lock-out")
        SIGN_OUT = "sign_out", _("signed out")
        SESSIONS_ENDED = "sessions_ended", _("signed a user out everywhere")
        TWO_FACTOR_ENROLLED = "two_factor_enrolled", _("set up two-factor sign-in")
        TWO_FACTOR_VERIFIED = "two_factor_verified", _("passed the two-factor step")
        TWO_FACTOR_FAILED = "two_factor_failed", _("gave a wrong two-factor code")
        TWO_FACTOR_RESET = "two_factor_reset", _("reset a user's two-factor sign-in")
        API_LOCKED_OUT = "api_locked_out", _("API address locked out after unknown tokens")

    at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+", verbose_name=_("who"))
    # Kept as text as well, so the record still says who after the user is deleted (or "api:NAME", "cli").
    actor_name = models.CharField(_("who (name)"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=32, choices=Action.choices)
    # What it was about, e.g. "crm.client:42" or a file path; never the personal data itself.
    target = models.CharField(_("what"), max_length=255)
    detail = models.JSONField(_("detail"), default=dict, blank=True)

    class Meta:
        verbose_name = _("audit log entry")
        verbose_name_plural = _("audit log")
        ordering = ["-at"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.target}"


class ImportRun(models.Model):
    """What one CSV import did: the admin shows it, and it is the report a command prints."""

    kind = models.CharField(_("kind"), max_length=32)
    file_name = models.CharField(_("file"), max_length=255)
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    ok = models.BooleanField(_("imported"), default=False)
    report = models.JSONField(_("report"), default=dict)

    class Meta:
        verbose_name = _("CSV import")
        verbose_name_plural = _("CSV imports")
        ordering = ["-started_at"]

    def __str__(self):
        return f"{self.kind} {self.file_name}"
