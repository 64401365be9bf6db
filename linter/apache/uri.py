"""What Apache does to a request URI before and while proxying it (httpd 2.4, measured on 2.4.71).

Three steps decide what the upstream receives:

1. Apache turns the raw path into `r->uri`: unreserved characters (`%41`, `%2e`) are decoded, dot
   segments resolved and `//` merged, then every other `%XX` is decoded. `AllowEncodedSlashes`
   (per virtual host, never inherited from the main server) decides `%2F`: `Off` (the default)
   answers 404 before any handler runs, `On` decodes it, `NoDecode` keeps `%2F` as written.
2. `ProxyPass /prefix http://host/path` matches `r->uri` on whole path segments (`/_matrix` never
   matches `/_matrixfoo`, a `/` in the prefix matches any run of slashes).
3. Without `nocanon`, mod_proxy_http re-encodes the decoded path (`ap_proxy_canonenc`): `@`, `:`,
   `$`, `!` stay decoded, `%`, `?`, `#`, space and non-ASCII bytes are encoded again, so `%40alice`
   arrives as `@alice` and `..` is gone. With `nocanon` the raw request target after the prefix is
   appended untouched (query included), unless the raw target does not match the prefix the same
   way (`//` inside it, an encoded prefix): then Apache logs AH01136 and ignores `nocanon`.

`RewriteRule … [P]` builds its URL from the decoded `r->uri` and is canonicalised like step 3.
"""
from __future__ import annotations

import re

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# ap_proxy_canonenc(enc_path): kept as they are besides letters and digits; '/' is "reserved".
_PATH_ALLOWED = frozenset(b"~$-_.+!*'(),;:@&=")
_HEX = frozenset(b"0123456789abcdefABCDEF")


# What Apache's own error pages (404, 400, 403, 500, 503 ...) are sent as (measured, 2.4.71).
ERROR_TYPE = "text/html; charset=iso-8859-1"


class Refused(Exception):
    """Apache answers this status itself instead of handling the request (404 for `%2F`, 400),
    with its own error page: `content_type` (an `ErrorDocument` with a text keeps it)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.content_type = ERROR_TYPE


def request_uri(raw_path: str, encoded_slashes: str = "off") -> str:
    """`r->uri` for a raw request path, or Refused. `encoded_slashes`: "off", "on" or "nodecode"."""
    data = raw_path.encode("utf-8", "surrogateescape")
    data = _decode_unreserved(data)
    data = _remove_dot_segments(data)
    data = re.sub(rb"/{2,}", b"/", data)
    out = bytearray()
    i = 0
    while i < len(data):
        c = data[i]
        if c != ord("%"):
            out.append(c)
            i += 1
            continue
        if not _is_escape(data, i):
            raise Refused(400, "a `%` in the path is not followed by two hex digits")
        value = int(data[i + 1:i + 3], 16)
        if value == ord("/") and encoded_slashes != "on":
            if encoded_slashes == "off":
                raise Refused(404, "the path contains `%2F` and AllowEncodedSlashes is Off")
            out += data[i:i + 3]          # NoDecode: kept exactly as written
            i += 3
            continue
        if value == 0:
            raise Refused(404, "the path contains `%00`")
        out.append(value)
        i += 3
    return out.decode("latin-1")


def _is_escape(data: bytes, i: int) -> bool:
    return i + 2 < len(data) and data[i + 1] in _HEX and data[i + 2] in _HEX


def _decode_unreserved(data: bytes) -> bytes:
    def one(m):
        value = int(m.group(1), 16)
        return bytes([value]) if value in _UNRESERVED else m.group(0)
    return re.sub(rb"%([0-9a-fA-F]{2})", one, data)


def _remove_dot_segments(data: bytes) -> bytes:
    out: list = []
    segments = data.split(b"/")
    for index, seg in enumerate(segments[1:], 1):
        last = index == len(segments) - 1
        if seg == b".":
            if last:
                out.append(b"")
            continue
        if seg == b"..":
            if out:
                out.pop()
            if last:
                out.append(b"")
            continue
        out.append(seg)
    return b"/" + b"/".join(out)


def canonicalise(path: str, encoded_slashes: str) -> str:
    """ap_proxy_canonenc for a reverse-proxied path (`r->uri` plus the target's path); Refused(400)
    when it cannot (with NoDecode, a `%` from a decoded `%25` that no longer forms an escape)."""
    data = path.encode("latin-1", "replace")
    out: list = []
    i = 0
    while i < len(data):
        c = data[i]
        if c == ord("/"):
            out.append("/")
            i += 1
            continue
        if encoded_slashes == "nodecode" and c == ord("%"):
            if not _is_escape(data, i):
                raise Refused(400, "mod_proxy cannot re-encode the decoded path (a lone `%`)")
            value = int(data[i + 1:i + 3], 16)
            if value == ord("/"):
                out.append(data[i:i + 3].decode("latin-1"))
                i += 3
                continue
            c = value
            i += 3
        else:
            i += 1
        if chr(c).isascii() and (chr(c).isalnum() or c in _PATH_ALLOWED):
            out.append(chr(c))
        else:
            out.append(f"%{c:02X}")
    return "".join(out)


def alias_match(uri: str, prefix: str) -> int:
    """mod_proxy's alias_match: how many characters of `uri` the ProxyPass prefix covers (0: no match).

    Prefixes match whole path segments; a `/` in the prefix matches one or more `/` in the URI.
    """
    u, a = 0, 0
    while a < len(prefix) and u < len(uri):
        if prefix[a] == "/":
            if uri[u] != "/":
                return 0
            while a < len(prefix) and prefix[a] == "/":
                a += 1
            while u < len(uri) and uri[u] == "/":
                u += 1
        else:
            if uri[u] != prefix[a]:
                return 0
            u += 1
            a += 1
    if a < len(prefix):
        return 0
    if prefix and prefix[-1] != "/" and u < len(uri) and uri[u] != "/":
        return 0
    return u


def split_target(target: str) -> tuple:
    """(path, query or None) of a raw request target."""
    path, sep, query = target.partition("?")
    return path, (query if sep else None)
