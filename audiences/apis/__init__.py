"""Ad platforms' audience APIs, one module per platform behind `base.AdApi`; pick one by slug from APIS.

The lines they send are those of the file exports (`audiences.exports`): the same normalisation and
hashing, the same columns. `audiences.push` runs a sync's requests with its journal.
"""

from .base import AdApi, ApiError, Batch, NotSentError, RejectedError, Sent, TransientApiError
from .google import GoogleApi
from .meta import MetaApi
from .tiktok import TikTokApi
from .vk import VKApi
from .yandex import YandexApi

APIS: dict[str, type[AdApi]] = {api.platform: api for api in (GoogleApi, MetaApi, YandexApi, VKApi, TikTokApi)}


def api_for(account, *, dry_run=None, attempts=None) -> AdApi:
    """The API client of a ConnectedAccount; `dry_run`: a stream that gets the requests instead of the
    platform; `attempts`: per request, instead of CRM_AUDIENCE_API_ATTEMPTS."""
    return APIS[account.platform](account, dry_run=dry_run, attempts=attempts)


__all__ = ["APIS", "AdApi", "ApiError", "Batch", "NotSentError", "RejectedError", "Sent", "TransientApiError",
           "api_for"]
