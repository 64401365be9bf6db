"""Which site and which route answer a request: the servers' selection rules, over the model.

`select(config, request)` returns a `Selection`. Site selection follows nginx's rules (listen port,
then exact name, leading wildcard, trailing wildcard, regex, then the default server); other
front ends that select differently set `Site.selection` and add their policy to `_POLICIES`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import unquote_to_bytes, urlsplit

from linter.model import Config, Route, Site, compile_regex


@dataclass
class Request:
    method: str
    scheme: str
    host: str
    port: int
    target: str                  # the raw request target as sent: path and query, undecoded
    headers: list = field(default_factory=list)   # [(name, value)]

    @classmethod
    def from_url(cls, method: str, url: str, headers=()) -> "Request":
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        # Keep the target exactly as written: urlsplit would not decode it, but be explicit.
        rest = url.split("//", 1)[1]
        slash = rest.find("/")
        target = rest[slash:] if slash >= 0 else "/"
        target = target.split("#", 1)[0] or "/"
        return cls(method.upper(), parts.scheme, parts.hostname, port, target, list(headers))

    @property
    def raw_path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> Optional[str]:
        return self.target.split("?", 1)[1] if "?" in self.target else None

    @property
    def path(self) -> str:
        """The path as servers match it: percent-decoded, slashes merged, dot segments resolved."""
        return normalize_path(self.raw_path)

    def header(self, name: str) -> Optional[str]:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def normalize_path(raw: str) -> str:
    decoded = unquote_to_bytes(raw).decode("utf-8", "surrogateescape")
    decoded = re.sub(r"/{2,}", "/", decoded)
    out: list = []
    for seg in decoded.split("/")[1:]:
        if seg == ".":
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    path = "/" + "/".join(out)
    if decoded.endswith(("/.", "/..")) and not path.endswith("/"):
        path += "/"
    return path


@dataclass
class Selection:
    site: Optional[Site]
    route: Optional[Route]
    unknowns: list = field(default_factory=list)   # conditions the model could not decide


def select(config: Config, request: Request) -> Selection:
    site = select_site(config.sites, request)
    if site is None:
        return Selection(None, None, ["no site listens on port %d" % request.port])
    route, unknowns = select_route(site, request.method, request.path)
    return Selection(site, route or fallback_route(site, request.method), unknowns)


def fallback_route(site: Site, method: str) -> Optional[Route]:
    """The server's default handling for a request no route takes (see `Site.fallback`)."""
    for route in site.fallback:
        if route.condition is None or route.condition.holds(method):
            return route
    return None


def select_site(sites: list, request: Request) -> Optional[Site]:
    on_port = [s for s in sites if _listens_on(s, request.port)]
    if not on_port:
        return None
    host = request.host.lower().rstrip(".")
    for test in (_exact, _leading_wildcard, _trailing_wildcard, _regex):
        for site in on_port:
            if any(test(name.lower(), host) for name in site.names):
                return site
    for site in on_port:
        if any(l.default and l.port == request.port for l in site.listens):
            return site
    return on_port[0]


def _listens_on(site: Site, port: int) -> bool:
    if not site.listens:
        return port == 80
    return any(l.port == port or l.port is None for l in site.listens)


def _exact(name, host):
    return not name.startswith(("~", "*", ".")) and not name.endswith("*") and name == host


def _leading_wildcard(name, host):
    if name.startswith("*."):
        return host.endswith(name[1:])
    if name.startswith("."):
        return host == name[1:] or host.endswith(name)
    return False


def _trailing_wildcard(name, host):
    return name.endswith(".*") and host.startswith(name[:-1])


def _regex(name, host):
    if not name.startswith("~"):
        return False
    rx = compile_regex(name[1:], False)
    return bool(rx and rx.search(host))


def select_route(site: Site, method: str, path: str):
    """(route, unknown conditions) for a normalised path.

    A front end whose server selects routes its own way sets `Site.selection = "<server>"` and
    provides `select_route(site, method, path)` in `linter/<server>/routing.py`.
    """
    policy = _POLICIES.get(site.selection)
    if policy is None:
        import importlib

        policy = importlib.import_module(f"linter.{site.selection}.routing").select_route
        _POLICIES[site.selection] = policy
    return policy(site, method, path)


def _variant(site: Site, primary: Route, method: str, unknowns: list) -> Route:
    """nginx `if` blocks inside a location: the last true one wins, one that returns stops."""
    chosen = primary
    for r in site.routes:
        if r.group != primary.group or r.condition is None:
            continue
        holds = r.condition.holds(method)
        if holds is None:
            unknowns.append(r.condition.text)
            continue
        if holds:
            chosen = r
            if r.action.kind in ("respond", "redirect"):
                break
    return chosen


def _server_phase(site: Site, method: str, unknowns: list) -> Optional[Route]:
    for r in site.routes:
        if r.phase != "server":
            continue
        holds = True if r.condition is None else r.condition.holds(method)
        if holds is None:
            unknowns.append(r.condition.text)
        elif holds:
            return r
    return None


def _nginx(site: Site, method: str, path: str):
    unknowns: list = []
    early = _server_phase(site, method, unknowns)
    if early is not None:
        return early, unknowns
    found, _ = _nginx_find(site, None, path)
    if found is None:
        return None, unknowns
    return _variant(site, found, method, unknowns), unknowns


def _nginx_find(site: Site, parent: Optional[int], path: str):
    """nginx's ngx_http_core_find_location: exact, longest prefix (recursing into it), regexes."""
    level = [r for r in site.routes
             if r.phase == "location" and r.condition is None and r.parent == parent]
    for r in level:
        if r.match.kind == "exact" and r.match.matches(path):
            return r, True
    prefixes = [r for r in level if r.match.kind == "prefix" and r.match.matches(path)]
    found = max(prefixes, key=lambda r: len(r.match.pattern)) if prefixes else None
    noregex = False
    if found is not None:
        noregex = found.facts.get("noregex", False)
        inner, done = _nginx_find(site, found.group, path)
        if done:
            return inner, True
        found = inner or found
    if not noregex:
        for r in level:
            if r.match.kind == "regex" and r.match.matches(path):
                inner, _ = _nginx_find(site, r.group, path)
                return inner or r, True
    return found, False


def _first_match(site: Site, method: str, path: str):
    unknowns: list = []
    for r in site.routes:
        if not r.match.matches(path):
            continue
        if r.condition is not None:
            holds = r.condition.holds(method)
            if holds is None:
                unknowns.append(r.condition.text)
                continue
            if not holds:
                continue
        return r, unknowns
    return None, unknowns


_POLICIES = {"nginx": _nginx, "first-match": _first_match}
