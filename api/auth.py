"""Who is calling: a bearer token per integration, and what its scope lets it do."""

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, permissions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

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


class TokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>`; the token is looked up by its hash."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("The Authorization header must be 'Bearer <token>'."))
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("Unknown or inactive token.")) from None
        token = ApiToken.objects.authenticate(raw)
        if token is None:
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
