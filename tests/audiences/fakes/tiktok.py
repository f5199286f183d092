"""TikTok Business API (v1.3), as far as audience syncs use it.

Checks what TikTok checks: the Access-Token header, the upload's file_signature (MD5 of the file),
calculate_type and the file's columns with SHA-256 hex cells, the audience's name (at most 128
characters) and that the files exist and share its calculate_type, the update's action, and that no
update leaves fewer than 1,000 people. Every answer is HTTP 200 with {"code", "message",
"request_id", "data"}: code 0 success, 40001 bad parameter, 40002 a refused operation, 40100 the
rate limit, 40105 a bad token.
"""

import csv
import hashlib
import io
import itertools

from .base import HEX64, ApiFault, FakePlatform, all_sha256_hex

PREFIX = "/open_api/v1.3/dmp/custom_audience"
COLUMNS = {"MULTIPLE_TYPES": ("Email_SHA256", "Phone_SHA256"), "EMAIL_SHA256": ("Email_SHA256",),
           "PHONE_SHA256": ("Phone_SHA256",)}
MINIMUM = 1000


class FakeTikTok(FakePlatform):
    routes = [
        ("POST", rf"{PREFIX}/file/upload/", "upload"),
        ("POST", rf"{PREFIX}/create/", "create"),
        ("POST", rf"{PREFIX}/update/", "update"),
        ("GET", rf"{PREFIX}/list/", "list_audiences"),
    ]

    def __init__(self, token="tt-token", advertiser="7000000000000000001"):
        super().__init__()
        self.token, self.advertiser = token, advertiser
        self.files = {}  # file_path -> (calculate_type, set of rows)
        self.audiences = {}  # id -> {"name", "calculate_type", "members": set}
        self._ids = itertools.count(1800000000000001)

    @property
    def api_url(self):
        return f"{self.url}/open_api/v1.3"

    def error_body(self, status, message, code=40001):
        return {"code": code, "message": message, "request_id": "2026120700000000", "data": {}}

    def fail(self, message, code=40001):
        raise ApiFault(200, self.error_body(200, message, code))

    def ok(self, data):
        return {"code": 0, "message": "OK", "request_id": "2026120700000001", "data": data}

    def authenticate(self, request):
        if request.headers.get("access-token") != self.token:
            self.fail("Access token is incorrect or has been revoked.", code=40105)

    def _advertiser(self, value):
        if value != self.advertiser:
            self.fail(f"advertiser_id {value} has no permission", code=40002)

    def upload(self, request):
        fields = {key: value for key, value in request.files.items() if key != "file"}
        self._advertiser(fields.get("advertiser_id", b"").decode())
        kind = fields.get("calculate_type", b"").decode()
        if kind not in COLUMNS:
            self.fail(f"calculate_type {kind!r} is not a valid encryption type")
        content = request.files.get("file")
        if not content:
            self.fail("file is required")
        if fields.get("file_signature", b"").decode() != hashlib.md5(content, usedforsecurity=False).hexdigest():
            self.fail("file_signature does not match the file", code=40002)
        rows = list(csv.reader(io.StringIO(content.decode("utf-8"))))
        if not rows or tuple(rows[0]) != COLUMNS[kind]:
            self.fail(f"The file's header must be {','.join(COLUMNS[kind])} for {kind}")
        data = rows[1:]
        if not (set(map(len, data)) <= {len(rows[0])} and all(map(any, data))
                and all(map(all_sha256_hex, zip(*data)))):
            for number, row in enumerate(data, 2):  # to name the first line at fault
                if len(row) != len(rows[0]) or any(cell and not HEX64(cell) for cell in row) or not any(row):
                    self.fail(f"line {number} is not SHA256-encrypted data of the type", code=40002)
        path = f"tt/{len(self.files) + 1}.csv"
        self.files[path] = (kind, {tuple(row) for row in rows[1:]})
        return self.ok({"file_path": path, "size": len(content)})

    def _files(self, paths, kind):
        if not paths or any(path not in self.files for path in paths):
            self.fail("file_paths: some files do not exist or have expired")
        if any(self.files[path][0] != kind for path in paths):
            self.fail("calculate_type must be the same for the audience and all of its files", code=40002)
        return set().union(*(self.files[path][1] for path in paths))

    def create(self, request):
        body = request.json()
        self._advertiser(body.get("advertiser_id"))
        name = body.get("custom_audience_name") or ""
        if not name or len(name) > 128:
            self.fail("custom_audience_name is required, at most 128 characters")
        rows = self._files(body.get("file_paths"), body.get("calculate_type"))
        audience_id = str(next(self._ids))
        self.audiences[audience_id] = {"name": name, "calculate_type": body["calculate_type"], "members": rows}
        return self.ok({"custom_audience_id": audience_id})

    def update(self, request):
        body = request.json()
        self._advertiser(body.get("advertiser_id"))
        audience = self.audiences.get(body.get("custom_audience_id"))
        if audience is None:
            self.fail("custom_audience_id does not exist", code=40002)
        action = body.get("action", "REPLACE")
        if action not in ("APPEND", "REMOVE", "REPLACE"):
            self.fail("action must be APPEND, REMOVE or REPLACE")
        rows = self._files(body.get("file_paths"), audience["calculate_type"])
        after = {"APPEND": audience["members"] | rows, "REMOVE": audience["members"] - rows, "REPLACE": rows}[action]
        if len(after) < MINIMUM:
            self.fail(f"The audience size would be less than {MINIMUM} after this operation", code=40002)
        audience["members"] = after
        return self.ok({})

    def list_audiences(self, request):
        self._advertiser(request.query.get("advertiser_id"))
        page, size = int(request.query.get("page", 1)), int(request.query.get("page_size", 10))
        items = [{"custom_audience_id": key, "name": value["name"]} for key, value in sorted(self.audiences.items())]
        total_page = max(1, -(-len(items) // size))
        return self.ok({"list": items[(page - 1) * size:page * size],
                        "page_info": {"page": page, "page_size": size, "total_number": len(items),
                                      "total_page": total_page}})

    def members(self, audience_id):
        return set(self.audiences[audience_id]["members"])
