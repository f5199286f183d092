"""Yandex Audience API, as far as audience syncs use it (/v1/management), and Yandex OAuth's token endpoint.

Checks what Yandex checks: `Authorization: OAuth <token>` (401 invalid_token otherwise), a multipart
`file` in CSV with a header of known CRM columns, at least 100 lines at confirm unless
check_size=false, `hashed` with `hashing_alg` SHA256 (MD5 is refused since January 2025) and every
phone and email then a SHA-256 hex digest, modify_data files with the columns of the first file.
Yandex keeps each line of each file: a file added twice counts twice (`item_quantity`).
Errors in its shape: {"errors": [{"error_type", "message"}], "code", "message"}.
"""

import collections
import csv
import io
import itertools

from .base import HEX64, ApiFault, FakePlatform, all_sha256_hex

COLUMNS = {"external_id", "phone", "email"}
HASHED = {"phone", "email"}


class FakeYandex(FakePlatform):
    routes = [
        ("GET", r"/v1/management/segments", "list_segments"),
        ("POST", r"/v1/management/segments/upload_csv_file", "upload"),
        ("POST", r"/v1/management/segment/(\d+)/confirm", "confirm"),
        ("POST", r"/v1/management/segment/(\d+)/modify_data", "modify"),
        ("POST", r"/token", "oauth_token"),
    ]

    def __init__(self, token="ya-token", refresh_token="ya-refresh"):
        super().__init__()
        self.token, self.refresh_token = token, refresh_token
        self.segments = {}  # id -> {"name", "status", "header", "lines": Counter, "confirmed"}
        self._ids = itertools.count(4001)
        self._tokens = itertools.count(2)

    @property
    def api_url(self):
        return f"{self.url}/v1/management"

    def error_body(self, status, message, error_type="invalid_parameter"):
        return {"errors": [{"error_type": error_type, "message": message}], "code": status, "message": message}

    def fail(self, message, status=400, error_type="invalid_parameter"):
        raise ApiFault(status, self.error_body(status, message, error_type))

    def authenticate(self, request):
        if request.path == "/token":
            return
        if request.headers.get("authorization") != f"OAuth {self.token}":
            self.fail("Invalid oauth_token", status=401, error_type="invalid_token")

    def oauth_token(self, request):
        form = request.form
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != self.refresh_token:
            raise ApiFault(400, {"error": "invalid_grant", "error_description": "Invalid refresh token"})
        if not form.get("client_id") or not form.get("client_secret"):
            raise ApiFault(400, {"error": "invalid_client", "error_description": "Client not found"})
        self.token = f"ya-token-{next(self._tokens)}"
        return {"token_type": "bearer", "access_token": self.token, "expires_in": 31536000,
                "refresh_token": self.refresh_token}

    def _segment(self, segment_id):
        segment = self.segments.get(int(segment_id))
        if segment is None:
            self.fail(f"Segment {segment_id} not found", status=404, error_type="not_found")
        return segment

    def _read(self, request):
        if "file" not in request.files:
            self.fail("Missing file")
        rows = list(csv.reader(io.StringIO(request.files["file"].decode("utf-8"))))
        if not rows or not set(rows[0]) <= COLUMNS or not set(rows[0]) & HASHED:
            self.fail(f"Invalid file header: {rows[0] if rows else ''}")
        return tuple(rows[0]), [tuple(row) for row in rows[1:]]

    def list_segments(self, request):
        return {"segments": [{"id": key, "name": value["name"], "status": value["status"], "type": "uploading",
                              "item_quantity": sum(value["lines"].values())}
                             for key, value in self.segments.items() if value["confirmed"]]}

    def upload(self, request):
        header, rows = self._read(request)
        segment_id = next(self._ids)
        self.segments[segment_id] = {"name": "", "status": "uploaded", "header": header,
                                     "lines": collections.Counter(rows), "confirmed": False}
        return {"segment": {"id": segment_id, "type": "uploading", "status": "uploaded", "hashed": False,
                            "item_quantity": len(rows)}}

    def _check_hashed(self, segment, rows):
        header = segment["header"]
        if set(map(len, rows)) <= {len(header)} and all(
                column not in HASHED or all_sha256_hex(values) for column, values in zip(header, zip(*rows))):
            return
        for number, row in enumerate(rows, 2):  # to name the first line at fault
            for column, value in zip(segment["header"], row, strict=True):
                if column in HASHED and value and not HEX64(value):
                    self.fail(f"Line {number}: {column} is not a SHA256 hash")

    def confirm(self, request, segment_id):
        segment = self._segment(segment_id)
        body = request.json().get("segment") or {}
        if int(body.get("id", -1)) != int(segment_id) or not body.get("name"):
            self.fail("segment.id and segment.name are required")
        if body.get("content_type") != "crm":
            self.fail("content_type must be one of idfa_gaid, mac, crm")
        if not body.get("hashed"):
            self.fail("This file holds hashed values: set hashed and hashing_alg")
        if body.get("hashing_alg") != "SHA256":
            self.fail("hashing_alg: MD5 is no longer accepted for new uploads; use SHA256")
        self._check_hashed(segment, segment["lines"])
        if sum(segment["lines"].values()) < 100 and request.query.get("check_size") != "false":
            self.fail("Segment must contain at least 100 records", error_type="too_small")
        segment.update(name=body["name"], confirmed=True, status="is_processed")
        return {"segment": self._view(int(segment_id))}

    def modify(self, request, segment_id):
        segment = self._segment(segment_id)
        kind = request.query.get("modification_type")
        if kind not in ("addition", "subtraction", "replace"):
            self.fail("modification_type must be one of addition, subtraction, replace")
        header, rows = self._read(request)
        if header != segment["header"]:
            self.fail(f"The file must have the columns of the segment's first file: {','.join(segment['header'])}")
        self._check_hashed(segment, rows)
        if kind == "addition":
            segment["lines"].update(rows)  # each line of each file counts
        elif kind == "subtraction":
            for row in rows:
                segment["lines"].pop(row, None)
        else:
            segment["lines"] = collections.Counter(rows)
        return {"segment": self._view(int(segment_id))}

    def _view(self, segment_id):
        segment = self.segments[segment_id]
        items = sum(segment["lines"].values())
        return {"id": segment_id, "name": segment["name"], "status": segment["status"], "type": "uploading",
                "content_type": "crm", "hashed": True, "item_quantity": items, "matched_quantity": items * 3 // 4}

    def members(self, segment_id):
        return set(self.segments[int(segment_id)]["lines"])

    def item_quantity(self, segment_id):
        return sum(self.segments[int(segment_id)]["lines"].values())
