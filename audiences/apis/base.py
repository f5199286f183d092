"""What every ad platform's audience API has in common: credentials, one HTTP path with its retry
policy, and the steps a push of an export's lines takes.

A subclass, one module per platform, fills the steps in that platform's request shape:

- `check()`: a harmless read (the account, its audiences) for the admin's "test connection";
- `find(name)` / `create(name, file_key, header, lines)`: the platform's audience for a sync. `find`
  makes creating safe to repeat: a worker killed between the create and the record of its id finds
  the audience it made instead of making a second one. Platforms that build an audience from its
  first file (Yandex, TikTok, VK) consume those lines in `create` and say so (`creates_with_data`);
- `add(...)` / `remove(...)`: one batch of rows of the platform's file, as the exports write them
  (`audiences.exports`), at most `batch_size`;
- `received(...)`: after a batch whose answer never came, whether the platform has it (where it can
  tell: Meta's upload sessions), so it is not counted twice.

Errors come as one hierarchy: TransientApiError (worth trying again later: network, 5xx, rate limits
longer than we wait) and RejectedError (the platform said no, with its reasons). Rate limits are
honoured with the platform's Retry-After, other transient errors retried with a doubling back-off,
both bounded by CRM_AUDIENCE_API_ATTEMPTS and CRM_AUDIENCE_API_MAX_WAIT. Requests that the platform
would count twice are not repeated after a network error mid-request (`idempotent=False`): the
push's journal decides what to do with them.
"""

import datetime as dt
import email.utils
import json
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import requests
from django.conf import settings
from django.utils import timezone

from ..credentials import mask
from ..exports.base import csv_line

logger = logging.getLogger(__name__)
sleep = time.sleep  # tests replace it to see the waits without waiting


class ApiError(Exception):
    def __init__(self, message, status=None, reasons=None):
        super().__init__(message)
        self.status, self.reasons = status, reasons or {}


class TransientApiError(ApiError):
    """Worth trying again later: the sync is recorded as failed and resumes at its next run."""


class RejectedError(ApiError):
    """The platform refused the request; its message (and reasons) say why."""


class NotSentError(TransientApiError):
    """The connection broke after the request may have reached the platform: whether it arrived is unknown."""


@dataclass
class Sent:
    """What the platform answered to one batch."""

    received: int
    rejected: int = 0
    reasons: dict = field(default_factory=dict)  # the platform's reason -> lines
    match_rate: float | None = None  # the audience's share of lines matched, where the platform reports it


@dataclass
class Batch:
    """One request's worth of rows of a file, and where it stands in its sequence (Meta's sessions use it)."""

    push_id: int
    kind: str  # add, remove
    file_key: str
    header: tuple[str, ...]
    cells: list[list[str]] | None  # the cells of each line, as the file export wrote them; None: from `text`
    seq: int  # 1-based, within this kind and file of the push
    total: int  # rows of this kind and file in the push
    last: bool
    size: int = 0  # the push's batch size: every batch but the last of a sequence holds that many rows
    text: str = ""  # the rows as the file holds them, CSV lines each ending with "\n" (the push gives it)
    prepared: bytes | None = None  # the request's body, when `AdApi.prepare` made it ahead

    @property
    def rows(self) -> list[list[str]]:
        """The cells of each line. Split from the text when first asked (the text of a batch that has
        no cells given holds no quote: its cells are between its commas): Meta and the platforms that
        take files send the text, and splitting a million lines into cells was most of the push's
        own time (bench/audience_sync.py)."""
        if self.cells is None:
            self.cells = [line.split(",") for line in self.text[:-1].split("\n")] if self.text else []
        return self.cells

    def __len__(self):
        return len(self.cells) if self.cells is not None else self.text.count("\n")


class AdApi(ABC):
    platform: ClassVar[str]  # the slug of audiences.exports.PLATFORMS
    label: ClassVar[str]
    base_url: ClassVar[str]
    batch_size: ClassVar[int]
    # The credentials (of access_token, refresh_token, client_id, client_secret) it cannot work without.
    required_secrets: ClassVar[tuple[str, ...]]
    creates_with_data: ClassVar[bool] = False
    # Whether adding the same lines twice leaves the platform as adding them once. Where it does not
    # (Yandex counts each line of each file), a batch whose answer was lost and that `received`
    # cannot place is not sent again: it is recorded as unknown.
    adds_repeatable: ClassVar[bool] = True
    # OAuth: the token endpoint, when access tokens expire and a refresh token renews them.
    token_url: ClassVar[str] = ""
    # Canned answers for --dry-run: the last part of a path -> JSON, so that a dry run goes through
    # steps that read an id from the previous answer.
    dry_answers: ClassVar[dict[str, object]] = {}

    def __init__(self, account, *, dry_run=None, attempts=None):
        self.account = account
        self.attempts = attempts or settings.CRM_AUDIENCE_API_ATTEMPTS
        self.secrets = account.credentials()
        self.url = settings.CRM_AUDIENCE_API_URLS.get(self.platform, self.base_url).rstrip("/")
        self.http = requests.Session() if dry_run is None else _DryRunSession(self, dry_run)
        self._refreshed = False

    # --- the steps of a platform ---------------------------------------------------------------

    @abstractmethod
    def check(self) -> str:
        """A harmless read; returns what it found, in a sentence."""

    @abstractmethod
    def find(self, name: str, file_key: str) -> str | None:
        """The id of the platform's audience called `name`, if there is one."""

    @abstractmethod
    def create(self, name: str, batch: Batch) -> tuple[str, Sent | None]:
        """A new audience called `name`: its id, and what the platform took of `batch` if it was
        made from it (`creates_with_data`), else None."""

    @abstractmethod
    def add(self, remote_id: str, batch: Batch) -> Sent: ...

    @abstractmethod
    def remove(self, remote_id: str, batch: Batch) -> Sent: ...

    def prepare(self, batch: Batch) -> None:
        """Encode what the batch's request will send, ahead of it (the push does it in a thread of its
        own while the previous request is out); by default the request encodes its body itself."""
        return None

    def received(self, remote_id: str, batch: Batch) -> bool | None:
        """Whether a batch whose answer was lost reached the platform; None: cannot tell, send again."""
        return None

    def auth_headers(self) -> dict:
        return {"Authorization": f"Bearer {self.secrets.get('access_token', '')}"}

    def error_message(self, response) -> tuple[str, dict]:
        """The platform's message (and reasons) from an error answer."""
        return response.text[:500], {}

    def status_of(self, response) -> int:
        """The answer's status: the HTTP one, unless the platform says it in the body (TikTok)."""
        return response.status_code

    def rate_limited(self, response) -> bool:
        """Whether an answer means "slow down" (429 everywhere; some platforms say it in the body)."""
        return self.status_of(response) == 429

    def wait_hint(self, response) -> float | None:
        """Seconds the platform asks us to wait before the next request, if it says."""
        return retry_after(response)

    # --- OAuth ----------------------------------------------------------------------------------

    def refresh(self) -> bool:
        """New access token from the refresh token (where the platform uses them); stored encrypted."""
        if not self.token_url or not self.secrets.get("refresh_token"):
            return False
        response = self.http.post(
            settings.CRM_AUDIENCE_API_URLS.get(f"{self.platform}_oauth", self.token_url),
            data={"grant_type": "refresh_token", "refresh_token": self.secrets["refresh_token"],
                  "client_id": self.secrets.get("client_id", ""),
                  "client_secret": self.secrets.get("client_secret", "")},
            timeout=settings.CRM_AUDIENCE_API_TIMEOUT)
        if response.status_code != 200:
            message, _ = self.error_message(response)
            raise RejectedError(f"the refresh token was refused ({response.status_code}): {message}",
                                response.status_code)
        answer = response.json()
        self.secrets["access_token"] = answer["access_token"]
        if answer.get("refresh_token"):  # some platforms rotate it
            self.secrets["refresh_token"] = answer["refresh_token"]
        account = self.account
        account.set_credentials(self.secrets)
        if answer.get("expires_in"):
            account.token_expires_at = timezone.now() + dt.timedelta(seconds=int(answer["expires_in"]))
        if account.pk:
            type(account).objects.filter(pk=account.pk).update(secrets=account.secrets,
                                                               token_expires_at=account.token_expires_at)
        logger.info("%s: access token of account %s renewed", self.platform, account.pk)
        return True

    # --- one HTTP path --------------------------------------------------------------------------

    def call(self, method, path, *, idempotent=True, headers=None, **kwargs):
        """The answer's JSON; retries as the module docstring says; raises ApiError otherwise.
        `headers` go with the auth header."""
        url = path if path.startswith("http") else f"{self.url}/{path.lstrip('/')}"
        # What logs and errors name: never a query string (Meta's paging links carry the token).
        path = path.split("?")[0].removeprefix(self.url)
        attempts, max_wait = self.attempts, settings.CRM_AUDIENCE_API_MAX_WAIT
        for attempt in range(1, attempts + 1):
            backoff = settings.CRM_AUDIENCE_API_BACKOFF * 2 ** (attempt - 1)
            try:
                response = self.http.request(method, url, headers={**self.auth_headers(), **(headers or {})},
                                             timeout=settings.CRM_AUDIENCE_API_TIMEOUT, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                sent_maybe = not isinstance(exc, requests.ConnectTimeout) and "NewConnectionError" not in str(exc)
                if sent_maybe and not idempotent:
                    raise NotSentError(f"{method} {path}: the connection broke ({type(exc).__name__}); whether "
                                       f"the platform got the request is unknown") from exc
                if attempt == attempts:
                    raise TransientApiError(f"{method} {path}: {type(exc).__name__} after {attempt} attempts") from exc
                logger.warning("%s %s: %s, trying again in %.0f s", method, path, type(exc).__name__, backoff)
                sleep(min(backoff, max_wait))
                continue
            status = self.status_of(response)
            if status == 401 and not self._refreshed and self.token_url:
                self._refreshed = True
                if self.refresh():
                    continue
            limited = self.rate_limited(response)
            if limited or status >= 500:
                wait = self.wait_hint(response) if limited else None
                wait = backoff if wait is None else wait
                message, reasons = self.error_message(response)
                if attempt == attempts or wait > max_wait:
                    raise TransientApiError(f"{method} {path}: {status} {message}", status, reasons)
                logger.warning("%s %s: %s, trying again in %.0f s", method, path, status, wait)
                sleep(wait)
                continue
            if status >= 400:
                message, reasons = self.error_message(response)
                raise RejectedError(f"{method} {path}: {status} {message}", status, reasons)
            return response.json() if response.content else {}
        raise AssertionError("unreachable")  # pragma: no cover


def file_content(batch: Batch) -> bytes:
    """The batch as a CSV file of its own, as the platforms that take files get it: the header, then
    the batch's lines as the export wrote them."""
    return (csv_line(batch.header) + (batch.text or "".join(map(csv_line, batch.rows)))).encode()


def retry_after(response) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date), or None."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


class _DryRunSession:
    """Stands in for requests.Session in a dry run: prints each request (credentials masked) and
    answers with the platform's canned answer, so nothing leaves the machine."""

    def __init__(self, api, out):
        self.api, self.out = api, out

    def request(self, method, url, headers=None, timeout=None, **kwargs):
        shown = {key: (f"{value.split(' ')[0]} {mask(value)}" if key.lower() == "authorization" else value)
                 for key, value in (headers or {}).items()}
        self.out.write(f"{method} {url}\n")
        if shown:
            self.out.write(f"  headers: {json.dumps(shown, ensure_ascii=False)}\n")
        for name in ("params", "json", "data"):
            if kwargs.get(name):
                self.out.write(f"  {name}: {_summary(kwargs[name])}\n")
        for name, (filename, content, *_) in (kwargs.get("files") or {}).items():
            lines = content.decode() if isinstance(content, bytes) else content
            self.out.write(f"  file {name}={filename}: {lines.count(chr(10))} lines\n")
        answer = next((value for suffix, value in self.api.dry_answers.items() if url.split("?")[0].endswith(suffix)),
                      {})
        return _DryResponse(answer)

    def post(self, url, **kwargs):
        return self.request("POST", url, **kwargs)


class _DryResponse:
    status_code = 200
    headers: ClassVar[dict] = {}

    def __init__(self, answer):
        self._answer = answer
        self.content = json.dumps(answer).encode()

    def json(self):
        return self._answer


def _summary(value, limit=300):
    """A request body for the dry run: long lists cut to their length and first items."""
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"
