"""What the linter knows about Matrix: which requests matter, and which routes serve them.

Rules ask "does this route serve the Matrix API?" The answer comes from the server's own route
selection: a route serves Matrix if the server would pick it for one of the probe requests below
(real client, federation and media calls), or if its match names a Matrix prefix outright.

They also ask "is this route's upstream a homeserver?" (`homeserver(route)`): a catch-all
`location /` next to the Matrix locations takes Matrix probes too, but usually proxies to some
other application. `annotate` decides it from the evidence the configuration holds and keeps the
answer ("yes", "no" or "unsure", with the evidence in words) in `Route.facts["homeserver"]`.
Rules that say what the homeserver needs assert only on "yes".
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Optional

from linter.model import WELL_KNOWN_CLIENT, WELL_KNOWN_SERVER, Config, Route, Site
from linter.select import select_route
from linter.syntax import walk

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
# Requests only the homeserver itself answers.
CORE_PROBES = (("GET", "/_matrix/client/versions"), ("GET", "/_matrix/federation/v1/version"))

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
    """Mark the routes the server would pick for Matrix requests (facts["selected_for_matrix"]),
    and decide for every proxying route whether its upstream is a homeserver (facts["homeserver"])."""
    for site in config.sites:
        if not site_serves_matrix(site):
            continue
        for method, path in CLIENT_PROBES + FEDERATION_PROBES + UPLOAD_PROBES:
            route, _ = select_route(site, method, path)
            if route is not None:
                for r in site.group_routes(route.group):
                    r.facts["selected_for_matrix"] = True
                    r.facts.setdefault("selected_for_matrix_by", f"{method} {path}")
        for path in (WELL_KNOWN_CLIENT, WELL_KNOWN_SERVER):
            route, _ = select_route(site, "GET", path)
            if route is not None and route.action.kind == "proxy":
                route.facts["wellknown_proxied"] = True
    evidence = _Evidence(config)
    for site in config.sites:
        for route in (*site.routes, *site.fallback):
            if route.action.kind == "proxy":
                route.facts["homeserver"] = evidence.decide(site, route)


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


# ---------------------------------------------------------------------------------------------
# Is this upstream a homeserver?

HOMESERVER_NAMES = ("synapse", "dendrite", "conduit", "conduwuit", "tuwunel", "continuwuity")
# Synapse's and the Conduit family's listeners (8008; 8448 for federation) and Conduit's 6167.
# 8080 is common for homeservers and for everything else: it counts only with Matrix paths
# routed to it, which is evidence of its own.
HOMESERVER_PORTS = {8008: "Synapse's default HTTP port", 8448: "the Matrix federation port",
                    6167: "Conduit's default port"}
_LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]", "ip6-localhost"}


@dataclass(frozen=True)
class Homeserver:
    """Whether a route's upstream is a Matrix homeserver: "yes", "no" or "unsure", and why."""

    answer: str
    evidence: tuple = ()
    # Which homeserver the evidence names ("synapse", "dendrite", "conduit" for the Conduit
    # family), None when it does not say: what it trusts in X-Forwarded-For differs.
    software: Optional[str] = None

    @property
    def yes(self) -> bool:
        return self.answer == "yes"

    def describe(self) -> str:
        what = {"yes": "is a homeserver", "no": "is not a homeserver",
                "unsure": "may or may not be a homeserver (not asserted)"}[self.answer]
        return f"the upstream {what}: " + "; ".join(self.evidence) if self.evidence else f"the upstream {what}"


def homeserver(route: Route) -> Homeserver:
    """The decision `annotate` made for a proxying route. A model that was not annotated (a rule
    test building routes by hand) gets the route's own evidence only: a Matrix path in its match."""
    if route.action.kind != "proxy":
        return Homeserver("no", ("the route does not proxy",))
    found = route.facts.get("homeserver")
    if found is not None:
        return found
    if route.match.mentions_matrix():
        return Homeserver("yes", (f"its match `{route.match}` names a Matrix path",))
    return Homeserver("unsure", ("the configuration was not examined",))


def why_matrix(route: Route) -> Optional[str]:
    """Why a route counts as serving Matrix, in words; None when it does not."""
    if route.match.mentions_matrix():
        return f"its match `{route.match}` names a Matrix path"
    if route.facts.get("selected_for_matrix"):
        probe = route.facts.get("selected_for_matrix_by", "a Matrix request")
        return f"the server picks it for Matrix requests (`{probe}`) in a site that serves Matrix"
    return None


def upstream_addresses(config: Config, upstream: Optional[str], groups: Optional[dict] = None) -> tuple:
    """(names, addresses) an upstream stands for: the upstream as written (without scheme and
    path) and, for a named group (nginx `upstream`, an HAProxy backend, an Apache balancer),
    its servers' names and `host:port` addresses. `groups` is `upstream_groups(config)`, when
    the caller asks for many upstreams."""
    key = _upstream_key(upstream)
    if not key:
        return (), ()
    names, addresses = [key], [_address(key)]
    more_names, more_addresses = (groups if groups is not None else upstream_groups(config)).get(key, ((), ()))
    names += more_names
    addresses += more_addresses
    return tuple(dict.fromkeys(names)), tuple(a for a in dict.fromkeys(addresses) if a)


def upstream_groups(config: Config) -> dict:
    """Named upstream groups in one walk of the configuration: key -> (server names, addresses)."""
    groups: dict = {}
    for d in walk(config.tree.directives):
        name = d.name.lower()
        if not d.args:
            continue
        if config.server == "nginx" and name == "upstream":
            entry = groups.setdefault(d.args[0].lower(), ([], []))
            entry[1].extend(_address(c.args[0]) for c in d.children("server") if c.args)
        elif config.server == "haproxy" and name in ("backend", "listen"):
            entry = groups.setdefault(d.args[0].lower(), ([], []))
            for c in d.block or ():
                if c.name.lower() == "server" and len(c.args) >= 2:
                    entry[0].append(c.args[0].lower())
                    entry[1].append(_address(c.args[1]))
        elif config.server == "apache" and name == "proxy" and d.args[0].lower().startswith("balancer:"):
            entry = groups.setdefault(_upstream_key(d.args[0]), ([], []))
            entry[1].extend(_address(c.args[0]) for c in d.block or ()
                            if c.name.lower() == "balancermember" and c.args)
    return groups


def _upstream_key(upstream: Optional[str]) -> str:
    """`http://127.0.0.1:8008/_matrix` -> `127.0.0.1:8008`; a backend name stays as it is."""
    text = (upstream or "").strip().lower()
    if not text or "$" in text or "{" in text:
        return ""                               # built at run time: nothing to compare
    text = text.split()[0]
    if text.startswith("unix") or "unix:" in text:
        return text                             # a socket: its path is its name
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    return text.split("/", 1)[0]


def _address(text: str) -> str:
    """host:port with loopback names made equal; the port is kept as written, '' when absent."""
    text = _upstream_key(text)
    if not text or text.startswith("unix") or "unix:" in text:
        return text
    m = re.fullmatch(r"(\[[^\]]*\]|[^:]*)(?::(\d+))?", text)
    if not m:
        return text
    host, port = m.group(1), m.group(2) or ""
    if host in _LOOPBACK or host.startswith("127.") or host in ("*", "0.0.0.0", ""):
        host = "loopback" if host not in ("*", "0.0.0.0", "") else host
    return f"{host}:{port}"


def _software(names, addresses) -> Optional[str]:
    """The homeserver the upstream's names or ports name, if they name exactly one kind."""
    found = set()
    for text in (*names, *addresses):
        if "synapse" in text:
            found.add("synapse")
        if "dendrite" in text:
            found.add("dendrite")
        if any(h in text for h in ("conduit", "tuwunel", "continuwuity")) or _port(text) == 6167:
            found.add("conduit")
    return found.pop() if len(found) == 1 else None


# Paths under /_matrix that other services answer: an identity server, a push gateway, tools that
# hook into the proxy (matrix-corporal's own API, maubot's management UI).
_OTHER_SERVICES = (("/_matrix/identity", "an identity server"), ("/_matrix/push", "a push gateway"),
                   ("/_matrix/corporal", "matrix-corporal's own API"), ("/_matrix/maubot", "maubot"))


def _other_service(route: Route) -> Optional[str]:
    pattern = route.match.pattern if route.match.kind in ("exact", "prefix") else ""
    pattern = (pattern or "").rstrip("*")
    for prefix, what in _OTHER_SERVICES:
        if pattern.startswith(prefix):
            return what
    return None


def _port(address: str) -> Optional[int]:
    m = re.search(r":(\d+)$", address or "")
    return int(m.group(1)) if m else None


def _where(route: Route) -> str:
    span = route.span or route.action.span
    return f"{span.path}:{span.line}" if span is not None else "elsewhere"


class _Evidence:
    """What a configuration says about its upstreams, gathered once."""

    def __init__(self, config: Config):
        self.config = config
        self._resolved: dict = {}
        self._groups = upstream_groups(config)
        # Upstreams that explicitly receive Matrix paths: a route whose match names one.
        self.matrix_routes = [r for site in config.sites for r in site.routes
                              if r.action.kind == "proxy" and r.match.mentions_matrix()]
        # The homeserver's own routes: where a site sends the client and federation APIs
        # themselves, by a match written for Matrix. A route for one Matrix path of another
        # service (`/_matrix/identity` to an identity server, the user directory to a bridge) is
        # not one of them, and another site may front another server.
        self.core_routes = []
        self._api_routes: dict = {}     # id(site) -> ids of the routes it picks for CORE_PROBES
        for site in config.sites:
            picked = set()
            for method, path in CORE_PROBES:
                route, _ = select_route(site, method, path)
                if route is None:
                    continue
                picked.add(id(route))
                if route.action.kind == "proxy" and route.match.mentions_matrix() and route not in self.core_routes:
                    self.core_routes.append(route)
            self._api_routes[id(site)] = picked
        self.delegations = list(self._delegations())

    def resolve(self, upstream):
        if upstream not in self._resolved:
            self._resolved[upstream] = upstream_addresses(self.config, upstream, self._groups)
        return self._resolved[upstream]

    def same(self, a, b) -> bool:
        na, aa = self.resolve(a)
        nb, ab = self.resolve(b)
        if not na or not nb:
            return False
        return na[0] == nb[0] or bool(set(aa) & set(ab))

    def decide(self, site: Site, route: Route) -> Homeserver:
        upstream = route.action.upstream
        names, addresses = self.resolve(upstream)
        if (upstream, "software") not in self._resolved:
            self._resolved[(upstream, "software")] = _software(names, addresses)
        software = self._resolved[(upstream, "software")]
        other_service = _other_service(route)
        if other_service:
            return Homeserver("no", (f"its match `{route.match}` is the path of {other_service}, not of the "
                                     f"homeserver",), None)
        if route.match.mentions_matrix():
            return Homeserver("yes", (f"its match `{route.match}` sends Matrix paths to it",), software)
        if not names:
            return Homeserver("unsure", (f"the upstream `{upstream}` is built at run time" if upstream else
                                         "the upstream is not known",))
        other = self._matrix_route_to(names[0], addresses)
        if other is not None:
            return Homeserver("yes", (f"`{other.match}` ({_where(other)}) sends Matrix paths to the same "
                                      f"upstream",), software)
        weak = []
        for name in (*names, *addresses):
            hit = next((h for h in HOMESERVER_NAMES if h in name), None)
            if hit:
                weak.append(f"its name `{name}` is a homeserver's ({hit})")
                break
        for address in addresses:
            port = _port(address)
            if port in HOMESERVER_PORTS:
                weak.append(f"port {port} is {HOMESERVER_PORTS[port]}")
                break
            if port == 8080 and self._takes_matrix_api(site, route):
                weak.append("port 8080, a common homeserver port, and the site's Matrix API requests reach it")
                break
        elsewhere = [r for r in self._site_core_routes(site) if not self.same(upstream, r.action.upstream)]
        if elsewhere:
            other = elsewhere[0]
            against = (f"the Matrix API goes to `{other.action.upstream}` (`{other.match}`, {_where(other)}), "
                       f"and no Matrix path is routed to `{upstream}`")
            if weak:
                return Homeserver("unsure", (*weak, against))
            return Homeserver("no", (against,))
        if weak:
            return Homeserver("yes", tuple(weak), software)
        site_evidence = self._site_evidence(site, route)
        if site_evidence:
            return Homeserver("yes", (site_evidence,), software)
        return Homeserver("unsure", (f"nothing in the configuration says what `{upstream}` is",))

    def _matrix_route_to(self, key: str, addresses) -> Optional[Route]:
        """A route whose match names a Matrix path and that proxies to this upstream (by its
        name or one of its addresses): indexed once, so a large configuration stays linear."""
        if not hasattr(self, "_by_key"):
            self._by_key, self._by_address = {}, {}
            for r in self.matrix_routes:
                n, a = self.resolve(r.action.upstream)
                if n:
                    self._by_key.setdefault(n[0], r)
                    for address in a:
                        self._by_address.setdefault(address, r)
        found = self._by_key.get(key)
        if found is None:
            found = next((self._by_address[a] for a in addresses if a in self._by_address), None)
        return found

    def _site_core_routes(self, site: Site) -> list:
        picked = self._api_routes.get(id(site), ())
        return [r for r in self.core_routes if id(r) in picked]

    def _takes_matrix_api(self, site: Site, route: Route) -> bool:
        """Whether the site sends the client or federation API itself (CORE_PROBES) to this route."""
        return id(route) in self._api_routes.get(id(site), ())

    def _site_evidence(self, site: Site, route: Route) -> Optional[str]:
        """Matrix requests to this site reach this route, and the site is the Matrix server: it
        listens on the federation port, or a well-known document delegates to it."""
        if not route.facts.get("selected_for_matrix"):
            return None
        if any(l.port == 8448 for l in site.listens):
            return "the site listens on the federation port 8448 and its Matrix requests reach this route"
        for host, port, where in self.delegations:
            if host in [n.lower() for n in site.names] and (
                    port is None or not site.listens or any(l.port in (port, None) for l in site.listens)):
                return (f"the well-known at {where} delegates to `{host}`, and this site's Matrix requests "
                        f"reach this route")
        return None

    def _delegations(self):
        """(host, port, where) each well-known document the proxy answers itself points at."""
        for site in self.config.sites:
            for route in site.routes:
                action = route.action
                if action.kind != "respond" or not action.body or "well-known" not in (
                        route.match.pattern + route.match.text):
                    continue
                try:
                    doc = json.loads(action.body)
                except (ValueError, RecursionError):
                    continue
                if not isinstance(doc, dict):
                    continue
                where = _where(route)
                server = doc.get("m.server")
                if isinstance(server, str):
                    host, _, port = server.strip().lower().rpartition(":") if re.search(r":\d+$", server) \
                        else (server.strip().lower(), "", "8448")
                    yield host, int(port), where
                hs = doc.get("m.homeserver")
                if isinstance(hs, dict) and isinstance(hs.get("base_url"), str):
                    m = re.match(r"(https?)://([^/:]+)(?::(\d+))?", hs["base_url"].strip().lower())
                    if m:
                        yield m.group(2), int(m.group(3) or (443 if m.group(1) == "https" else 80)), where
