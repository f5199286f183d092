"""VK Ads API, as far as audience syncs use it: remarketing users lists and the OAuth token endpoint.

Checks what VK Ads checks: the Bearer token (401 otherwise, renewed with the refresh token), a
multipart `file` with its `name` and `type` (emails or phones), the file's lines (plain, normalised:
a lower-case address with `@`; digits only, 11 to 15 of them), and for `base` an existing list of the
same type (`-id` subtracts), files of at most 20 MB. Errors in its shape: {"error": {"code", "message"}}.
"""

import csv
import io
import itertools
import re

from .base import ApiFault, FakePlatform

MAX_FILE = 20 * 1024 * 1024  # https://vk.ru/faq12114
VALID = {"emails": re.compile(r"[^@\sA-Z]+@[^@\sA-Z]+").fullmatch, "phones": re.compile(r"[0-9]{11,15}").fullmatch}


class FakeVK(FakePlatform):
    routes = [
        ("GET", r"/api/v3/remarketing/users_lists.json", "list_lists"),
        ("POST", r"/api/v3/remarketing/users_lists.json", "upload"),
        ("POST", r"/api/v2/oauth2/token.json", "oauth_token"),
    ]

    def __init__(self):
        super().__init__()
        self.access_token, self.refresh_token = "", "vk-refresh"
        self.lists = {}  # id -> {"name", "type", "members": set}
        self._ids = itertools.count(501)
        self._tokens = itertools.count(1)

    @property
    def api_url(self):
        return f"{self.url}/api"

    def error_body(self, status, message, code="invalid_request"):
        return {"error": {"code": code, "message": message}}

    def fail(self, message, status=400, code="invalid_request"):
        raise ApiFault(status, self.error_body(status, message, code))

    def authenticate(self, request):
        if request.path.endswith("/oauth2/token.json"):
            return
        if not self.access_token or request.headers.get("authorization") != f"Bearer {self.access_token}":
            self.fail("Invalid or expired access token", status=401, code="invalid_token")

    def oauth_token(self, request):
        form = request.form
        if (form.get("grant_type"), form.get("refresh_token")) != ("refresh_token", self.refresh_token) or not (
                form.get("client_id") and form.get("client_secret")):
            self.fail("Invalid refresh token", code="invalid_grant")
        self.access_token = f"vk-token-{next(self._tokens)}"
        return {"access_token": self.access_token, "token_type": "Bearer", "expires_in": 86400,
                "refresh_token": self.refresh_token, "tokens_left": 4}

    def list_lists(self, request):
        limit, offset = int(request.query.get("limit", 20)), int(request.query.get("offset", 0))
        items = [{"id": key, "name": value["name"], "type": value["type"]} for key, value in sorted(self.lists.items())]
        return {"count": len(items), "offset": offset, "items": items[offset:offset + limit]}

    def upload(self, request):
        fields = {key: value.decode() for key, value in request.files.items() if key != "file"}
        kind = fields.get("type")
        if kind not in VALID:
            self.fail(f"type must be one of {', '.join(VALID)}")
        if not fields.get("name"):
            self.fail("name is required")
        content = request.files.get("file") or b""
        if len(content) > MAX_FILE:
            self.fail("the file must not exceed 20 MB", status=413, code="file_too_large")
        rows = list(csv.reader(io.StringIO(content.decode("utf-8"))))
        if not rows or rows[0] != ["id"]:
            self.fail("the file must start with the header id", code="invalid_file")
        values = set()
        for number, row in enumerate(rows[1:], 2):
            if len(row) != 1 or not VALID[kind](row[0]):
                self.fail(f"line {number}: not a normalised value of type {kind}", code="invalid_file")
            values.add((row[0],))
        base = fields.get("base")
        if base is None:
            list_id = next(self._ids)
            self.lists[list_id] = {"name": fields["name"], "type": kind, "members": values}
        else:
            list_id = abs(int(base))
            target = self.lists.get(list_id)
            if target is None or target["type"] != kind:
                self.fail(f"base {base}: no users list of type {kind}", status=404, code="not_found")
            if int(base) > 0:
                target["members"] |= values
            else:
                target["members"] -= values
        return {"id": list_id, "name": self.lists[list_id]["name"], "type": kind, "status": "loading"}

    def members(self, list_id):
        return set(self.lists[int(list_id)]["members"])
