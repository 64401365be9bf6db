"""A raw HTTP/1.1 client: the request bytes go out exactly as given.

http.client and urllib normalise paths and headers; here `%2F`, `%40`, `//` and `..` in the
target reach the proxy untouched, headers keep their order and duplicates, and nothing is added
except what is documented on `http_request`.
"""
from __future__ import annotations

import json
import functools
import socket
import ssl
from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

Headers = Sequence[tuple[str, str]]


@dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]   # as received: order and duplicates kept, names as spelled
    body: bytes
    version: str = "HTTP/1.1"
    raw_head: bytes = field(default=b"", repr=False)

    def header(self, name: str) -> Optional[str]:
        """The first value of header `name` (compared case-insensitively), or None."""
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        """Every value of header `name`, one per header line, in order."""
        wanted = name.lower()
        return [v for n, v in self.headers if n.lower() == wanted]

    def json(self):
        return json.loads(self.body)


class ClientError(Exception):
    """The server closed or answered something that is not HTTP/1.x."""


def http_request(port: int, method: str = "GET", target: Union[str, bytes] = "/", *,
                 host: Optional[str] = "localhost", headers: Headers = (), body: Optional[bytes] = None,
                 chunked: bool = False, tls: bool = False, server_name: Optional[str] = None,
                 address: str = "127.0.0.1", timeout: float = 5.0) -> Response:
    """Send one request on a fresh connection and read the whole response.

    Sent in this order: the request line (`target` as bytes, latin-1 if str), `Host: host` unless
    `host` is None or `headers` has a Host, `headers`, then `Content-Length` (or
    `Transfer-Encoding: chunked` when `chunked`) if there is a body and `headers` has neither,
    and `Connection: close` unless `headers` has a Connection. No `Expect` is ever added: the
    body follows the headers at once. With `tls`, SNI is `server_name` or else `host` when it is
    a name (not an IP); certificates are not verified.
    """
    target_bytes = _bytes(target) if isinstance(target, str) else target
    names = {n.lower() for n, _ in headers}
    lines = [method.encode("ascii") + b" " + target_bytes + b" HTTP/1.1"]
    if host is not None and "host" not in names:
        lines.append(b"Host: " + _bytes(host))
    lines += [_bytes(n) + b": " + _bytes(v) for n, v in headers]
    payload = b""
    if body is not None:
        if chunked:
            if "transfer-encoding" not in names:
                lines.append(b"Transfer-Encoding: chunked")
            payload = (b"%x\r\n" % len(body) + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
        else:
            if "content-length" not in names:
                lines.append(b"Content-Length: %d" % len(body))
            payload = body
    if "connection" not in names:
        lines.append(b"Connection: close")
    data = b"\r\n".join(lines) + b"\r\n\r\n" + payload
    if server_name is None and tls and host:
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else ""
        server_name = name if name and not name.replace(".", "").isdigit() else None
    return send_raw(port, data, tls=tls, server_name=server_name, address=address, timeout=timeout,
                    head_only=method.upper() == "HEAD")


def _bytes(text: str) -> bytes:
    """latin-1 keeps every byte-like character as that byte; anything beyond goes out as UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    # Building a default context loads the system CA store (~60 ms here); verification is off
    # anyway (self-signed test certificates), so one context serves every request.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def send_raw(port: int, data: bytes, *, tls: bool = False, server_name: Optional[str] = None,
             address: str = "127.0.0.1", timeout: float = 5.0, head_only: bool = False) -> Response:
    """Send `data` as is and parse the response (interim 1xx responses are skipped)."""
    sock = socket.create_connection((address, port), timeout=timeout)
    # Nagle's algorithm delays the small TLS records of a request by ~45 ms each.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        if tls:
            sock = _tls_context().wrap_socket(sock, server_hostname=server_name)
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            # A proxy may answer (413) and close before it has read the whole body; the answer
            # is usually already in our receive buffer.
            pass
        return _read_response(sock, head_only)
    finally:
        sock.close()


class _Reader:
    """Bytes from a socket, read only as far as the caller needs."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = b""
        self.eof = False

    def more(self) -> None:
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            chunk = b""
        self.eof = not chunk
        self.buffer += chunk

    def until(self, marker: bytes) -> bytes:
        """Everything before `marker` (consumed with it); ClientError if the peer closes first."""
        while marker not in self.buffer and not self.eof:
            self.more()
        if marker not in self.buffer:
            raise ClientError(f"connection closed early; got {self.buffer[:200]!r}")
        before, self.buffer = self.buffer.split(marker, 1)
        return before

    def exactly(self, size: int) -> bytes:
        while len(self.buffer) < size and not self.eof:
            self.more()
        taken, self.buffer = self.buffer[:size], self.buffer[size:]
        return taken

    def rest(self) -> bytes:
        while not self.eof:
            self.more()
        taken, self.buffer = self.buffer, b""
        return taken


def _read_response(sock: socket.socket, head_only: bool) -> Response:
    reader = _Reader(sock)
    while True:
        head = reader.until(b"\r\n\r\n")
        version, status, reason, headers = _parse_head(head)
        if not (100 <= status < 200 and status != 101):
            break
    lengths = [v for n, v in headers if n.lower() == "content-length"]
    encodings = [v.lower() for n, v in headers if n.lower() == "transfer-encoding"]
    if head_only or status in (204, 304):
        body = b""
    elif encodings and encodings[-1].endswith("chunked"):
        body = _read_chunked(reader)
    elif lengths:
        body = reader.exactly(int(lengths[0]))
    else:
        body = reader.rest()
    return Response(status, reason, headers, body, version, head)


def _parse_head(head: bytes) -> tuple[str, int, str, list[tuple[str, str]]]:
    lines = head.split(b"\r\n")
    parts = lines[0].decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ClientError(f"not an HTTP status line: {lines[0]!r}")
    headers = []
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers.append((name, value.strip()))
    return parts[0], int(parts[1]), parts[2] if len(parts) > 2 else "", headers


def _read_chunked(reader: _Reader) -> bytes:
    body = b""
    while True:
        size = int(reader.until(b"\r\n").split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return body  # trailers, if any, are not needed
        body += reader.exactly(size)
        reader.until(b"\r\n")

