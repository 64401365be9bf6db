"""The request line a Caddy upstream receives, byte for byte.

Caddy forwards the client's request target as sent (no decoding, no slash merging) over
HTTP/1.1. `handle_path` and `uri strip_prefix` clean the *escaped* path (dot segments, and
slashes merged unless the prefix has `//`), then remove the prefix, comparing character by
character after unescaping (rewrite.go trimPathPrefix): the rest keeps its percent-encoding. Other rewrites build a
new URI from placeholders: None (not predicted).

linter.trace's upstream_request_line follows nginx, which re-escapes a replaced URI; for Caddy
routes use this function.
"""
from __future__ import annotations

from typing import Optional
from urllib.parse import unquote

from linter.caddy.matchers import clean_path


def upstream_request_line(route, request) -> Optional[str]:
    action = route.action
    if action.kind != "proxy":
        return None
    if action.uri == "original":
        return f"{request.method} {request.target} HTTP/1.1"
    if action.uri != "replaced":
        return None
    walk = route.facts.get("walk")
    strips = [h for h, _, _ in walk.rewrites if "strip_prefix" in h.data] if walk else []
    if len(strips) != 1:
        return None
    prefix = strips[0].data["strip_prefix"]
    cleaned = clean_path(request.raw_path, "//" not in prefix)
    rest = trim_escaped_prefix(cleaned, prefix)
    query = f"?{request.query}" if request.query is not None else ""
    return f"{request.method} {rest}{query} HTTP/1.1"


def trim_escaped_prefix(escaped: str, prefix: str) -> str:
    """`escaped` without `prefix` (compared unescaped, case-insensitively); "/" if nothing is left."""
    if not prefix.startswith("/"):
        prefix = "/" + prefix
    i = j = 0
    while j < len(prefix):
        if i >= len(escaped):
            return escaped or "/"
        if escaped[i] == "%" and prefix[j] != "%" and _is_hex(escaped[i + 1:i + 3]):
            char, width = unquote(escaped[i:i + 3]), 3
        else:
            char, width = escaped[i], 1
        if char.lower() != prefix[j].lower():
            return escaped
        i += width
        j += 1
    rest = escaped[i:]
    return rest if rest.startswith("/") else "/" + rest


def _is_hex(text: str) -> bool:
    return len(text) == 2 and all(c in "0123456789abcdefABCDEF" for c in text)
