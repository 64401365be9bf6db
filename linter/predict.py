"""What a client sees: the response status and headers a route produces, and what the upstream receives.

`outcomes(route, request)` predicts the response for each situation that matters to a Matrix
client: the upstream answers normally, answers with an error, or is down (for proxy routes), or
the proxy answers itself. Each header points at the directive that adds it, or is marked as
coming from the upstream. The real-server tests hold these predictions against real servers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from linter.model import Route
from linter.select import Request

# What a Matrix homeserver sends itself on every response, errors included (Synapse; Dendrite and
# the Conduit family send the same ACAO): see ../shared/research/matrix-pitfalls.md §0.
HOMESERVER_CORS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE, OPTIONS"),
    ("Access-Control-Allow-Headers", "X-Requested-With, Content-Type, Authorization, Date"),
)


@dataclass
class Header:
    name: str
    value: str
    span: Optional[object] = None        # the directive that added it; None: from the upstream
    from_upstream: bool = False


@dataclass
class Outcome:
    when: str                      # "upstream-ok" | "upstream-error" | "upstream-down" | "proxy"
    status: Optional[int]
    headers: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def values(self, name: str) -> list:
        return [h.value for h in self.headers if h.name.lower() == name.lower()]


def upstream_is_homeserver(route: Route) -> bool:
    """Whether the route proxies to a Matrix homeserver, as far as the configuration shows
    (`linter.matrix.homeserver`: only a "yes" counts; "unsure" is not asserted)."""
    from linter.matrix import homeserver

    return route.action.kind == "proxy" and homeserver(route).yes


def outcomes(route: Optional[Route], request: Request, *, upstream_status: Optional[int] = None,
             upstream_down: bool = False, body_size: int = 0, homeserver: Optional[bool] = None) -> list:
    """The predicted responses. `homeserver` says whether the upstream is a Matrix homeserver;
    None lets the model decide from the route (the real-server tests know: their upstream is a
    fake Synapse)."""
    if route is None:
        return [Outcome("proxy", None, notes=["no route: the server's default handling (404 or static files)"])]
    action = route.action
    if route.max_body_size is not None and body_size > route.max_body_size and route.phase == "location":
        # nginx checks client_max_body_size as soon as the location is chosen, before the
        # location's own `return` or proxying; a server-level `return` runs earlier.
        return [_generated(route, request, "proxy", 413, _error_headers(route))]
    if action.kind in ("respond", "redirect"):
        return [_generated(route, request, "proxy", action.status, _own_headers(route))]
    if homeserver is None:
        homeserver = upstream_is_homeserver(route)
    if action.kind == "proxy":
        if upstream_down:
            return [_down(route, request)]
        if upstream_status is not None:
            return [_proxied(route, request, "upstream-ok" if upstream_status < 400 else "upstream-error",
                             upstream_status, homeserver)]
        ok_status = 204 if request.method == "OPTIONS" and homeserver else 200
        return [_proxied(route, request, "upstream-ok", ok_status, homeserver),
                _proxied(route, request, "upstream-error", 500, homeserver),
                _down(route, request)]
    if action.kind == "static":
        status = action.status if action.status is not None else 200
        out = _generated(route, request, "proxy", status, _own_headers(route))
        out.notes.append("static file: 200 when the file exists, 404 otherwise" if action.status is None
                         else f"static file: {status}, the server's answer for a file that is not there")
        return [out]
    return [Outcome("proxy", None, notes=["no action the model knows: the server's default handling"])]


def _down(route: Route, request: Request) -> Outcome:
    return _generated(route, request, "upstream-down", route.facts.get("upstream_down_status", 502), _error_headers(route))


def _error_headers(route: Route) -> list:
    ct = route.facts.get("error_content_type")
    return [Header("Content-Type", ct, None)] if ct else []


def _own_headers(route: Route) -> list:
    action = route.action
    headers = []
    if action.content_type:
        headers.append(Header("Content-Type", action.content_type, action.span))
    if action.kind == "redirect" and action.location:
        headers.append(Header("Location", action.location, action.span))
    return headers


def _generated(route: Route, request: Request, when: str, status: Optional[int], headers: list) -> Outcome:
    out = Outcome(when, status, list(headers))
    for op in route.headers:
        if status is not None and op.applies(status, generated=True):
            _apply(out, op, request)
    return out


def _proxied(route: Route, request: Request, when: str, status: int, homeserver: bool) -> Outcome:
    out = Outcome(when, status)
    if homeserver:
        out.headers = [Header(n, v, None, True) for n, v in HOMESERVER_CORS]
        if status != 204:   # a 204 has no body, so no Content-Type
            out.headers.append(Header("Content-Type", "application/json", None, True))
    else:
        out.notes.append("the upstream's own headers are unknown")
    for op in route.headers:
        if op.applies(status, generated=False):
            _apply(out, op, request)
    return out


def _apply(out: Outcome, op, request: Request) -> None:
    if op.condition:
        out.notes.append(f"{op.name}: only when {op.condition}")
    if op.mode in ("set", "remove"):
        out.headers = [h for h in out.headers if h.name.lower() != op.key]
    if op.mode in ("add", "set", "join") and op.value is not None:
        value = expand(op.value, request)
        if not value and not op.keep_empty:   # nginx adds nothing when the value comes out empty
            return
        existing = [h for h in out.headers if h.name.lower() == op.key]
        if op.mode == "join" and existing:
            existing[-1].value = f"{existing[-1].value}, {value}"
            existing[-1].span = op.span
            existing[-1].from_upstream = False
        else:
            out.headers.append(Header(op.name, value, op.span))


def expand(value: str, request: Request) -> str:
    """Substitute the request variables the model knows ($http_*, $host, $scheme)."""
    def one(m):
        name = m.group(1) or m.group(2)
        if name.startswith("http_"):
            return request.header(name[5:].replace("_", "-")) or ""
        known = {"scheme": request.scheme, "host": request.host}
        return known.get(name, m.group(0))
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, value)
