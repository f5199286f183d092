import logging

from django.conf import settings
from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle

log = logging.getLogger(__name__)


class TokenRateThrottle(SimpleRateThrottle):
    """CRM_API_THROTTLE requests per period per token, counted in Django's default cache: Redis when
    REDIS_URL is set, shared by every web process (config/settings.py, CACHES)."""

    scope = "token"

    def get_rate(self):
        # Read at each request rather than from DRF's cached settings, so a change applies at once.
        return settings.CRM_API_THROTTLE

    def get_cache_key(self, request, view):
        token = request.auth
        if token is None:
            return None  # the schema and docs pages; the API itself refuses calls without a token
        return self.cache_format % {"scope": self.scope, "ident": token.pk}

    def allow_request(self, request, view):
        # The throttle keeps one runaway integration from crowding out the others; it guards no data.
        # With its counts unreachable (Redis down) the API keeps taking data, unthrottled, rather
        # than failing every shop's requests.
        try:
            return super().allow_request(request, view)
        except RedisError as exc:
            log.warning("API throttle not applied: the cache failed (%s)", exc)
            return True
