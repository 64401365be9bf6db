"""Walk a site's handler chain for one request the way Caddy's middleware chain runs it.

Routes run in order; a route whose matchers match runs its handlers; in a group only the first
matching route runs; a subroute runs its own routes and, if none of them answered, the chain
goes on after it. Handlers that answer (`respond`, `redir`, `error`, `abort`, `reverse_proxy`,
`file_server`, ...) end the walk; the others (`header`, `request_header`, `rewrite`, `uri`,
`vars`, `request_body`, authentication) change the state and go on.

A matcher the method and path cannot decide (host, header, remote_ip, expression, ...) is
treated as not matching unless `assume` says otherwise; it is listed in `Walk.unknowns`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from linter.caddy.matchers import path_matches, test_sets

ANSWERS = {"static_response", "error", "reverse_proxy", "file_server", "metrics", "acme_server"}
MAX_DEPTH = 16
ACME_PREFIX = "/acme/"       # acme_server's path prefix (caddypki/acmeserver defaultPathPrefix)


@dataclass
class Walk:
    method: str
    path: str                                       # the path as the handlers see it now
    terminal: Optional[object] = None               # the Handler that answered
    terminal_route: Optional[object] = None
    response_ops: list = field(default_factory=list)   # (Handler, op) applied, in order
    request_ops: list = field(default_factory=list)    # (Handler, op) from request_header
    rewrites: list = field(default_factory=list)       # (Handler, path before, path after)
    auth: list = field(default_factory=list)           # authentication / forward_auth handlers
    body_limit: Optional[object] = None                # request_body Handler
    root: Optional[str] = None
    patterns: list = field(default_factory=list)       # (pattern, span, rewritten) path matches
    assumed: list = field(default_factory=list)        # undecidable matchers taken as true
    unknowns: list = field(default_factory=list)       # undecidable matchers taken as false
    skipped_blocks: list = field(default_factory=list)  # undecided routes that would refuse
    notes: list = field(default_factory=list)          # what else the request's fate depends on
    entered: list = field(default_factory=list)        # subroute and invoke Handlers run through
    # `unknowns` by (kind, span): a chain with thousands of routes must not compare every new
    # unknown with all the others (that made 1,000 php_fastcgi lines take minutes).
    unknown_index: dict = field(default_factory=dict, repr=False, compare=False)

    def add_unknown(self, item) -> None:
        """Add a matcher or handler to `unknowns` unless an equal one is there already."""
        bucket = self.unknown_index.setdefault((getattr(item, "kind", None), item.span), [])
        if item not in bucket:
            bucket.append(item)
            self.unknowns.append(item)

    def key(self, pattern) -> tuple:
        return (id(self.terminal), tuple(id(op) for _, op in self.response_ops),
                tuple(id(h) for h, _, _ in self.rewrites), tuple(id(h) for h in self.auth),
                id(self.body_limit), tuple(sorted(id(m) for m in self.assumed)),
                tuple(id(r) for r in self.skipped_blocks), pattern)


def walk(routes: list, method: str, path: str, assume: Optional[dict] = None,
         named: Optional[dict] = None) -> Walk:
    state = Walk(method.upper(), path)
    _run(routes, state, assume or {}, named or {}, 0)
    return state


def _run(routes: list, state: Walk, assume: dict, named: dict, depth: int) -> bool:
    """True when a handler answered (the walk is over)."""
    if depth > MAX_DEPTH:
        return False
    matched_groups: set = set()
    for route in routes:
        if route.group and route.group in matched_groups:
            continue
        met: list = []
        result = test_sets(route.matchers, state.method, state.path, assume, met)
        for m in met:
            state.add_unknown(m)
        if result is None:
            if _refuses(route):
                state.skipped_blocks.append(route)
            continue
        if not result:
            continue
        _note_matched(route, state, assume)
        if route.group:
            matched_groups.add(route.group)
        for handler in route.handlers:
            if _handle(handler, route, state, assume, named, depth):
                return True
        if route.terminal:
            return False
    return False


def _note_matched(route, state: Walk, assume: dict) -> None:
    rewritten = bool(state.rewrites)
    for s in route.matchers or ():
        if s.test(state.method, state.path, assume) is not True:
            continue
        for m in s.matchers:
            if m.kind == "path":
                for p in m.args:
                    if path_matches(p, state.path):
                        state.patterns.append((p, m.span, rewritten))
                        break
            elif id(m) in assume and assume[id(m)] and m not in state.assumed:
                state.assumed.append(m)
        break


def _refuses(route) -> bool:
    """A route that would refuse the request (403 and the like, abort, basic auth)."""
    for h in route.handlers:
        if h.kind == "static_response" and (h.data.get("kind") == "abort" or (h.data.get("status") or 0) >= 400):
            return True
        if h.kind in ("error", "authentication"):
            return True
        if h.kind == "subroute" and any(_refuses(r) for r in h.routes or ()):
            return True
    return False


def _handle(h, route, state: Walk, assume: dict, named: dict, depth: int) -> bool:
    kind = h.kind
    if kind == "headers":
        for op in h.data.get("ops", ()):
            state.response_ops.append((h, op))
        for op in h.data.get("request_ops", ()):
            state.request_ops.append((h, op))
        return False
    if kind == "rewrite":
        before = state.path
        state.path = rewrite_path(h.data, state.path)
        if h.data.get("method") is None or h.data.get("uri") or h.data.get("strip_prefix") \
                or h.data.get("uri_op"):
            state.rewrites.append((h, before, state.path))
        return False
    if kind == "vars":
        if h.data.get("root"):
            state.root = h.data["root"]
        return False
    if kind == "authentication" or kind == "reverse_proxy" and h.data.get("forward_auth"):
        # Whether the check lets the request through depends on its credentials (or on the
        # auth service): by default it does; `assume[id(h)] = True` is the refusal.
        if assume.get(id(h)):
            if h not in state.assumed:
                state.assumed.append(h)
            state.terminal = h
            state.terminal_route = route
            return True
        state.add_unknown(h)
        state.auth.append(h)
        return False
    if kind == "request_body":
        state.body_limit = h
        return False
    if kind == "intercept":
        state.notes.append(f"{h.directive.span}: intercept may replace the response")
        return False
    if kind == "unknown":
        # A plugin's handler (a name standard Caddy refuses, unless the user named it as one of
        # their build's): what it does is not known, it may answer.
        state.notes.append(f"{h.directive.span}: `{h.data.get('name')}` is no standard Caddy handler "
                           f"(a plugin's?): it may answer the request or change it")
        return False
    if kind == "file_server" and h.data.get("pass_thru"):
        return False
    if kind == "subroute":
        state.entered.append(h)
        return _run(h.routes or [], state, assume, named, depth + 1)
    if kind == "invoke":
        state.entered.append(h)
        target = named.get(h.data.get("name"))
        return _run(target, state, assume, named, depth + 1) if target else False
    if kind == "acme_server" and not state.path.startswith(ACME_PREFIX):
        return False        # it serves /acme/ only and passes other requests on (acmeserver.go)
    if kind in ANSWERS:
        state.terminal = h
        state.terminal_route = route
        if kind == "reverse_proxy":
            state.notes.extend(proxy_notes(h))
        return True
    return False


def rewrite_path(data: dict, path: str) -> str:
    """The path after a rewrite handler, as far as it can be known without the file system."""
    if "strip_prefix" in data:
        prefix = data["strip_prefix"]
        if not prefix.startswith("/"):
            prefix = "/" + prefix
        if path.lower().startswith(prefix.lower()):
            rest = path[len(prefix):]
            return rest if rest.startswith("/") else "/" + rest
        return path
    if "strip_suffix" in data:
        suffix = data["strip_suffix"]
        return path[:-len(suffix)] if suffix and path.endswith(suffix) else path
    if "replace" in data:
        find, repl = data["replace"]
        return path.replace(find, repl)
    if "path_regexp" in data:
        find, repl = data["path_regexp"]
        try:
            return re.sub(find, re.sub(r"\$(\d+)", r"\\\1", repl), path)
        except re.error:
            return path
    uri = data.get("uri")
    if uri:
        target = uri.split("?", 1)[0]
        target = target.replace("{path}", path).replace("{http.request.uri.path}", path)
        if "{" in target or not target:
            return path     # depends on the file system or other placeholders: keep the path
        return target if target.startswith("/") else path
    return path


def proxy_notes(h) -> list:
    """What decides a reverse_proxy's answer besides the upstream's response."""
    notes = []
    where = h.directive.span
    if not h.data.get("upstreams") and not h.data.get("dynamic"):
        notes.append(f"{where}: reverse_proxy has no upstream here (an unset {{$VARIABLE}}?): Caddy answers 503")
    if h.data.get("health_checks"):
        notes.append(f"{where}: active health checks decide whether an upstream is available (else 503)")
    if h.data.get("transport"):
        notes.append(f"{where}: reverse_proxy transport `{h.data['transport']}`: not plain HTTP/1.1 to the upstream")
    if h.data.get("handle_response"):
        notes.append(f"{where}: handle_response replaces some upstream responses")
    return notes
