"""Meta Marketing API, as far as audience syncs use it (Graph API v25.0).

Checks what Graph checks: the Bearer token, the ad account, the audience's fields at creation,
`payload` ({"schema", "data"}) and `session` JSON form fields on /{id}/users, at most 10,000 rows a
request, each row as long as the schema, hashed keys as SHA-256 lowercase hex (a malformed one is an
invalid entry, as Meta counts them), the session's batch_seq in order and nothing after the last
batch. A session counts as matched the valid rows with an email. Errors in Graph's shape:
{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}.
"""

import itertools
import json

from .base import HEX64, ApiFault, FakePlatform, all_sha256_hex

VERSION = "v25.0"
KEYS = {"EMAIL", "PHONE", "FN", "LN", "CT", "ST", "ZIP", "COUNTRY", "DOBY", "DOBM", "DOBD", "GEN", "EXTERN_ID",
        "MADID", "LOOKALIKE_VALUE"}
PLAIN = {"EXTERN_ID", "MADID", "LOOKALIKE_VALUE"}
MAX_ROWS = 10_000


class FakeMeta(FakePlatform):
    routes = [
        ("GET", rf"/{VERSION}/(act_\d+)", "account"),
        ("GET", rf"/{VERSION}/(act_\d+)/customaudiences", "list_audiences"),
        ("POST", rf"/{VERSION}/(act_\d+)/customaudiences", "create_audience"),
        ("POST", rf"/{VERSION}/(\d+)/users", "add_users"),
        ("DELETE", rf"/{VERSION}/(\d+)/users", "remove_users"),
        ("GET", rf"/{VERSION}/(\d+)/sessions", "sessions"),
    ]

    def __init__(self, token="meta-token", ad_account="act_1001"):
        super().__init__()
        self.token, self.ad_account = token, ad_account
        self.audiences = {}  # id -> {"name", "members": set of rows, "sessions": {id: {...}}}
        self._ids = itertools.count(23850000000000001)

    @property
    def api_url(self):
        return f"{self.url}/{VERSION}"

    def error_body(self, status, message, code=100, subcode=None):
        return {"error": {"message": message, "type": "OAuthException" if code == 190 else "GraphMethodException",
                          "code": code, "error_subcode": subcode, "fbtrace_id": "AbCdEf123"}}

    def fail(self, message, code=100, subcode=None, status=400):
        raise ApiFault(status, self.error_body(status, message, code, subcode))

    def authenticate(self, request):
        if request.headers.get("authorization") != f"Bearer {self.token}":
            self.fail("Invalid OAuth access token - Cannot parse access token", code=190)

    def _account(self, account):
        if account != self.ad_account:
            self.fail(f"(#100) Unsupported get request. Object with ID '{account}' does not exist", subcode=33)

    def account(self, request, account):
        self._account(account)
        return {"id": account, "name": "Shop ads", "account_status": 1}

    def list_audiences(self, request, account):
        self._account(account)
        limit = int(request.query.get("limit", 25))
        after = int(request.query.get("after", 0))
        items = [{"id": key, "name": value["name"]} for key, value in sorted(self.audiences.items())]
        page = items[after:after + limit]
        answer = {"data": page, "paging": {"cursors": {"before": str(after), "after": str(after + limit)}}}
        if after + limit < len(items):
            answer["paging"]["next"] = f"{self.api_url}/{account}/customaudiences?limit={limit}&after={after + limit}"
        return answer

    def create_audience(self, request, account):
        self._account(account)
        form = request.form
        if not form.get("name"):
            self.fail("(#100) The parameter name is required")
        if form.get("subtype") != "CUSTOM":
            self.fail("(#100) subtype must be one of {CUSTOM, WEBSITE, APP, ...}")
        if form.get("customer_file_source") not in ("USER_PROVIDED_ONLY", "PARTNER_PROVIDED_ONLY",
                                                     "BOTH_USER_AND_PARTNER_PROVIDED"):
            self.fail("(#100) customer_file_source is required for customer file custom audiences", subcode=1870090)
        audience_id = str(next(self._ids))
        self.audiences[audience_id] = {"name": form["name"], "members": set(), "sessions": {}}
        return {"id": audience_id}

    def _users(self, request, audience_id, adding):
        audience = self.audiences.get(audience_id)
        if audience is None:
            self.fail(f"(#100) Unsupported post request. Object with ID '{audience_id}' does not exist", subcode=33)
        try:  # form fields holding JSON, or a JSON body: Graph takes either
            body = request.json() if request.headers.get("content-type", "").startswith("application/json") else {
                key: json.loads(value) for key, value in request.form.items() if key in ("payload", "session")}
            payload, session = body["payload"], body.get("session")
        except (KeyError, ValueError):
            self.fail("(#100) param payload must be a JSON object")
        schema, data = payload.get("schema"), payload.get("data")
        if not isinstance(schema, list) or not schema or set(schema) - KEYS:
            self.fail(f"(#100) Invalid schema: {schema}", subcode=1870053)
        if not isinstance(data, list) or not data:
            self.fail("(#100) param payload[data] must be a non-empty array")
        if len(data) > MAX_ROWS:
            self.fail(f"(#100) Too many users in one request: {len(data)}; the maximum is {MAX_ROWS}",
                      subcode=1870063)
        if not set(map(type, data)) <= {list} or not set(map(len, data)) <= {len(schema)}:
            self.fail("(#100) Each row of data must have as many values as the schema", subcode=1870048)
        valid, invalid, samples = data, 0, {}
        if not _all_hashed(schema, data):  # then row by row, to count and name the invalid entries as Meta does
            valid = []
            for row in data:
                bad = [key for key, value in zip(schema, row, strict=True)
                       if key not in PLAIN and value and not (isinstance(value, str) and HEX64(value))]
                if bad:
                    invalid += 1
                    samples[str(len(samples))] = f"{bad[0]} is not hashed as SHA-256"
                else:
                    valid.append(row)
        if session is not None:
            state = audience["sessions"].setdefault(session["session_id"], {
                "num_received": 0, "num_invalid_entries": 0, "num_matched": 0, "seqs": [], "closed": False})
            if state["closed"]:
                self.fail("(#2650) The session has already ended", code=2650)
            if session["batch_seq"] < 1 or (state["seqs"] and session["batch_seq"] > state["seqs"][-1] + 1):
                self.fail(f"(#100) batch_seq {session['batch_seq']} out of order", subcode=1870070)
            state["seqs"].append(session["batch_seq"])
            state["num_received"] += len(data)  # a batch sent twice is counted twice
            state["num_invalid_entries"] += invalid
            state["num_matched"] += _matched(schema, valid)
            state["closed"] = bool(session.get("last_batch_flag"))
        if adding:
            audience["members"].update(map(tuple, valid))
        else:
            audience["members"].difference_update(map(tuple, valid))
        return {"audience_id": audience_id, "session_id": session and session["session_id"],
                "num_received": len(data), "num_invalid_entries": invalid,
                "invalid_entry_samples": dict(list(samples.items())[:10])}

    def add_users(self, request, audience_id):
        return self._users(request, audience_id, True)

    def remove_users(self, request, audience_id):
        return self._users(request, audience_id, False)

    def sessions(self, request, audience_id):
        audience = self.audiences[audience_id]
        session_id = int(request.query["session_id"])
        state = audience["sessions"].get(session_id)
        if state is None:
            return {"data": []}
        return {"data": [{"session_id": str(session_id), "num_received": str(state["num_received"]),
                          "num_invalid_entries": str(state["num_invalid_entries"]),
                          "num_matched": str(state["num_matched"]),
                          "stage": "finished" if state["closed"] else "uploading"}]}

    def session_received(self, audience_id):
        """num_received of each session of the audience."""
        return {key: value["num_received"] for key, value in self.audiences[audience_id]["sessions"].items()}

    def members(self, audience_id):
        return set(self.audiences[audience_id]["members"])


def _all_hashed(schema, data):
    """Whether every hashed value of `data` (rows as long as `schema`, strings) is empty or SHA-256 hex,
    column by column (all_sha256_hex)."""
    return all(key in PLAIN or all_sha256_hex(column) for key, column in zip(schema, zip(*data)))


def _matched(schema, rows):
    """The fake's stand-in for Meta's people: a valid row matches when it has an email."""
    if "EMAIL" not in schema:
        return 0
    email = schema.index("EMAIL")
    return sum(1 for row in rows if row[email])
