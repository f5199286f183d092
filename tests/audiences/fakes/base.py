"""A local HTTP server standing in for an ad platform's API: a thread on the loopback, per test.

Each platform's fake (a module beside this one) answers its routes as the platform's documentation
shows, and refuses what the platform refuses (auth, payload shape, hashing, batch limits), with the
platform's error bodies. Faults are queued per test:

    fake.fail_next("POST", "/users", status=429, headers={"Retry-After": "7"}, body={...})
    fake.lose_answer_of_next("POST", "/users")   # the request is applied, then the connection drops
"""

import email.parser
import email.policy
import json
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HEX64 = re.compile(r"[0-9a-f]{64}").fullmatch


def all_sha256_hex(values):
    """Whether each of `values` (strings) is empty or SHA-256 lowercase hex, as HEX64 says value by
    value, checked at once in C: each 0 or 64 characters long, none upper case, and all together
    hex that bytes.fromhex reads to half as many bytes (it would skip white space). Value by value
    in Python the check took most of the fakes' time in bench/audience_sync.py (a regular expression
    over the values joined, still half of it)."""
    try:
        text = "".join(values)
        return (set(map(len, values)) <= {0, 64} and text == text.lower()
                and len(bytes.fromhex(text)) * 2 == len(text))
    except (TypeError, ValueError):  # a value that is not a string, or not hex
        return False


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes
    form: dict = field(default_factory=dict)  # urlencoded fields
    files: dict = field(default_factory=dict)  # multipart: name -> bytes

    def json(self):
        return json.loads(self.body or b"{}")


class ApiFault(Exception):
    """Raised by a route: answer with this status and body."""

    def __init__(self, status, body, headers=None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


class FakePlatform:
    routes: list  # (method, regex of the path, handler name)
    # Every request is kept for the tests to look at (`calls`); the bench, which sends a million
    # lines and looks at none, turns it off (the checks are the same).
    keep_requests = True

    def __init__(self):
        self.requests: list[Request] = []
        self._faults: list = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    # --- faults -----------------------------------------------------------------------------------

    def fail_next(self, method, path_part, status, body, headers=None, times=1):
        for _ in range(times):
            self._faults.append((method, path_part, ("fail", status, body, headers or {})))

    def lose_answer_of_next(self, method, path_part):
        """The next such request is applied, then the connection closes before any answer."""
        self._faults.append((method, path_part, ("lose",)))

    def pass_next(self, method, path_part):
        """The next such request is answered as usual (to aim the next fault at a later request)."""
        self._faults.append((method, path_part, ("pass",)))

    def hold_answer_of_next(self, method, path_part, release):
        """The next such request is applied, then its answer waits for `release` (a threading.Event)
        and is never sent: the caller is meant to be killed meanwhile."""
        self._faults.append((method, path_part, ("hold", release)))

    def _fault_for(self, request):
        for index, (method, part, fault) in enumerate(self._faults):
            if method == request.method and part in request.path:
                del self._faults[index]
                return fault
        return None

    def calls(self, method, path_part):
        return [r for r in self.requests if r.method == method and path_part in r.path]

    # --- dispatch ---------------------------------------------------------------------------------

    def handle(self, request):
        """(status, headers, body) for a request, or None to drop the connection without an answer."""
        with self._lock:
            if self.keep_requests:
                self.requests.append(request)
            fault = self._fault_for(request)
            if fault and fault[0] == "fail":
                _, status, body, headers = fault
                return status, headers, body
            try:
                self.authenticate(request)
                for method, pattern, name in self.routes:
                    match = re.fullmatch(pattern, request.path)
                    if match and method == request.method:
                        answer = getattr(self, name)(request, *match.groups())
                        break
                else:
                    raise ApiFault(404, self.error_body(404, f"no route {request.method} {request.path}"))
            except ApiFault as exc:
                return exc.status, exc.headers, exc.body
            if fault and fault[0] in ("lose", "hold"):
                held = fault
            else:
                return 200, {}, answer
        if held[0] == "hold":  # outside the lock: the fake answers others meanwhile
            held[1].wait(60)
        return None

    def authenticate(self, request):
        raise NotImplementedError

    def error_body(self, status, message):
        raise NotImplementedError


def _multipart(content_type, body):
    """name -> content of each part of a multipart/form-data body. The parts are cut at the boundary
    and only their headers go through the email parser: it reads a body line by line in Python
    (seconds for the bench's files of 100,000 lines)."""
    headers = email.parser.BytesHeaderParser(policy=email.policy.HTTP)
    boundary = headers.parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n").get_param("boundary")
    parts = {}
    for part in body.split(b"--" + boundary.encode())[1:-1]:
        head, _, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        parts[headers.parsebytes(head + b"\r\n\r\n").get_param("name", header="content-disposition")] = (
            content.removesuffix(b"\r\n"))
    return parts


def _handler(fake):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _serve(self):
            parsed = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(self.command, parsed.path, dict(urllib.parse.parse_qsl(parsed.query)),
                              {key.lower(): value for key, value in self.headers.items()}, body)
            kind = request.headers.get("content-type", "")
            if kind.startswith("application/x-www-form-urlencoded"):
                request.form = dict(urllib.parse.parse_qsl(body.decode()))
            elif kind.startswith("multipart/form-data"):
                request.files = _multipart(kind, body)
            answer = fake.handle(request)
            if answer is None:  # the request was taken and applied; the answer is lost
                self.close_connection = True
                self.connection.shutdown(2)
                return
            status, headers, payload = answer
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _serve

    return Handler
