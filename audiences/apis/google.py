"""Google Data Manager API: Customer Match audiences (the Google Ads API's OfflineUserDataJobService
takes no new adopters; Data Manager is the route Google points to).

- audience: POST /v1/accountTypes/GOOGLE_ADS/accounts/{customer}/userLists, a UserList with
  `ingestedUserListInfo` {"uploadKeyTypes": ["CONTACT_ID"], "contactIdInfo": {"dataSourceType":
  "DATA_SOURCE_TYPE_FIRST_PARTY"}}; found again by displayName through the same path's list;
- members: POST /v1/audienceMembers:ingest and /v1/audienceMembers:remove, at most 10,000 members a
  request, each {"userData": {"userIdentifiers": [{"emailAddress"}, {"phoneNumber"}, {"address":
  {"givenName", "familyName", "regionCode", "postalCode"}}]}} with `encoding` HEX (SHA-256, lowercase
  hex, the phone in E.164 with `+` before hashing, as the file export does), the destination
  {"operatingAccount": {"accountType": "GOOGLE_ADS", "accountId"}, "productDestinationId": list id},
  and, on ingest, the EEA consent {"adUserData", "adPersonalization"}: CONSENT_GRANTED, since only
  clients who gave ads consent are sent, and `termsOfService` (Customer Match terms accepted);
- errors: {"error": {"code", "message", "status", "details": [{"fieldViolations": [...]}]}}; 429
  RESOURCE_EXHAUSTED when over the quota.

Ingesting or removing the same member twice leaves the list as once. Auth: OAuth 2.0 with the
datamanager scope; the access token lasts an hour and is renewed with the refresh token.
https://developers.google.com/data-manager/api/devguides/audiences/send-audience-members
"""

from .base import AdApi, Sent

MEMBERSHIP_DAYS = 540  # Customer Match's longest; the nightly sync removes who left long before


class GoogleApi(AdApi):
    platform = "google"
    label = "Google Data Manager API"
    base_url = "https://datamanager.googleapis.com/v1"
    token_url = "https://oauth2.googleapis.com/token"
    batch_size = 10_000
    required_secrets = ("refresh_token", "client_id", "client_secret")
    dry_answers = {"/userLists": {"userLists": [], "id": "DRY-RUN"}, ":ingest": {"requestId": "DRY-RUN"}}

    @property
    def customer(self):
        return self.account.account_id.replace("-", "").strip()

    @property
    def lists_path(self):
        return f"accountTypes/GOOGLE_ADS/accounts/{self.customer}/userLists"

    def check(self):
        answer = self.call("GET", self.lists_path, params={"pageSize": 100})
        return f"Google Ads account {self.customer}: {len(answer.get('userLists', []))} user lists on the first page"

    def find(self, name, file_key):
        params = {"pageSize": 100}
        while True:
            answer = self.call("GET", self.lists_path, params=params)
            for user_list in answer.get("userLists", []):
                if user_list.get("displayName") == name:
                    return str(user_list["id"])
            if not answer.get("nextPageToken"):
                return None
            params = {"pageSize": 100, "pageToken": answer["nextPageToken"]}

    def create(self, name, batch):
        answer = self.call("POST", self.lists_path, json={
            "displayName": name, "description": "Kept in step by the retention CRM",
            "membershipDuration": f"{MEMBERSHIP_DAYS * 86400}s",
            "ingestedUserListInfo": {"uploadKeyTypes": ["CONTACT_ID"],
                                     "contactIdInfo": {"dataSourceType": "DATA_SOURCE_TYPE_FIRST_PARTY"}}})
        return str(answer["id"]), None

    def add(self, remote_id, batch):
        self.call("POST", "audienceMembers:ingest", json={
            **self._body(remote_id, batch),
            "consent": {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED"},
            "termsOfService": {"customerMatchTermsOfServiceStatus": "ACCEPTED"}})
        return Sent(received=len(batch))

    def remove(self, remote_id, batch):
        self.call("POST", "audienceMembers:remove", json=self._body(remote_id, batch))
        return Sent(received=len(batch))

    def _body(self, remote_id, batch):
        return {"destinations": [{"operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": self.customer},
                                  "productDestinationId": remote_id}],
                "audienceMembers": [{"userData": {"userIdentifiers": _identifiers(batch.header, row)}}
                                    for row in batch.rows],
                "encoding": "HEX"}

    def error_message(self, response):
        try:
            error = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            return response.text[:500], {}
        reasons = {}
        for detail in error.get("details", []):
            for violation in detail.get("fieldViolations", []):
                text = f"{violation.get('reason') or violation.get('description')}"
                reasons[text] = reasons.get(text, 0) + 1
        return f"{error.get('status')}: {error.get('message')}", reasons


def _identifiers(header, row):
    """A file row (Email, Phone, First Name, Last Name, Country, Zip) as Data Manager's userIdentifiers."""
    cells = dict(zip(header, row, strict=True))
    identifiers = []
    if cells["Email"]:
        identifiers.append({"emailAddress": cells["Email"]})
    if cells["Phone"]:
        identifiers.append({"phoneNumber": cells["Phone"]})
    if cells["First Name"]:  # the export sends an address whole or not at all
        identifiers.append({"address": {"givenName": cells["First Name"], "familyName": cells["Last Name"],
                                        "regionCode": cells["Country"], "postalCode": cells["Zip"]}})
    return identifiers
