"""A stand-in for Synapse on loopback that records exactly what each proxy forwarded.

What it answers (chosen to match Synapse where the proxy tests care):

- Every response carries, as Synapse's JSON resources and OptionsResource do:
  `Access-Control-Allow-Origin: *`,
  `Access-Control-Allow-Methods: GET, HEAD, POST, PUT, DELETE, OPTIONS`,
  `Access-Control-Allow-Headers: X-Requested-With, Content-Type, Authorization, Date`,
  plus `Server: Synapse (fake homeserver)`, `Content-Type` and `Content-Length`. No other headers.
- `OPTIONS` on any path: 204, no body.
- `GET`/`HEAD /_matrix/client/versions`: 200 `{"versions": [...], "unstable_features": {}}`.
- `GET`/`HEAD /health`: 200 `OK` (text/plain), like Synapse's health resource.
- anything else: 404 `{"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"}` — what
  Synapse says for an unknown endpoint. (So "reached the upstream" is judged from `requests`,
  not from the status.)
- `fail_with = 500` (any status): that status with `{"errcode": "M_UNKNOWN", ...}` for everything,
  OPTIONS included, CORS headers still present.

Every request is recorded before it is answered (so when a client has its response, the record is
there): the request line and header block as raw bytes, headers as (name, value) pairs, the body.
Keep-alive, chunked request bodies and `Expect: 100-continue` are handled, because proxies use them.
"""
from __future__ import annotations

import json
import socketserver
import threading
from dataclasses import dataclass, field
from typing import Optional

CORS_HEADERS = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE, OPTIONS"),
    ("Access-Control-Allow-Headers", "X-Requested-With, Content-Type, Authorization, Date"),
]
VERSIONS = ["r0.0.1", "r0.1.0", "r0.2.0", "r0.3.0", "r0.4.0", "r0.5.0", "r0.6.0", "r0.6.1",
            "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11"]
MAX_BODY = 64 * 1024 * 1024


@dataclass
class RecordedRequest:
    request_line: bytes                 # e.g. b"GET /_matrix/client/versions HTTP/1.0", as received
    headers: list[tuple[str, str]]      # in order, names as spelled, latin-1 decoded
    body: bytes
    raw_head: bytes = field(repr=False, default=b"")  # request line + header lines, CRLFs included

    @property
    def method(self) -> str:
        return self.request_line.split(b" ", 1)[0].decode("latin-1")

    @property
    def target(self) -> bytes:
        """The request target exactly as the proxy sent it (path and query, still encoded)."""
        parts = self.request_line.split(b" ")
        return parts[1] if len(parts) > 1 else b""

    @property
    def path(self) -> bytes:
        return self.target.split(b"?", 1)[0]

    @property
    def version(self) -> str:
        return self.request_line.rsplit(b" ", 1)[-1].decode("latin-1")

    def header(self, name: str) -> Optional[str]:
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [v for n, v in self.headers if n.lower() == wanted]


class FakeHomeserver:
    """Threaded loopback server; use as a context manager or call start()/stop()."""

    def __init__(self, fail_with: Optional[int] = None):
        self.fail_with = fail_with
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self.port = 0

    @property
    def authority(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "FakeHomeserver":
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-homeserver",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeHomeserver":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def requests_to(self, path_prefix: bytes) -> list[RecordedRequest]:
        """Recorded requests whose target starts with `path_prefix` (skips health checks etc.)."""
        with self._lock:
            return [r for r in self.requests if r.target.startswith(path_prefix)]

    def last(self) -> RecordedRequest:
        with self._lock:
            if not self.requests:
                raise AssertionError("the fake homeserver received no request")
            return self.requests[-1]

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def answer(self, request: RecordedRequest) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """(status, reason, extra headers, body) for one request; see the module docstring."""
        if self.fail_with is not None:
            return self.fail_with, "Internal Server Error" if self.fail_with == 500 else "Error", \
                [("Content-Type", "application/json")], \
                json.dumps({"errcode": "M_UNKNOWN", "error": "Internal server error"}).encode()
        if request.method == "OPTIONS":
            return 204, "No Content", [], b""
        path = request.path
        if request.method in ("GET", "HEAD") and path == b"/_matrix/client/versions":
            body = json.dumps({"versions": VERSIONS, "unstable_features": {}}).encode()
            return 200, "OK", [("Content-Type", "application/json")], body
        if request.method in ("GET", "HEAD") and path == b"/health":
            return 200, "OK", [("Content-Type", "text/plain; charset=utf-8")], b"OK"
        body = json.dumps({"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"}).encode()
        return 404, "Not Found", [("Content-Type", "application/json")], body


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: FakeHomeserver


class _Handler(socketserver.StreamRequestHandler):
    timeout = 10

    def handle(self) -> None:
        try:
            while self._one_request():
                pass
        except (OSError, ValueError):
            pass  # the proxy went away or sent garbage: nothing to answer

    def _one_request(self) -> bool:
        """Serve one request; True when the connection should stay open for another."""
        if self.rfile.peek(1)[:1] == b"\x16":
            return False  # a TLS handshake: the proxy was told to speak https to us; hang up at once
        line = self.rfile.readline(65537)
        if not line:
            return False
        head = [line]
        while True:
            header_line = self.rfile.readline(65537)
            if not header_line:
                return False
            head.append(header_line)
            if header_line in (b"\r\n", b"\n"):
                break
        headers = []
        for raw in head[1:-1]:
            name, _, value = raw.decode("latin-1").partition(":")
            headers.append((name, value.strip()))
        probe = RecordedRequest(line.rstrip(b"\r\n"), headers, b"", b"".join(head))
        if (probe.header("Expect") or "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        probe.body = self._read_body(probe)
        owner: FakeHomeserver = self.server.owner
        owner._record(probe)
        status, reason, extra, body = owner.answer(probe)
        keep_alive = self._keep_alive(probe)
        lines = [f"HTTP/1.1 {status} {reason}", "Server: Synapse (fake homeserver)"]
        lines += [f"{n}: {v}" for n, v in extra + CORS_HEADERS]
        if status not in (204, 304):
            lines.append(f"Content-Length: {len(body)}")
        if not keep_alive:
            lines.append("Connection: close")
        payload = "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n"
        if probe.method != "HEAD" and status not in (204, 304):
            payload += body
        self.wfile.write(payload)
        self.wfile.flush()
        return keep_alive

    def _read_body(self, request: RecordedRequest) -> bytes:
        encoding = (request.header("Transfer-Encoding") or "").lower()
        if encoding.endswith("chunked"):
            body = b""
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return body
                body += self.rfile.read(size)
                self.rfile.readline(3)
                if len(body) > MAX_BODY:
                    raise ValueError("request body too large for the fake homeserver")
        length = int(request.header("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("request body too large for the fake homeserver")
        return self.rfile.read(length) if length else b""

    @staticmethod
    def _keep_alive(request: RecordedRequest) -> bool:
        tokens = {t.strip().lower() for v in request.header_values("Connection") for t in v.split(",")}
        if request.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


__all__ = ["FakeHomeserver", "RecordedRequest", "CORS_HEADERS", "VERSIONS"]
