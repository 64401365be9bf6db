"""Site addresses (`https://example.com:8448/path`), split the way Caddy's ParseAddress does.

Caddy (caddyconfig/httpcaddyfile/addresses.go) splits an address into scheme, host, port and
path without further validation, then rejects ports outside 0-65535 and schemes other than
http/https (ws/wss get their own message). The model builder uses `parse_address`; the front
end uses `address_problem` to report the same errors Caddy's adapter would.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from linter.caddy.numbers import atoi


@dataclass(frozen=True)
class Address:
    original: str
    scheme: str = ""
    host: str = ""
    port: str = ""
    path: str = ""


def _split_host_port(hostport: str) -> Optional[tuple[str, str]]:
    """Go's net.SplitHostPort: None when there is no valid host:port split."""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0 or end + 1 >= len(hostport) or hostport[end + 1] != ":":
            return None
        host, port = hostport[1:end], hostport[end + 2:]
        if ":" in port:
            return None
        return host, port
    if hostport.count(":") != 1:
        return None
    host, _, port = hostport.partition(":")
    if "[" in host or "]" in host or "]" in port:
        return None
    return host, port


def parse_address(text: str) -> Address:
    remaining = text.strip()
    scheme = ""
    if "://" in remaining:
        scheme, remaining = remaining.split("://", 1)
    hostport, slash, path = remaining.partition("/")
    split = _split_host_port(hostport) or _split_host_port(hostport + ":")
    host, port = split if split else (hostport, "")
    return Address(text.strip(), scheme, host, port, "/" + path if slash else "")


def address_problem(text: str) -> Optional[str]:
    """Why Caddy's adapter would reject this site address, or None."""
    addr = parse_address(text)
    if addr.port:
        if re.fullmatch(r"[+-]?[0-9]+", addr.port):
            number = atoi(addr.port)        # None past a 64-bit integer, as in Go
        else:
            # placeholders in ports ({$PORT} unset is already gone; {env.PORT} stays) are left
            # to Caddy's runtime; anything else is not a port
            if "{" in addr.port:
                return None
            return f"invalid port {addr.port!r} in site address {text!r}"
        if number is None or not 0 <= number <= 65535:
            return f"port {addr.port} is out of range (0-65535) in site address {text!r}"
    if addr.scheme == "wss":
        return "the scheme wss:// is only supported in browsers; use https:// instead"
    if addr.scheme == "ws":
        return "the scheme ws:// is only supported in browsers; use http:// instead"
    if addr.scheme not in ("", "http", "https"):
        return f"unsupported URL scheme {addr.scheme}:// in site address {text!r}"
    return None
