"""Yandex Audience API: segments from CRM data.

- audience: POST /v1/management/segments/upload_csv_file (multipart `file`: the CSV with its header),
  then POST /v1/management/segment/{id}/confirm {"segment": {"id", "name", "hashed": true,
  "hashing_alg": "SHA256", "content_type": "crm"}}: a segment is made from its first file.
  `check_size=false` lets a segment of fewer than 100 lines be saved (it cannot be used in Direct
  until it has 100, as the file exports flag). Found again by name in GET /v1/management/segments;
- members: POST /v1/management/segment/{id}/modify_data?modification_type=addition|subtraction, a
  file of the same columns as the first one;
- errors: {"errors": [{"error_type", "message"}], "code", "message"}; 429 when over the quota.

Yandex keeps each line of each file it is given, so a file sent twice counts twice: an addition whose
answer was lost is not sent again (`adds_repeatable`). Batches of 100,000 lines (*decision*: the
documentation gives a file size limit, not a line count; 100,000 of our lines are about 14 MB).
Auth: an OAuth token in `Authorization: OAuth <token>`, renewed with the refresh token at
oauth.yandex.ru. https://yandex.ru/dev/audience/en/ref/openapi/segments/modifyUploadingData
"""


from .base import AdApi, Sent, file_content


class YandexApi(AdApi):
    platform = "yandex"
    label = "Yandex Audience API"
    base_url = "https://api-audience.yandex.ru/v1/management"
    token_url = "https://oauth.yandex.ru/token"
    batch_size = 100_000
    creates_with_data = True
    adds_repeatable = False
    required_secrets = ("access_token",)
    dry_answers = {"/upload_csv_file": {"segment": {"id": 0}}, "/segments": {"segments": []}}

    def auth_headers(self):
        return {"Authorization": f"OAuth {self.secrets.get('access_token', '')}"}

    def check(self):
        segments = self.call("GET", "segments").get("segments", [])
        return f"{len(segments)} segments in Yandex Audience"

    def find(self, name, file_key):
        for segment in self.call("GET", "segments").get("segments", []):
            if segment.get("name") == name and segment.get("status") != "deleted":
                return str(segment["id"])
        return None

    def create(self, name, batch):
        uploaded = self.call("POST", "segments/upload_csv_file", idempotent=False, files=_file(batch))
        segment_id = uploaded["segment"]["id"]
        confirmed = self.call(
            "POST", f"segment/{segment_id}/confirm", params={"check_size": "false"},
            json={"segment": {"id": segment_id, "name": name, "hashed": True, "hashing_alg": "SHA256",
                              "content_type": "crm"}})
        return str(segment_id), _sent(batch, confirmed)

    def add(self, remote_id, batch):
        return self._modify(remote_id, batch, "addition")

    def remove(self, remote_id, batch):
        return self._modify(remote_id, batch, "subtraction")

    def _modify(self, remote_id, batch, kind):
        answer = self.call("POST", f"segment/{remote_id}/modify_data",
                           params={"modification_type": kind, "check_size": "false"},
                           idempotent=kind == "subtraction", files=_file(batch))
        return _sent(batch, answer)

    def error_message(self, response):
        try:
            answer = response.json()
        except ValueError:
            return response.text[:500], {}
        errors = answer.get("errors") or []
        reasons = {f"{error.get('error_type')}: {error.get('message')}": 1 for error in errors}
        return answer.get("message") or "; ".join(reasons) or response.text[:500], reasons


def _file(batch):
    return {"file": ("data.csv", file_content(batch), "text/csv")}


def _sent(batch, answer):
    segment = answer.get("segment") or {}
    matched, items = segment.get("matched_quantity"), segment.get("item_quantity")
    rate = int(matched) / int(items) if matched is not None and items else None
    return Sent(received=len(batch), match_rate=rate)
