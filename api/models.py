import hashlib
import secrets

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

TOKEN_PREFIX = "crm_"
# last_used_at is written at most this often per token, so a busy integration does not turn
# every request into a write on the same row.
TOUCH_EVERY = timezone.timedelta(minutes=1)


def hash_token(raw):
    # Tokens are 256 random bits, so a fast hash is enough: there is nothing to brute-force, and a
    # slow one (PBKDF2) would cost every request. Only this hash is stored.
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def authenticate(self, raw):
        """The active token with this plain text, or None."""
        return self.filter(token_hash=hash_token(raw), is_active=True).first()


class ApiToken(models.Model):
    """One integration's key to the API. The plain token is shown once, when it is created."""

    class Scope(models.TextChoices):
        READ = "read", _("read: scores and segments")
        WRITE = "write", _("write: send data, and read")

    name = models.CharField(_("name"), max_length=100, unique=True,
                            help_text=_("who uses it, e.g. the shop's back office"))
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True, editable=False)
    # The start of the token, to tell tokens apart in the list without storing the secret.
    prefix = models.CharField(_("token starts with"), max_length=12, editable=False)
    scope = models.CharField(_("scope"), max_length=8, choices=Scope.choices, default=Scope.WRITE)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def new_secret(self):
        """Give the token a fresh secret (on creation) and return it: the only time it is seen."""
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.token_hash = hash_token(raw)
        self.prefix = raw[: len(TOKEN_PREFIX) + 6]
        return raw

    @classmethod
    def issue(cls, name, scope=Scope.WRITE):
        """Create a token; returns (token, plain text)."""
        token = cls(name=name, scope=scope)
        raw = token.new_secret()
        token.save()
        return token, raw

    def can_write(self):
        return self.scope == self.Scope.WRITE

    def touch(self, now=None):
        now = now or timezone.now()
        if self.last_used_at is None or now - self.last_used_at >= TOUCH_EVERY:
            ApiToken.objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now
