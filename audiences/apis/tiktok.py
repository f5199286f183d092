"""TikTok Business API (Marketing API v1.3): Customer File audiences.

- files: POST /dmp/custom_audience/file/upload/ (multipart: advertiser_id, calculate_type, file,
  file_signature = the file's MD5, TikTok's integrity check of the upload) -> data.file_path;
- audience: POST /dmp/custom_audience/create/ {"advertiser_id", "custom_audience_name",
  "calculate_type", "file_paths"}: made from its first file; found again by name through GET
  /dmp/custom_audience/list/;
- members: POST /dmp/custom_audience/update/ {"custom_audience_id", "action": "APPEND" | "REMOVE",
  "file_paths"}. APPEND adds only what the audience does not hold, REMOVE only what it holds: both are
  safe to repeat. An update fails if it would leave fewer than 1,000 people (the platform's minimum);
- every answer is HTTP 200 with {"code", "message", "request_id", "data"}: code 0 is success, 40100
  is the rate limit, 40105 an invalid token.

The file is the export's TikTok file (Email_SHA256, Phone_SHA256), uploaded with calculate_type
MULTIPLE_TYPES (*decision*: one file with both columns, as TikTok's Ads Manager takes them). Auth:
a long-lived access token in the Access-Token header. Batches of 100,000 lines (*decision*: well
under the upload size limit). https://business-api.tiktok.com/portal/docs?id=1739940572667906
"""

import hashlib

from .base import AdApi, Sent, file_content

CALCULATE_TYPE = "MULTIPLE_TYPES"
RATE_LIMITED, INVALID_TOKEN = 40100, {40104, 40105}


class TikTokApi(AdApi):
    platform = "tiktok"
    label = "TikTok Business API"
    base_url = "https://business-api.tiktok.com/open_api/v1.3"
    batch_size = 100_000
    creates_with_data = True
    required_secrets = ("access_token",)
    dry_answers = {"/file/upload/": {"code": 0, "data": {"file_path": "DRY-RUN"}},
                   "/create/": {"code": 0, "data": {"custom_audience_id": "DRY-RUN"}},
                   "/list/": {"code": 0, "data": {"list": [], "page_info": {"total_page": 1}}}}

    @property
    def advertiser(self):
        return self.account.account_id.strip()

    def auth_headers(self):
        return {"Access-Token": self.secrets.get("access_token", "")}

    def check(self):
        answer = self.call("GET", "dmp/custom_audience/list/",
                           params={"advertiser_id": self.advertiser, "page": 1, "page_size": 1})
        total = answer["data"].get("page_info", {}).get("total_number", 0)
        return f"advertiser {self.advertiser}: {total} custom audiences"

    def find(self, name, file_key):
        page = 1
        while True:
            data = self.call("GET", "dmp/custom_audience/list/",
                             params={"advertiser_id": self.advertiser, "page": page, "page_size": 100})["data"]
            for audience in data.get("list", []):
                if audience.get("name") == name:
                    return str(audience["custom_audience_id"])
            if page >= data.get("page_info", {}).get("total_page", 1):
                return None
            page += 1

    def create(self, name, batch):
        path = self._upload(batch)
        answer = self.call("POST", "dmp/custom_audience/create/", idempotent=False, json={
            "advertiser_id": self.advertiser, "custom_audience_name": name, "calculate_type": CALCULATE_TYPE,
            "file_paths": [path]})
        return str(answer["data"]["custom_audience_id"]), Sent(received=len(batch))

    def add(self, remote_id, batch):
        return self._update(remote_id, batch, "APPEND")

    def remove(self, remote_id, batch):
        return self._update(remote_id, batch, "REMOVE")

    def _update(self, remote_id, batch, action):
        path = self._upload(batch)
        self.call("POST", "dmp/custom_audience/update/", json={
            "advertiser_id": self.advertiser, "custom_audience_id": remote_id, "action": action,
            "file_paths": [path]})
        return Sent(received=len(batch))

    def _upload(self, batch):
        content = file_content(batch)
        answer = self.call("POST", "dmp/custom_audience/file/upload/", data={
            "advertiser_id": self.advertiser, "calculate_type": CALCULATE_TYPE,
            "file_signature": hashlib.md5(content, usedforsecurity=False).hexdigest()},
            files={"file": ("audience.csv", content, "text/csv")})
        return answer["data"]["file_path"]

    def status_of(self, response):
        if response.status_code != 200:
            return response.status_code
        try:
            code = int(response.json().get("code", 0))
        except (ValueError, AttributeError):
            return response.status_code
        if code == 0:
            return 200
        if code == RATE_LIMITED:
            return 429
        if code in INVALID_TOKEN:
            return 401
        return 500 if code >= 50000 else 400

    def error_message(self, response):
        try:
            answer = response.json()
            return f"{answer.get('message')} (code {answer.get('code')})", {}
        except ValueError:
            return response.text[:500], {}
