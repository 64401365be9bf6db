"""Build the proxy model from a Caddyfile tree, with Caddy 2's real semantics.

- Sites: one per site block and port (`sites.py`), named by the block's host names.
- Each site's handler chain is built like `caddy adapt` builds it (`chain.py`: directive order,
  groups, subroutes) and walked like Caddy runs it (`evaluate.py`).
- Routes: a model `Route` is one way through the chain — the handler that answers, together
  with the header operations, rewrites and checks met on the way, and the path pattern that led
  there. They are found by walking the chain for sample requests (every path pattern the site
  uses, the Matrix probe paths, every method a matcher names, and both outcomes of matchers the
  method and path cannot decide); `routing.select_route` walks the chain for any request and
  returns the route of that way.
- Response headers, as Caddy applies them (caddyhttp/headers, reverseproxy):
  a `header` without `defer` (and without a `-`, `?` or `>` field, which defer it) changes the
  response headers *before* the next handler runs: `reverse_proxy` then adds the upstream's own
  values beside it (mode "add"), and it stays on Caddy's own error responses (502, `error`).
  A deferred `header` runs when the response is written: it replaces the upstream's value
  ("set"/"remove") but never reaches an error that Caddy writes itself (no `handle_errors`).
  `header_down` edits only the upstream's headers. `handle_errors` routes add their own headers
  to the proxy's error responses.
- Content types: `respond` sends application/json for a JSON body, text/plain otherwise, and
  none for an empty body; file_server sends the type of the file's extension and none for a
  file without one (Go's sniffing is turned off). `Action.content_type == ""` means "Caddy
  sends no Content-Type"; None means the model does not know.
- Upstream requests: Caddy sends the client's URI untouched (it does not decode or merge
  slashes), HTTP/1.1, X-Forwarded-For/-Proto/-Host, and the client's Host (not to an https://
  upstream since v2.11); `handle_path`/`uri strip_prefix` remove a prefix, `rewrite`/`uri` change
  the path; `header_up` edits the request headers.
- X-Forwarded-For (`Action.forwarded_for`): reverse_proxy replaces the client's value unless the
  client is a trusted proxy (`servers { trusted_proxies }`, reverse_proxy's own
  `trusted_proxies`); `header_up` has the last word (forwarded.py).
- A request no handler answers gets an empty 200 with the non-deferred `header`s met on the
  way (`routes.fallback`): `Site.fallback`, and what `select_route` returns for such a request.
  Caddy has no default server: another host on a port no host-less site serves gets the same
  empty 200 from a catch-all `Site` with `facts["no_site"]` and no span (it is not written in
  the configuration; `routes` printers should say "other hosts" or leave it out).
- Plugin directives the user names (`options["caddy_directives"]`) are not refused
  (refusals.waive) and are handlers whose effect the walk does not know.
- Open world: an `import` the parser could not read stays in the tree as a leaf directive with
  `extra["unresolved"]`, and becomes an `Unknown` where its content would apply. At the top level
  (outside any block) it could add whole sites: `Config.unknowns`. In the global options block it
  could change every site: each `Site.unknowns`. Directly in a site block: that site's
  `Site.unknowns`. A route's `unknowns` are its site's, plus those written in the blocks around
  its answering handler, in the `handle`/`route`/... blocks the request runs through on its way,
  in the named routes it invokes and the `handle_errors` blocks its errors go to. A directive
  fragment (a snippet file, see parse.py) is the body of a site block we do not see:
  `Unknown.including_context` is in the site's, its routes' and the config's unknowns.
"""
from __future__ import annotations

from typing import Optional

from linter.caddy.chain import ChainBuilder, CRoute, Handler
from linter.caddy.evaluate import walk
from linter.caddy.matchers import ALL_METHODS, Matcher, MatcherSet, regex_samples, sample_paths
from linter.caddy.order import directive_order
from linter.caddy.refusals import waive
from linter.caddy.sites import GlobalOptions, site_blocks
from linter.caddy import routes as route_factory
from linter.model import Config, Listen, Site, Unknown, distinct_unknowns
from linter.syntax import Directive, Tree

PROBE_PATHS = (
    "/", "/index.html", "/_matrix/client/versions", "/_matrix/client/v3/rooms/x/send/m.room.message/t",
    "/_matrix/federation/v1/version", "/_matrix/federation/v1/send/t", "/_matrix/key/v2/server",
    "/_matrix/media/v3/upload", "/_matrix/client/v1/media/upload", "/_synapse/client/oidc/callback",
    "/_synapse/admin/v1/users/x", "/.well-known/matrix/server", "/.well-known/matrix/client",
    "/.well-known/matrix/support",
)
MAX_ASSUMPTIONS = 8


def build(tree: Tree, options: Optional[dict] = None) -> Config:
    options = dict(options or {})
    plugins = tuple(options.get("caddy_directives") or ())
    if plugins:
        # The user's Caddy build has these (plugins): it accepts them (see refusals.py).
        tree.errors[:] = waive(tree.errors, plugins)
    config = Config("caddy", tree, [], options, [])
    if any(e.message.startswith("Caddy v1 syntax") for e in tree.errors):
        config.notes.append("Caddy v1 file: not modelled (Caddy 2 does not read it)")
        return config
    opts = GlobalOptions.read(tree.directives)
    order = directive_order(opts.directives)
    named = {d.args[0]: d for d in tree.directives if d.name == "named_route" and d.args}
    chains = ChainBuilder(order, named)
    named_chains = {name: chains.site(d.block or []).routes for name, d in named.items()}
    scopes = _Scopes(tree)
    config.unknowns = scopes.top
    built: dict = {}
    for block in site_blocks(tree.directives, opts):
        d = block.directive
        if id(d) not in built:
            built[id(d)] = chains.site(d.block or [])
        chain = built[id(d)]
        site = Site("caddy", names=list(block.hosts), listens=block.listens, span=d.span,
                    selection="caddy")
        routes = chain.routes
        if block.paths:
            # `example.com/api/*`: the site's routes run only for these paths.
            sets = [MatcherSet([Matcher("path", list(block.paths), span=block.address_spans[0])],
                               " ".join(block.paths), block.address_spans[0])]
            routes = [CRoute(sets, [Handler("subroute", d, routes=chain.routes)])]
        site.facts.update({"chain": routes, "chain_errors": chain.errors, "named_routes": named_chains,
                           "block": block, "index": {}, "global_options": opts})
        site.unknowns = scopes.site(d)
        _enumerate(site)
        for route in site.routes:
            route.unknowns = scopes.route(site, route, named)
        config.sites.append(site)
    _no_site_for_other_hosts(config)
    for site in config.sites:
        if site.facts.get("no_site"):
            site.unknowns = distinct_unknowns(scopes.top + scopes.global_)
        site.fallback = [route_factory.fallback(site)]
    for d, problem in chains.problems:
        if d.name in plugins and problem.startswith("directive `"):
            problem = f"directive `{d.name}` comes from a plugin (--caddy-directive): not modelled"
        config.notes.append(f"{d.span}: {problem}")
    config.options.setdefault("caddy_order", order)
    return config


class _Scopes:
    """Where the unresolved imports of a tree apply (see "Open world" above)."""

    def __init__(self, tree: Tree):
        self.own: dict = {}          # id(block directive) -> Unknowns written directly in it
        self.parent: dict = {}       # id(directive) -> the directive whose block holds it
        self.top = [Unknown.from_unresolved(d.extra["unresolved"]) for d in tree.directives
                    if d.extra.get("unresolved")]
        self.fragment = any(d.extra.get("fragment") for d in tree.directives)
        self.context = [Unknown.including_context(tree.root)] if self.fragment else []
        self.top += self.context
        for d in tree.directives:
            self._visit(d)
        globals_ = [d for d in tree.directives if d.name == "global"]
        self.global_ = [u for d in globals_ for u in self.own.get(id(d), [])]

    def _visit(self, d: Directive) -> None:
        if d.block is None:
            return
        found = [Unknown.from_unresolved(c.extra["unresolved"]) for c in d.block if c.extra.get("unresolved")]
        if found:
            self.own[id(d)] = found
        for c in d.block:
            self.parent[id(c)] = d
            self._visit(c)

    def site(self, d: Directive) -> list:
        return distinct_unknowns(self.context + self.global_ + self.own.get(id(d), []))

    def route(self, site: Site, route, named: dict) -> list:
        out = list(site.unknowns)
        terminal = route.facts.get("terminal")
        d = terminal.directive if terminal is not None else None
        while d is not None:                       # the answering handler's block and those around it
            out += self.own.get(id(d), [])
            d = self.parent.get(id(d))
        state = route.facts.get("walk")
        met = []
        if state is not None:
            met = list(state.entered) + [h for h, _ in state.response_ops] + [h for h, _ in state.request_ops] \
                + [h for h, _, _ in state.rewrites] + list(state.auth) + [state.body_limit]
        for h in met + list(route.facts.get("error_entered", ())):
            if h is None:
                continue
            if h.kind == "invoke":
                target = named.get(h.data.get("name"))
                out += self._within(target) if target is not None else []
            else:
                out += self.own.get(id(h.directive), [])  # `handle { import x }`, `header { import x }`
        return distinct_unknowns(out)

    def _within(self, d: Directive) -> list:
        """Every unresolved import inside a block, at any depth (a named route's body)."""
        out = list(self.own.get(id(d), []))
        for c in d.block or ():
            out += self._within(c)
        return out




def _no_site_for_other_hosts(config: Config) -> None:
    """Caddy has no default server: on a port without a host-less site, a request for another
    host matches no route and gets an empty 200. An empty catch-all site per such port says so
    (linter.select would otherwise fall back to the port's first site, as nginx does)."""
    ports: dict = {}
    for site in config.sites:
        for listen in site.listens:
            ports.setdefault(listen.port, []).append(listen)
    for port, listens in ports.items():
        if port is None or any(l.default for l in listens):
            continue
        site = Site("caddy", names=[], listens=[Listen(port, None, any(l.tls for l in listens), default=True)],
                    selection="caddy", facts={"chain": [], "chain_errors": [], "named_routes": {}, "index": {},
                                              "no_site": True})
        config.sites.append(site)


def _enumerate(site: Site) -> None:
    """Walk the chain for sample requests; every distinct way through it becomes a route."""
    routes = site.facts["chain"]
    named = site.facts["named_routes"]
    methods = _methods_named(routes) | _methods_named([r for rs in named.values() for r in rs])
    other = sorted(ALL_METHODS - methods)
    tried = [(m, frozenset({m})) for m in sorted(methods)]
    if other:
        tried.append((other[0], frozenset(other)))
    seen: dict = {}
    for path in _sample_paths(routes, named):
        for method, stands_for in tried:
            queue, done = [{}], 0
            while queue and done < MAX_ASSUMPTIONS:
                assume = queue.pop(0)
                done += 1
                state = walk(routes, method, path, assume, named)
                if state.terminal is not None:
                    key = route_factory.key_of(state)
                    seen.setdefault(key, [state, set()])[1].update(stands_for)
                for m in state.unknowns:
                    if id(m) not in assume and len(queue) < MAX_ASSUMPTIONS:
                        queue.append({**assume, id(m): True})
    # Routes in the order Caddy tries their answering handlers (depth first through the chain).
    position = _handler_positions(routes, named)
    ordered = sorted(seen.items(), key=lambda item: position.get(id(item[1][0].terminal), len(position)))
    for key, (state, covered) in ordered:
        route_factory.add_route(site, key, state, frozenset(covered))


def _handler_positions(routes: list, named: dict) -> dict:
    positions: dict = {}
    invoked: set = set()

    def visit(rs):
        for r in rs:
            for h in r.handlers:
                positions.setdefault(id(h), len(positions))
                if h.routes:
                    visit(h.routes)
                name = h.data.get("name") if h.kind == "invoke" else None
                if name in named and name not in invoked:     # named routes may invoke each other
                    invoked.add(name)
                    visit(named[name])
    visit(routes)
    return positions


def _methods_named(routes: list) -> set:
    out: set = set()

    def visit_sets(sets):
        for s in sets or ():
            for m in s.matchers:
                if m.kind == "method":
                    out.update(a.upper() for a in m.args if a.upper() in ALL_METHODS)
                visit_sets(m.sets)

    def visit(rs):
        for r in rs:
            visit_sets(r.matchers)
            for h in r.handlers:
                if h.routes:
                    visit(h.routes)
    visit(routes)
    return out


def _sample_paths(routes: list, named: dict) -> list:
    found: list = list(PROBE_PATHS)

    def add(p):
        if p not in found:
            found.append(p)

    def visit_sets(sets):
        for s in sets or ():
            for m in s.matchers:
                if m.kind == "path":
                    for p in m.args:
                        if "{" not in p:
                            for sample in sample_paths(p):
                                add(sample)
                elif m.kind == "path_regexp" and m.args:
                    for sample in regex_samples(m.args[-1]):
                        add(sample)
                visit_sets(m.sets)

    def visit(rs):
        for r in rs:
            visit_sets(r.matchers)
            for h in r.handlers:
                if h.routes:
                    visit(h.routes)
                prefix = h.data.get("strip_prefix") if h.kind == "rewrite" else None
                if prefix:
                    for p in list(found):
                        add(prefix.rstrip("/") + p)
    visit(routes)
    for rs in named.values():
        visit(rs)
    return found
