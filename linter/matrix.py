"""What the linter knows about Matrix: which requests matter, and which routes serve them.

Rules ask "does this route serve the Matrix API?" The answer comes from the server's own route
selection: a route serves Matrix if the server would pick it for one of the probe requests below
(real client, federation and media calls), or if its match names a Matrix prefix outright.
"""
from __future__ import annotations

from typing import Optional

from linter.model import WELL_KNOWN_CLIENT, WELL_KNOWN_SERVER, Config, Route, Site
from linter.select import select_route

CLIENT_PROBES = (
    ("GET", "/_matrix/client/versions"),
    ("PUT", "/_matrix/client/v3/rooms/!room:example.org/send/m.room.message/txn1"),
    ("GET", "/_synapse/client/oidc/callback"),
)
FEDERATION_PROBES = (
    ("GET", "/_matrix/federation/v1/version"),
    ("PUT", "/_matrix/federation/v1/send/txn1"),
    ("GET", "/_matrix/key/v2/server"),
)
UPLOAD_PROBES = (
    ("POST", "/_matrix/media/v3/upload"),
    ("POST", "/_matrix/client/v1/media/upload"),
    ("PUT", "/_matrix/federation/v1/send/txn1"),
)
ADMIN_PROBE = ("GET", "/_synapse/admin/v1/users/@admin:example.org")

CORS_PREFIX = "access-control-"
ACAO = "access-control-allow-origin"


# Upstreams that are Matrix homeservers by their usual names and ports.
_HOMESERVER_HINTS = ("synapse", "dendrite", "conduit", "continuwuity", "tuwunel", "matrix", ":8008", ":8448",
                     ":6167")


def site_serves_matrix(site: Site) -> bool:
    """Whether a site is part of a Matrix deployment at all: it names a Matrix path, listens on the
    federation port, or proxies to an upstream that looks like a homeserver. A catch-all proxy
    in front of some other application is not."""
    if any(l.port == 8448 for l in site.listens):
        return True
    for route in site.routes:
        if route.match.mentions_matrix():
            return True
        upstream = (route.action.upstream or "").lower() if route.action.kind == "proxy" else ""
        if any(h in upstream for h in _HOMESERVER_HINTS):
            return True
    return False


def annotate(config: Config) -> None:
    """Mark the routes the server would pick for Matrix requests (facts["selected_for_matrix"])."""
    for site in config.sites:
        if not site_serves_matrix(site):
            continue
        for method, path in CLIENT_PROBES + FEDERATION_PROBES + UPLOAD_PROBES:
            route, _ = select_route(site, method, path)
            if route is not None:
                for r in site.group_routes(route.group):
                    r.facts["selected_for_matrix"] = True
        for path in (WELL_KNOWN_CLIENT, WELL_KNOWN_SERVER):
            route, _ = select_route(site, "GET", path)
            if route is not None and route.action.kind == "proxy":
                route.facts["wellknown_proxied"] = True


def routes_for(site: Site, probes) -> list:
    """Distinct routes the site picks for the given probe requests, in probe order."""
    out: list = []
    for method, path in probes:
        route, _ = select_route(site, method, path)
        if route is not None and route not in out:
            out.append(route)
    return out


def wellknown_route(site: Site, path: str) -> Optional[Route]:
    """The route that answers a well-known path, if the config handles it explicitly."""
    route, _ = select_route(site, "GET", path)
    if route is None:
        return None
    # Only a route written for the well-known counts: a catch-all `respond "Hello"` or a
    # server-level return is not a delegation document.
    text = route.match.pattern + " " + route.match.text
    return route if "well-known" in text else None


def is_cors(name: str) -> bool:
    return name.lower().startswith(CORS_PREFIX)


def cors_routes(config: Config):
    """(site, route) pairs where CORS matters: Matrix API routes and the client well-known."""
    for site in config.sites:
        client = wellknown_route(site, WELL_KNOWN_CLIENT)
        for route in site.routes:
            if route.serves_matrix() or route is client or (
                    client is not None and route.group == client.group):
                yield site, route
