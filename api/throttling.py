from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class TokenRateThrottle(SimpleRateThrottle):
    """CRM_API_THROTTLE requests per period per token (counted in Django's default cache)."""

    scope = "token"

    def get_rate(self):
        # Read at each request rather than from DRF's cached settings, so a change applies at once.
        return settings.CRM_API_THROTTLE

    def get_cache_key(self, request, view):
        token = request.auth
        if token is None:
            return None  # the schema and docs pages; the API itself refuses calls without a token
        return self.cache_format % {"scope": self.scope, "ident": token.pk}
