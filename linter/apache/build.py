"""Build the proxy model from an Apache httpd syntax tree, with httpd 2.4's semantics.

- Sites are `<VirtualHost>`s (names from ServerName/ServerAlias, listeners from their addresses,
  TLS from `SSLEngine on`), plus the main server when requests can reach it (no virtual host at
  all, e.g. a conf-available snippet, or a `Listen` port no virtual host uses).
- Routes: Apache decides per request path (handlers.py gives the order: RewriteRule, a ProxyPass
  inside the last matching <Location>, ProxyPass lines in order, Redirect, Alias, DocumentRoot),
  and the <Location> sections that match add their headers and settings. Each distinct pair of
  (handler, matching <Location>s) is one Route; the build enumerates those reached by the paths
  the configuration names and by the Matrix probes, and `linter.apache.routing` builds any other
  on demand. Selection is `Site.selection = "apache"`.
- Headers follow mod_headers' two tables (headers.py); URIs follow mod_proxy (uri.py, upstream.py);
  `Action.forwarded_for` follows RequestHeader, then mod_proxy's own append (routes.forwarded_for).
- Default handling (routes.default_handling): a request no handler takes, with no DocumentRoot
  written, is answered by core's default handler as for a file that does not exist: 404 (GET,
  HEAD, POST), OPTIONS 200 with `Allow`, 405/400/501 for other methods, Apache's own page
  (`text/html; charset=iso-8859-1`). `Site.fallback` holds those answers at site level; selection
  returns them (`Route.fallback`) with the headers of the <Location>s that match.

Open world (unknowns.py): `Route.unknowns`, `Site.unknowns` and `Config.unknowns` hold the
includes and macros the front end could not read wherever their directives would apply. A file
without <VirtualHost> (other than apache2.conf/httpd.conf) is a snippet: it is modelled as the
main server, which is how httpd reads the body of a site, and its site and routes also depend on
`Unknown.including_context(tree.root)`.

Facts for Apache rules and tests: `Site.facts["apache_model"]` (resolve.ServerModel: handlers,
AllowEncodedSlashes), `["apache_server"]` (sections.Server), `["snippet"]` (a main server read
from a file without <VirtualHost>); `Route.facts["apache_handler"]`, `["apache_proxy"]` (the
ProxyRule, for upstream.upstream_target), `["apache_locations"]`, `["apache_excluded"]` (the
`ProxyPass … !` that stopped proxying) and `["encoded_slashes"]`, besides the shared ones.
Request-level answers the shared predictions cannot see (404 for `%2F`, a 500 for a target
without path) come from `routing.refusal(site, request, route)`.
"""
from __future__ import annotations

import os
import re
from typing import Optional

from linter.model import Config, Listen, Site, Unknown

from . import headers as mod_headers
from .handlers import rewrite_rules
from .resolve import ServerModel, resolve, server_model
from .routes import fallback_routes, route
from .sections import Server, is_on, main_and_virtual_hosts
from .unknowns import distinct, unknowns_in
from .upstream import literal_prefix
from linter.model import small_int

# Files that are a whole configuration: never "a snippet included by something we cannot see".
_ENTRY_NAMES = ("apache2.conf", "httpd.conf")


def build(tree, options: Optional[dict] = None) -> Config:
    options = options or {}
    notes: list = []
    main, vhosts = main_and_virtual_hosts(tree.directives, notes)
    sites = [_site(v, notes) for v in vhosts]
    used_ports = {l.port for s in sites for l in s.listens}
    listens = [_listen_directive(d) for d in main.all("listen")]
    listens = [l for l in listens if l is not None]
    main_site = None
    if not vhosts:
        # A file of directives alone (no <VirtualHost>): the main server, that is the body of a
        # site in whatever configuration includes it, which we cannot see (unknowns.py).
        context = [] if os.path.basename(tree.root) in _ENTRY_NAMES else [Unknown.including_context(tree.root)]
        main_site = _site(main, notes, listens, context)
        main_site.facts["snippet"] = not listens
    elif any(l.port not in used_ports and None not in used_ports for l in listens) and _has_handlers(main):
        main_site = _site(main, notes, [l for l in listens if l.port not in used_ports])
    if main_site is not None:
        sites.append(main_site)
    config = Config("apache", tree, sites, dict(options), notes)
    config.unknowns = distinct(unknowns_in(main.body))   # could add virtual hosts
    return config


def _has_handlers(server: Server) -> bool:
    return bool(server.all("proxypass", "proxypassmatch", "alias", "redirect", "redirectmatch", "rewriterule")
                or server.locations())


def _site(server: Server, notes: list, listens: Optional[list] = None, context: Optional[list] = None) -> Site:
    vhost = server.directive
    model = server_model(server)
    model.context_unknowns = list(context or [])
    names = []
    name_d = server.last("servername", inherit=False)
    if name_d is not None and name_d.args:
        names.append(_host(name_d.args[0]))
    for d in server.all("serveralias"):
        names += [_host(a) for a in d.args]
    model.server_name = names[0] if names else ""
    if vhost is not None:
        listens = [_address(a, vhost) for a in vhost.args]
    tls = is_on(server.last("sslengine", inherit=vhost is None))
    for l in listens or []:
        l.tls = l.tls or tls
    site = Site("apache", names=[n for n in names if n], listens=listens or [],
                span=vhost.span if vhost is not None else None, selection="apache")
    site.facts["apache_model"] = model
    site.facts["apache_server"] = server
    # Unseen regions that could add routes or site-wide settings: this level, then the global one.
    site.unknowns = distinct([u for body in reversed(_bodies(server)) for u in unknowns_in(body)]
                             + model.context_unknowns)
    site.headers = mod_headers.response_ops(
        [l for l in (mod_headers.read(d) for body in _bodies(server) for d in body if d.key == "header")
         if l is not None], "proxy")
    _enumerate_routes(site, model)
    site.fallback = fallback_routes(model)
    return site


def _bodies(server: Server) -> list:
    return ([server.parent.body] if server.parent is not None else []) + [server.body]


def _host(name: str) -> str:
    name = re.sub(r"^[a-z]+://", "", name, flags=re.I)
    if name.startswith("["):
        return name.split("]")[0] + "]"
    return name.split(":")[0].lower()


def _address(arg: str, d) -> Listen:
    """One `<VirtualHost>` address: `*:443`, `_default_:443`, `[::]:8448`, `1.2.3.4`, `*`."""
    host, port = arg, None
    m = re.match(r"^(\[[^\]]*\]|[^:]*)(?::([0-9]+|\*))?$", arg)   # ASCII digits, as httpd
    if m:
        host = m.group(1)
        port = small_int(m.group(2)) if m.group(2) and m.group(2).isdigit() else None
    address = None if host in ("*", "_default_", "") else host
    return Listen(port, address, default=host == "_default_", span=d.span)


def _listen_directive(d) -> Optional[Listen]:
    if not d.args:
        return None
    spec = d.args[0]
    m = re.match(r"^(?:(\[[^\]]*\]|[^:\[\]]+):)?([0-9]+)$", spec)   # ASCII digits, as httpd
    if not m:
        return None
    tls = len(d.args) > 1 and d.args[1].lower() == "https"
    return Listen(small_int(m.group(2)), m.group(1), tls=tls, span=d.span)


# -- routes -----------------------------------------------------------------------------

def _enumerate_routes(site: Site, model: ServerModel) -> None:
    """Build the routes the configuration's own paths and the Matrix probes reach."""
    from linter.matrix import ADMIN_PROBE, CLIENT_PROBES, FEDERATION_PROBES, UPLOAD_PROBES
    from linter.model import WELL_KNOWN_CLIENT, WELL_KNOWN_SERVER

    paths: list = []
    for method, path in CLIENT_PROBES + FEDERATION_PROBES + UPLOAD_PROBES + (ADMIN_PROBE,):
        paths.append(path)
    paths += [WELL_KNOWN_SERVER, WELL_KNOWN_CLIENT, "/"]
    for pattern, is_regex in _written_patterns(model):
        base = literal_prefix(pattern) if is_regex else pattern
        paths += [base, base.rstrip("/") + "/x"]
    seen: set = set()
    for path in paths:
        if path in seen or not path.startswith("/"):
            continue
        seen.add(path)
        route(model, resolve(model, "GET", path))
        for rule in _conditional_rules(model, path):
            route(model, resolve(model, "GET", path, force=rule))
    site.routes = list(model.ordered)


def _written_patterns(model: ServerModel):
    for rule in model.proxies:
        yield rule.pattern, rule.kind != "prefix"
    for rule in model.rewrites:
        yield rule.pattern.lstrip("!"), True
    for rule in model.redirects + model.aliases:
        yield rule.pattern, rule.regex
    for section in model.server.locations():
        yield section.pattern, section.regex or any(c in section.pattern for c in "*?[")


def _conditional_rules(model: ServerModel, path: str) -> list:
    out = [r for r in model.rewrites if r.conditions and r.matches(path)]
    server = model.server
    for section in server.locations():
        if section.applies_to_path(path) and is_on(next((d for d in section.body if d.key == "rewriteengine"), None)):
            out += [r for r in rewrite_rules(section.body) if r.conditions and r.matches_everything()]
    return out

