"""Which route of an HAProxy site answers a request: the first whose condition holds.

A site's routes are already in HAProxy's evaluation order (build.py): the frontend's final
`http-request` rules (return, redirect, deny, auth, tarpit), its `redirect` rules, then each
`use_backend` rule followed by that backend's own final rules, then `default_backend`. Each route
carries its whole test (`facts["haproxy_test"]`, see conditions.py); the site carries what its
host, TLS and port make known (`facts["context"]`). A test that cannot be decided is reported
as an unknown and the search goes on, as `linter.select` does for the other servers.

`relative(expr, site, route)` asks the same question for a header or rewrite rule: does its
condition hold for the requests this route answers? It evaluates the condition on probe requests
(Matrix API calls, well-known documents, paths taken from the route's own match) that reach the
route, and answers True, False, or None when it depends on the request.

`select_request(site, request)` answers for a whole request (what `trace` and the differential
tests use): the raw path, as HAProxy's path ACLs see it, and the TLS server name.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Optional

from linter.haproxy.conditions import Context, evaluate, kinds

PROBE_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS")
PROBE_PATHS = (
    "/", "/index.html", "/health",
    "/_matrix/client/versions", "/_matrix/client/v3/sync",
    "/_matrix/client/v3/rooms/!room:example.org/send/m.room.message/txn1",
    "/_matrix/client/v1/media/upload", "/_matrix/media/v3/upload",
    "/_matrix/federation/v1/version", "/_matrix/federation/v1/send/txn1", "/_matrix/key/v2/server",
    "/_synapse/client/oidc/callback", "/_synapse/admin/v1/users/@admin:example.org",
    "/.well-known/matrix/server", "/.well-known/matrix/client",
)


def site_context(site, method: Optional[str] = None, path: Optional[str] = None) -> Context:
    known = site.facts.get("context", {})
    return Context(method=method, path=path, host=known.get("host"), tls=known.get("tls"),
                   port=known.get("port"))


def select_request(site, request):
    """(route, unknowns) for a whole request (`linter.select.Request`), as HAProxy decides it:
    path ACLs test the path as received (`request.raw_path`: not decoded, `//` kept), and the TLS
    server name is the request's host (what clients send)."""
    ctx = site_context(site, request.method.upper(), request.raw_path)
    if request.scheme == "https" and site.facts.get("context", {}).get("tls") is not False:
        ctx.sni = request.host.lower()
    elif request.scheme == "http":
        ctx.sni = ""
    return _first(site, ctx)


def select_route(site, method: str, path: str):
    return _first(site, site_context(site, method.upper(), path))


def _first(site, ctx):
    unknowns: list = []
    for route in site.routes:
        value = evaluate(route.facts["haproxy_test"], ctx)
        if value is None:
            text = route.facts.get("haproxy_test_text") or "a condition"
            if text not in unknowns:
                unknowns.append(text)
            continue
        if value:
            return route, unknowns
    return None, unknowns


def probes_for(route) -> list:
    """Probe paths: the fixed set plus paths made from the route's own match."""
    paths = list(PROBE_PATHS)
    match = route.match
    if match.kind in ("exact", "prefix") and match.pattern:
        paths += [match.pattern, match.pattern.rstrip("/") + "/x", match.pattern + "x"]
    elif match.kind == "regex":
        literal = re.match(r"\^?((?:[\w/.\-@!:]|\\[./-])+)", match.pattern)
        if literal:
            text = literal.group(1).replace("\\", "")
            paths += [text, text.rstrip("/") + "/x"]
    return list(dict.fromkeys(paths))


class Reach:
    """Which probe requests an earlier route of the site surely takes (memoised per probe)."""

    def __init__(self, site):
        self.site = site
        self.memo: dict = {}            # (method, path) -> (routes looked at, taken)

    def taken(self, method: str, path: str, upto: int) -> bool:
        seen, taken = self.memo.get((method, path), (0, False))
        if not taken and seen < upto:
            ctx = site_context(self.site, method, path)
            for route in self.site.routes[seen:upto]:
                if evaluate(route.facts["haproxy_test"], ctx) is True:
                    taken = True
                    break
            self.memo[(method, path)] = (upto, taken)
        return taken

    def contexts(self, route, index: int) -> list:
        """Contexts of the probe requests that may take `route`, the site's route number `index`."""
        test = route.facts["haproxy_test"]
        may, reach = [], []
        for path in probes_for(route):
            for method in PROBE_METHODS:
                ctx = site_context(self.site, method, path)
                if evaluate(test, ctx) is False:
                    continue
                may.append(ctx)
                if not self.taken(method, path, index):
                    reach.append(ctx)
        return reach or may


def relative(expr, contexts: list, site) -> Optional[bool]:
    """Does `expr` hold on every one of `contexts` (True), on none (False), or it depends (None)?"""
    if not contexts:
        return evaluate(expr, site_context(site))
    values = {evaluate(expr, ctx) for ctx in contexts}
    if len(values) == 1:
        return values.pop()
    return None


def relative_statuses(expr, contexts: list, site):
    """For a response rule's condition: (True/False/None, statuses or None for all).

    It is evaluated as HAProxy does in response rules (tests on the request's path or headers
    never match there). A condition on `status` becomes the set of statuses where it holds for
    every probe request."""
    contexts = [replace(ctx, phase="response") for ctx in contexts or [site_context(site)]]
    if "status" not in kinds(expr):
        return relative(expr, contexts, site), None
    statuses, unknown = set(), False
    for status in range(100, 600):
        values = set()
        for ctx in contexts:
            ctx.status = status
            values.add(evaluate(expr, ctx))
            ctx.status = None
        if values == {True}:
            statuses.add(status)
        elif values != {False}:
            unknown = True
    if unknown:
        return None, None
    if not statuses:
        return False, None
    if len(statuses) == 500:
        return True, None
    return True, frozenset(statuses)
