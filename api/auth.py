"""Who is calling: a bearer token per integration, and what its scope lets it do."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, permissions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from crm.accounts import lockout
from crm.audit import record

from .models import ApiToken

KEYWORD = b"bearer"


class TokenUser:
    """request.user for a token: the integration, not a person."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    pk = None

    def __init__(self, token):
        self.token = token
        self.username = f"api:{token.name}"

    def __str__(self):
        return self.username


def client_address(request):
    from axes.helpers import get_client_ip_address

    return get_client_ip_address(request) or "unknown"


class TokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>`; the token is looked up by its hash. An address that sent
    CRM_API_BAD_TOKEN_LIMIT unknown tokens is refused (429) for the sign-in cool-off, good token or not,
    so tokens cannot be guessed (crm/accounts/lockout.py)."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD:
            return None
        address = client_address(request)
        if lockout.api_address_locked(address):
            raise exceptions.Throttled(
                wait=settings.CRM_LOGIN_COOLOFF_MINUTES * 60,
                detail=str(_("Too many unknown tokens from this address: the API refuses it for a while.")))
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("The Authorization header must be 'Bearer <token>'."))
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raw = None
        token = ApiToken.objects.authenticate(raw) if raw else None
        if token is None:
            if lockout.api_bad_token(address):
                record("api_locked_out", f"api:address:{address}", actor_name="api",
                       limit=settings.CRM_API_BAD_TOKEN_LIMIT, minutes=settings.CRM_LOGIN_COOLOFF_MINUTES)
            raise exceptions.AuthenticationFailed(_("Unknown or inactive token."))
        token.touch()
        return TokenUser(token), token

    def authenticate_header(self, request):
        # Makes DRF answer 401 (not 403) when the token is missing or wrong.
        return 'Bearer realm="api"'


class TokenScope(permissions.BasePermission):
    """Any active token may read; sending data needs the write scope."""

    message = _("This token may only read: sending data needs a token with the write scope.")

    def has_permission(self, request, view):
        token = request.auth
        if not isinstance(token, ApiToken):
            return False
        return request.method in permissions.SAFE_METHODS or token.can_write()
