"""The request target a `ProxyPass`, `ProxyPassMatch` or `RewriteRule … [P]` sends upstream.

`upstream_target(rule, raw_target, encoded_slashes)` follows mod_proxy's ap_proxy_trans_match and
proxy_http_canon (httpd 2.4.71, checked against the real server by tests/real/test_model_apache.py):

- `ProxyPass /prefix http://h/path`: the part of `r->uri` after the prefix is appended to `/path`
  and the whole is canonicalised (linter.apache.uri); the query string follows unchanged.
- with `nocanon`: the raw request target after the prefix (query included) is appended as is, but
  only when the raw target matches the prefix over the same length; otherwise Apache ignores
  `nocanon` (AH01136) and canonicalises.
- `ProxyPassMatch re http://h/$1`: `$N` come from the decoded `r->uri` (from the raw target with
  `nocanon`); without any `$N` the whole URI is appended to the target.
- `RewriteRule re http://h/$1 [P]`: `$N` from the decoded `r->uri`, then canonicalised; the query
  string is kept unless the substitution has its own.

`classify(rule, encoded_slashes)` says what the model's `Action.uri` is, by running the rule on
sample targets full of what canonicalisation changes (`%40`, `%3A`, `%20`, `//`, a query with `%2F`).
"""
from __future__ import annotations

import re
from typing import Optional

from linter.model import compile_regex

from .handlers import ProxyRule, split_url
from .uri import Refused, alias_match, canonicalise, request_uri, split_target

_SAMPLE_TAIL = "/%40alice%3Aexample.org/x%20y//z/%24e"
_SAMPLE_QUERY = "?from=%2F&to=%40b"


def upstream_target(rule: ProxyRule, raw_target: str, encoded_slashes: str = "off") -> str:
    """The request target the upstream receives; raises Refused when Apache answers itself."""
    raw_path, query = split_target(raw_target)
    uri = request_uri(raw_path, encoded_slashes)
    suffix = f"?{query}" if query is not None else ""
    if rule.kind == "prefix":
        length = alias_match(uri, rule.pattern)
        if rule.nocanon and alias_match(raw_target, rule.pattern) == length:
            out = _join(rule, raw_target[length:])
            return _drop_query(out) if rule.noquery else out
        path = canonicalise(_join(rule, uri[length:]), encoded_slashes)
        return path + ("" if rule.noquery else suffix)
    rx = compile_regex(rule.pattern, not rule.nocase)
    if rx is None:
        raise ValueError(f"cannot read the regex {rule.pattern!r}")
    m = rx.search(uri)
    if m is None:
        raise ValueError(f"{rule.pattern!r} does not match {uri!r}")
    if rule.kind == "regex" and rule.nocanon:
        raw_match = rx.search(raw_target)
        if raw_match is not None:
            found = _substitute(rule.url, raw_match)
            if found == rule.url:
                found = rule.url + raw_target
            out = split_url(found)[1] or "/"
            return _drop_query(out) if rule.noquery else out
    found = _substitute(rule.url, m)
    if rule.kind == "regex" and found == rule.url:
        found = rule.url + uri
    path_and_query = split_url(found)[1] or "/"
    path, own_query = split_target(path_and_query)
    path = canonicalise(path, encoded_slashes)
    if rule.kind == "rewrite" and own_query is not None:
        return path + "?" + own_query
    return path + ("" if rule.noquery else suffix)


def _join(rule: ProxyRule, rest: str) -> str:
    """The target's path followed by the rest of the request; Refused(500) when they glue onto the
    port (`ProxyPass / http://127.0.0.1:8008` sends `…:8008_matrix/…`, an invalid URL)."""
    if rule.url_path:
        return rule.url_path + rest
    if rest and not rest.startswith(("/", "?")):
        raise Refused(500, f"`{rule.directive.name}` target `{rule.url}` has no path: Apache appends "
                           f"`{rest[:20]}` to the port and fails with 500")
    return "/" + rest if not rest.startswith("/") else rest


def _drop_query(target: str) -> str:
    return target.split("?", 1)[0]


def _substitute(template: str, m: re.Match) -> str:
    def one(g):
        index = int(g.group(1))
        if index > (m.re.groups or 0):
            return ""
        return m.group(index) or ""
    return re.sub(r"\$([0-9])", one, template)


def literal_prefix(pattern: str) -> str:
    """The literal start of a regex (`^/_matrix/(client|media)` → `/_matrix/`), for samples."""
    text = pattern[1:] if pattern.startswith("^") else pattern
    text = text.lstrip("(?:").lstrip("(")
    out = ""
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and not text[i + 1].isalnum():
            out += text[i + 1]
            i += 2
            continue
        if c in ".[](){}*+?|^$\\":
            break
        out += c
        i += 1
    return out if out.startswith("/") else "/" + out


def classify(rule: ProxyRule, encoded_slashes: str) -> tuple:
    """(Action.uri, reason) for a proxy rule: "original" when samples pass through untouched."""
    base = rule.pattern if rule.kind == "prefix" else literal_prefix(rule.pattern)
    samples = [base.rstrip("/") + _SAMPLE_TAIL + _SAMPLE_QUERY, base.rstrip("/") + "/a%2Fb"]
    changed: Optional[str] = None
    for sample in samples:
        try:
            uri = request_uri(sample.split("?")[0], encoded_slashes)
            if not rule.matches(uri):
                continue
            got = upstream_target(rule, sample, encoded_slashes)
        except Refused as refused:
            if refused.status == 500:
                return "normalized", refused.reason
            continue
        except ValueError:
            continue
        if got != sample:
            changed = got
            break
    if changed is None:
        return "original", ""
    name = rule.directive.name
    if rule.kind == "rewrite":
        return "normalized", (f"`{name} … [P]` builds the upstream URL from the decoded path (mod_rewrite "
                              f"has no `nocanon`): Apache decodes `%40`, merges `//`, resolves `..` and "
                              f"re-encodes the rest")
    if rule.noquery:
        return "normalized", f"`{name}` has `noquery`: Apache drops the query string"
    if not rule.nocanon:
        uri = "normalized" if rule.kind == "regex" or rule.url_path.rstrip("/") == rule.pattern.rstrip("/") \
            else "replaced"
        return uri, (f"`{name}` without `nocanon`: Apache decodes the path (`%40` → `@`), merges `//`, "
                     f"resolves `..` and re-encodes it before proxying")
    if rule.kind == "prefix" and rule.url_path != rule.pattern:
        return "replaced", (f"`{name}` maps `{rule.pattern}` to `{rule.url_path or '/'}`: the homeserver "
                            f"receives a different path")
    return "normalized", f"`{name}` rebuilds the URI from its regex captures"
