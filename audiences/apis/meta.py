"""Meta Marketing API: Customer File Custom Audiences.

- audience: POST /act_{ad account}/customaudiences (subtype CUSTOM, customer_file_source
  USER_PROVIDED_ONLY); found again by name through GET /act_{ad account}/customaudiences;
- members: POST (add) and DELETE (remove) /{audience id}/users, at most 10,000 rows a request, as
  `payload` {"schema": [...], "data": [[...], ...]} (in a JSON body): the multi-key schema (EMAIL, PHONE, FN, LN, CT,
  ZIP, COUNTRY, DOBY, GEN hashed, EXTERN_ID plain) in the file's column order;
- a push's adds (and its removes) are one upload session: {"session_id", "batch_seq" from 1,
  "last_batch_flag", "estimated_num_total"}. A batch whose answer was lost is looked up in the
  session (GET /{audience id}/sessions: num_received) before it is sent again; after the last
  addition the session's num_matched / num_received is the push's match rate
  (https://developers.facebook.com/docs/marketing-api/reference/custom-audience-session);
- errors: {"error": {"message", "type", "code", "error_subcode", "error_user_msg", "fbtrace_id"}};
  rate limits come as codes 4, 17, 32, 613 and 80003 (HTTP 400), with the time to wait, when given,
  in the X-Business-Use-Case-Usage header's estimated_time_to_regain_access (minutes).

Auth: a system user's long-lived access token (Meta has no refresh token for it), sent as a Bearer
header. https://developers.facebook.com/docs/marketing-api/reference/custom-audience/users
"""

import json

from .base import AdApi, ApiError, Batch, Sent

RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80003})
# The bytes a JSON string holds as they are (all but a quote, a backslash and the control characters),
# and the line end. A batch's text of these only (so without CSV quoting) is its rows' cells between
# commas, a row a line.
_JSON_PLAIN = bytes(byte for byte in range(256) if (byte >= 0x20 and byte not in b'"\\') or byte == 0x0A)


class MetaApi(AdApi):
    platform = "meta"
    label = "Meta Marketing API"
    base_url = "https://graph.facebook.com/v25.0"
    batch_size = 10_000
    required_secrets = ("access_token",)
    dry_answers = {"/customaudiences": {"id": "DRY-RUN", "data": []}, "/users": {"num_received": 0}}

    @property
    def ad_account(self):
        account = self.account.account_id.strip()
        return account if account.startswith("act_") else f"act_{account}"

    def check(self):
        answer = self.call("GET", self.ad_account, params={"fields": "name,account_status"})
        audiences = self.call("GET", f"{self.ad_account}/customaudiences", params={"fields": "id,name", "limit": 100})
        return (f"ad account {answer.get('name', self.ad_account)!r} (status {answer.get('account_status')}), "
                f"{len(audiences.get('data', []))} custom audiences on the first page")

    def find(self, name, file_key):
        path, params = f"{self.ad_account}/customaudiences", {"fields": "id,name", "limit": 100}
        while path:
            answer = self.call("GET", path, params=params)
            for audience in answer.get("data", []):
                if audience.get("name") == name:
                    return str(audience["id"])
            path, params = answer.get("paging", {}).get("next"), None
        return None

    def create(self, name, batch):
        answer = self.call("POST", f"{self.ad_account}/customaudiences", data={
            "name": name, "subtype": "CUSTOM", "customer_file_source": "USER_PROVIDED_ONLY",
            "description": "Kept in step by the retention CRM"})
        return str(answer["id"]), None

    def add(self, remote_id, batch):
        return self._users("POST", remote_id, batch)

    def remove(self, remote_id, batch):
        return self._users("DELETE", remote_id, batch)

    def received(self, remote_id, batch):
        """Whether the session's num_received already counts this batch's rows."""
        answer = self.call("GET", f"{remote_id}/sessions", params={"session_id": _session_id(batch)})
        sessions = answer.get("data", [])
        if not sessions:
            return False
        # Batches go in order and each waits for the previous one's answer, so the session holds
        # (seq - 1) full batches before this one, then this one's rows if it arrived.
        before = (batch.seq - 1) * batch.size
        return int(sessions[0].get("num_received", 0)) >= before + len(batch)

    def prepare(self, batch):
        batch.prepared = _users_body(batch)

    def _users(self, method, remote_id, batch: Batch):
        # Sent again after a lost answer, a batch would be received twice in its session: not repeated here.
        # A JSON body (Graph takes one as well as form fields): a form would percent-encode megabytes.
        answer = self.call(method, f"{remote_id}/users", idempotent=False, data=batch.prepared or _users_body(batch),
                           headers={"Content-Type": "application/json"})
        invalid = int(answer.get("num_invalid_entries", 0))
        reasons = {}
        if invalid:
            samples = answer.get("invalid_entry_samples") or {}
            reasons = {f"invalid entry ({reason})": 1 for reason in list(samples.values())[:5]} or {
                "invalid entry": invalid}
        return Sent(received=int(answer.get("num_received", len(batch))), rejected=invalid, reasons=reasons,
                    match_rate=self._session_match_rate(remote_id, batch) if batch.last and method == "POST" else None)

    def _session_match_rate(self, remote_id, batch):
        """The additions' upload session's num_matched / num_received, read once after its last batch.
        Meta matches as it goes, so this is the share matched by the time the upload ended; None if
        the session cannot be read (the batch went through: a figure is not worth failing it for)."""
        try:
            answer = self.call("GET", f"{remote_id}/sessions", params={"session_id": _session_id(batch)})
        except ApiError:
            return None
        for session in answer.get("data", []):
            received = int(session.get("num_received") or 0)
            if received and session.get("num_matched") is not None:
                return int(session["num_matched"]) / received
        return None

    def error_message(self, response):
        try:
            error = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            return response.text[:500], {}
        message = error.get("error_user_msg") or error.get("message", "")
        return f"{message} (code {error.get('code')}, subcode {error.get('error_subcode')})", {}

    def wait_hint(self, response):
        try:
            usage = json.loads(response.headers.get("X-Business-Use-Case-Usage", "{}"))
            minutes = max(entry.get("estimated_time_to_regain_access", 0)
                          for entries in usage.values() for entry in entries)
        except (ValueError, TypeError, AttributeError):
            minutes = 0
        return minutes * 60 if minutes else super().wait_hint(response)

    def rate_limited(self, response):
        if response.status_code == 429:
            return True
        try:
            return response.json()["error"]["code"] in RATE_LIMIT_CODES
        except (ValueError, KeyError, TypeError):
            return False


def _users_body(batch):
    """The JSON body of /{id}/users: {"payload": {"schema", "data"}, "session"}, as bytes.

    Its data from the batch's text where no cell needs escaping (digests, digits, plain ids): the
    text's commas and line ends become the JSON's separators, a string operation over the batch
    instead of encoding its hundred thousand cells one by one (bench/audience_sync.py). Else json.
    """
    schema = [column.upper() for column in batch.header]
    session = {"session_id": _session_id(batch), "batch_seq": batch.seq, "last_batch_flag": batch.last,
               "estimated_num_total": batch.total}
    text = batch.text.encode()
    if text and not text.translate(None, _JSON_PLAIN):
        data = [b'[["', text[:-1].replace(b",", b'","').replace(b"\n", b'"],["'), b'"]]']
    else:
        data = [json.dumps(batch.rows).encode()]
    return b"".join([b'{"payload": {"schema": ', json.dumps(schema).encode(), b', "data": ', *data,
                     b'}, "session": ', json.dumps(session).encode(), b"}"])


def _session_id(batch):
    """A number of our own per (push, kind, file): Meta keys the upload session by it."""
    return batch.push_id * 4 + (1 if batch.kind == "add" else 2)
