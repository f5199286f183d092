"""VK Ads API: remarketing users lists (a list per file of the export: emails, phones).

- audience: POST /api/v3/remarketing/users_lists.json (multipart: `file`, `name`, `type` "emails" or
  "phones"): a list is made from its first file; found again by name through GET
  /api/v3/remarketing/users_lists.json (limit, offset);
- members: the same POST with `base` = the list's id adds the file's lines to that list, `base` =
  minus the id subtracts them (*decision*: as the audiences spec records; the public documentation
  of this route is thin);
- errors: {"error": {"code", "message"}}; 429 when over the rate limit.

Lines are plain, not hashed (the audiences spec's decision: VK hashes plain uploads itself). Whether
VK counts a line sent twice twice is not documented: an addition whose answer was lost is not sent
again (`adds_repeatable`). Auth: an access token from the client credentials, renewed with the
refresh token at /api/v2/oauth2/token.json (VK Ads allows few live tokens per client, so they are
renewed, not requested anew). Batches of 100,000 lines (*decision*: files stay far below VK's 20 MB,
https://vk.ru/faq12114). No reference page of this API could be checked: the routes follow the spec.
"""


from .base import AdApi, Sent, file_content

LIST_TYPES = {"emails": "emails", "phones": "phones"}


class VKApi(AdApi):
    platform = "vk"
    label = "VK Ads API"
    base_url = "https://ads.vk.com/api"
    token_url = "https://ads.vk.com/api/v2/oauth2/token.json"
    batch_size = 100_000
    creates_with_data = True
    adds_repeatable = False
    required_secrets = ("client_id", "client_secret", "refresh_token")
    dry_answers = {"users_lists.json": {"id": 0, "count": 0, "items": []}}

    def check(self):
        answer = self.call("GET", "v3/remarketing/users_lists.json", params={"limit": 1})
        return f"{answer.get('count', 0)} remarketing users lists"

    def find(self, name, file_key):
        offset = 0
        while True:
            answer = self.call("GET", "v3/remarketing/users_lists.json", params={"limit": 50, "offset": offset})
            items = answer.get("items", [])
            for item in items:
                if item.get("name") == name:
                    return str(item["id"])
            offset += len(items)
            if not items or offset >= answer.get("count", 0):
                return None

    def create(self, name, batch):
        answer = self._post(batch, {"name": name, "type": LIST_TYPES[batch.file_key]}, idempotent=False)
        return str(answer["id"]), Sent(received=len(batch))

    def add(self, remote_id, batch):
        self._post(batch, {"name": f"+{remote_id}", "type": LIST_TYPES[batch.file_key], "base": remote_id},
                   idempotent=False)
        return Sent(received=len(batch))

    def remove(self, remote_id, batch):
        self._post(batch, {"name": f"-{remote_id}", "type": LIST_TYPES[batch.file_key], "base": f"-{remote_id}"})
        return Sent(received=len(batch))

    def _post(self, batch, fields, idempotent=True):
        return self.call("POST", "v3/remarketing/users_lists.json", idempotent=idempotent, data=fields,
                         files={"file": (f"{batch.file_key}.csv", file_content(batch), "text/csv")})

    def error_message(self, response):
        try:
            error = response.json()["error"]
            return f"{error.get('message')} ({error.get('code')})", {}
        except (ValueError, KeyError, TypeError):
            return response.text[:500], {}
