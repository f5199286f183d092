"""Google Data Manager API (v1), as far as audience syncs use it, and Google's OAuth token endpoint.

Checks what Data Manager checks: the Bearer token (401 UNAUTHENTICATED otherwise), a Customer Match
UserList's fields at creation (unique displayName, CONTACT_ID upload key, a data source type), on
ingest and remove: the destination (GOOGLE_ADS operating account, an existing list), 1 to 10,000
members, 1 to 10 identifiers each, encoding HEX with SHA-256 lowercase hex digests for email, phone
and names, a two-letter region code; on ingest the consent values and accepted Customer Match terms.
Errors in Google's shape: {"error": {"code", "message", "status", "details": [{"fieldViolations"}]}}.
"""

import itertools

from .base import HEX64, ApiFault, FakePlatform

MAX_MEMBERS, MAX_IDENTIFIERS = 10_000, 10
CONSENT = {"CONSENT_GRANTED", "CONSENT_DENIED"}


class FakeGoogle(FakePlatform):
    routes = [
        ("GET", r"/v1/accountTypes/GOOGLE_ADS/accounts/(\d+)/userLists", "list_lists"),
        ("POST", r"/v1/accountTypes/GOOGLE_ADS/accounts/(\d+)/userLists", "create_list"),
        ("POST", r"/v1/audienceMembers:ingest", "ingest"),
        ("POST", r"/v1/audienceMembers:remove", "remove"),
        ("POST", r"/token", "oauth_token"),
    ]

    def __init__(self, customer="1234567890"):
        super().__init__()
        self.customer = customer
        self.access_token, self.refresh_token = "", "g-refresh"
        self.lists = {}  # id -> {"displayName", "members": set of rows}
        self._ids = itertools.count(9001)
        self._tokens = itertools.count(1)

    @property
    def api_url(self):
        return f"{self.url}/v1"

    def error_body(self, status, message, violations=(), code="INVALID_ARGUMENT"):
        body = {"error": {"code": status, "message": message, "status": code}}
        if violations:
            body["error"]["details"] = [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                                         "fieldViolations": list(violations)}]
        return body

    def fail(self, message, field="", reason="", status=400, code="INVALID_ARGUMENT"):
        violations = [{"field": field, "description": message, "reason": reason}] if field else []
        raise ApiFault(status, self.error_body(status, message, violations, code))

    def authenticate(self, request):
        if request.path == "/token":
            return
        if not self.access_token or request.headers.get("authorization") != f"Bearer {self.access_token}":
            self.fail("Request had invalid authentication credentials.", status=401, code="UNAUTHENTICATED")

    def oauth_token(self, request):
        form = request.form
        if (form.get("grant_type"), form.get("refresh_token")) != ("refresh_token", self.refresh_token) or not (
                form.get("client_id") and form.get("client_secret")):
            raise ApiFault(400, {"error": "invalid_grant", "error_description": "Bad Request"})
        self.access_token = f"ya29.token-{next(self._tokens)}"
        return {"access_token": self.access_token, "expires_in": 3599, "token_type": "Bearer",
                "scope": "https://www.googleapis.com/auth/datamanager"}

    def _customer(self, customer):
        if customer != self.customer:
            self.fail(f"The caller does not have permission on account {customer}", status=403,
                      code="PERMISSION_DENIED")

    def list_lists(self, request, customer):
        self._customer(customer)
        size, start = int(request.query.get("pageSize", 50)), int(request.query.get("pageToken") or 0)
        items = [{"name": f"accountTypes/GOOGLE_ADS/accounts/{customer}/userLists/{key}", "id": key,
                  "displayName": value["displayName"]} for key, value in sorted(self.lists.items())]
        answer = {"userLists": items[start:start + size]}
        if start + size < len(items):
            answer["nextPageToken"] = str(start + size)
        return answer

    def create_list(self, request, customer):
        self._customer(customer)
        body = request.json()
        name = body.get("displayName")
        if not name:
            self.fail("displayName is required", "display_name", "REQUIRED_FIELD_MISSING")
        if any(value["displayName"] == name for value in self.lists.values()):
            self.fail("A user list with this name already exists", "display_name", "DUPLICATE_NAME",
                      code="ALREADY_EXISTS", status=409)
        info = body.get("ingestedUserListInfo") or {}
        if info.get("uploadKeyTypes") != ["CONTACT_ID"] or not (info.get("contactIdInfo") or {}).get("dataSourceType"):
            self.fail("ingestedUserListInfo needs uploadKeyTypes [CONTACT_ID] and contactIdInfo.dataSourceType",
                      "ingested_user_list_info", "INVALID_FIELD_VALUE")
        list_id = str(next(self._ids))
        self.lists[list_id] = {"displayName": name, "members": set()}
        return {"name": f"accountTypes/GOOGLE_ADS/accounts/{customer}/userLists/{list_id}", "id": list_id,
                "displayName": name}

    def _members(self, request, ingest):
        body = request.json()
        (destination,) = body.get("destinations") or [None]
        account = (destination or {}).get("operatingAccount") or {}
        if account.get("accountType") != "GOOGLE_ADS":
            self.fail("destinations[0].operating_account.account_type must be set", "destinations[0]",
                      "INVALID_ACCOUNT_TYPE")
        self._customer(account.get("accountId"))
        target = self.lists.get(destination.get("productDestinationId"))
        if target is None:
            self.fail("The destination user list does not exist", "destinations[0].product_destination_id",
                      "DESTINATION_NOT_FOUND", status=404, code="NOT_FOUND")
        if body.get("encoding") != "HEX":
            self.fail("encoding must be HEX or BASE64 for hashed identifiers", "encoding", "INVALID_ENCODING")
        members = body.get("audienceMembers") or []
        if not 1 <= len(members) <= MAX_MEMBERS:
            self.fail(f"audience_members must hold 1 to {MAX_MEMBERS} members, not {len(members)}",
                      "audience_members", "TOO_MANY_ELEMENTS")
        if ingest:
            consent = body.get("consent") or {}
            if consent.get("adUserData") not in CONSENT or consent.get("adPersonalization") not in CONSENT:
                self.fail("consent.ad_user_data and consent.ad_personalization are required in the EEA",
                          "consent", "INVALID_CONSENT")
            if (body.get("termsOfService") or {}).get("customerMatchTermsOfServiceStatus") != "ACCEPTED":
                self.fail("The Customer Match terms of service must be accepted", "terms_of_service",
                          "TERMS_OF_SERVICE_NOT_ACCEPTED")
        rows = [self._row(index, member) for index, member in enumerate(members)]
        if ingest:
            target["members"].update(rows)
        else:
            target["members"].difference_update(rows)
        return {"requestId": f"req-{len(self.requests)}"}

    def _row(self, index, member):
        identifiers = (member.get("userData") or {}).get("userIdentifiers") or []
        if not 1 <= len(identifiers) <= MAX_IDENTIFIERS:
            self.fail(f"user_identifiers must hold 1 to {MAX_IDENTIFIERS}", f"audience_members[{index}]",
                      "TOO_MANY_ELEMENTS")
        row = {"email": "", "phone": "", "given": "", "family": "", "region": "", "postal": ""}
        for identifier in identifiers:
            address = identifier.get("address")
            values = {"email": identifier.get("emailAddress"), "phone": identifier.get("phoneNumber")}
            if address:
                values.update(given=address.get("givenName"), family=address.get("familyName"))
                region = address.get("regionCode", "")
                if len(region) != 2 or not region.isupper():
                    self.fail("region_code must be two upper-case letters", f"audience_members[{index}]",
                              "INVALID_COUNTRY_CODE")
                row.update(region=region, postal=address.get("postalCode", ""))
            for key, value in values.items():
                if value is None:
                    continue
                if not HEX64(value):
                    self.fail(f"{key} is not a hex-encoded SHA-256 digest",
                              f"audience_members[{index}].user_data", "INVALID_HEX_ENCODING")
                row[key] = value
        return tuple(row.values())

    def ingest(self, request):
        return self._members(request, True)

    def remove(self, request):
        return self._members(request, False)

    def members(self, list_id):
        return set(self.lists[list_id]["members"])
