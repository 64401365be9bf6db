"""What one Apache server does with one request path: which handler answers, which sections apply.

`ServerModel` holds what the build step read from one server (the main server or a virtual host);
`resolve(model, method, path)` follows httpd's phases (see handlers.py for the order) and returns
a `Resolution`, which routes.py turns into the shared model's `Route`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from linter.model import Condition
from linter.syntax import Directive

from .handlers import ProxyRule, RewriteRule, alias_rules, conditions_hold, location_redirect, proxy_rule, \
    rewrite_rules
from .sections import Section, Server, is_on


@dataclass
class ServerModel:
    server: Server
    rewrites: list                 # RewriteRules of this virtual host (RewriteEngine On)
    proxies: list                  # ProxyRules: the main server's, then this server's
    redirects: list                # AliasRules (kind redirect): this server's, then the main server's
    aliases: list                  # AliasRules (kind alias)
    encoded_slashes: str           # off | on | nodecode (not inherited from the main server)
    encoded_slashes_directive: Optional[Directive]
    docroot: Optional[Directive]
    routes: dict = field(default_factory=dict)     # resolution key -> Route
    location_rules: dict = field(default_factory=dict)   # id(ProxyPass in a <Location>) -> ProxyRule
    ordered: list = field(default_factory=list)    # Routes in creation order
    server_name: str = ""
    # Unknowns around the whole server (the configuration that includes a snippet): every route
    # depends on them too (see unknowns.py).
    context_unknowns: list = field(default_factory=list)


@dataclass
class Resolution:
    handler: object                # ProxyRule | RewriteRule | AliasRule | None
    locations: tuple               # matching <Location> Sections, in merge order
    unknowns: list
    condition: Optional[Condition] = None
    excluded: Optional[Directive] = None     # the `ProxyPass … !` that stopped proxying
    method: str = "GET"            # the request method (core's default handling depends on it)

    @property
    def key(self) -> tuple:
        # Handlers written inside a <Location> are read afresh per request: key on the directive.
        return (id(getattr(self.handler, "directive", None)), tuple(id(s) for s in self.locations))


def server_model(server: Server) -> ServerModel:
    main = server.parent
    own_rewrites = rewrite_rules(server.body) if is_on(server.last("rewriteengine", inherit=False)) else []
    proxies = []
    for srv in ([main] if main is not None else []) + [server]:
        for d in srv.all("proxypass", "proxypassmatch"):
            rule = proxy_rule(d)
            if rule is not None:
                proxies.append(rule)
    redirects, aliases = alias_rules(server.body)
    if main is not None:
        more_redirects, more_aliases = alias_rules(main.body)
        redirects += more_redirects
        aliases += more_aliases
    slashes = server.last("allowencodedslashes", inherit=False)
    value = (slashes.args[0].lower() if slashes is not None and slashes.args else "off")
    if value not in ("on", "off", "nodecode"):
        value = "off"
    return ServerModel(server, own_rewrites, proxies, redirects, aliases, value, slashes,
                       server.last("documentroot"))


# -- the phases --------------------------------------------------------------------------

def resolve(model: ServerModel, method: str, path: str, request=None,
            force: Optional[RewriteRule] = None) -> Resolution:
    """Which handler Apache picks for `path` and which <Location>s apply.

    `request` (a linter.select.Request) lets RewriteConds on headers be decided; without it they
    are unknowns. `force` picks one conditional RewriteRule as if its conditions held.
    """
    server = model.server
    locations = tuple(s for s in server.locations() if s.applies_to_path(path))
    unknowns: list = []
    handler, condition = None, None
    for rule in model.rewrites:
        if not rule.matches(path):
            continue
        holds = True if rule is force else conditions_hold(rule, method, request)
        if holds is None:
            unknowns.append(rule.condition().text)
            continue
        if not holds:
            continue
        if rule.outcome == "pass":
            if rule.last:
                break          # `RewriteRule … - [L]`: rewriting stops, the other handlers still run
            continue
        handler = rule
        condition = rule.condition()
        break
    excluded = None
    if handler is None:
        handler, excluded = _proxy_handler(model, locations, path)
    if handler is None:
        handler = next((r for r in model.redirects if r.matches(path)), None)
    if handler is None:
        handler = next((a for a in model.aliases if a.matches(path)), None)
    # Fixups: a Redirect or a catch-all RewriteRule inside a matching <Location> replaces the answer.
    for section in locations:
        for d in section.body:
            late = location_redirect(d, section.pattern) if d.key.startswith("redirect") else None
            if late is not None:
                handler, condition = late, None
    perdir = _perdir_rewrite(locations, method, request, unknowns, force)
    if perdir is not None:
        handler, condition = perdir, perdir.condition()
    return Resolution(handler, locations, unknowns, condition, excluded, method.upper())


def _proxy_handler(model: ServerModel, locations: tuple, path: str):
    """(ProxyRule or None, the `!` exclusion that stopped proxying or None)."""
    for section in reversed(locations):
        d = next((x for x in reversed(section.body) if x.key == "proxypass"), None)
        if d is not None:
            rule = location_proxy_rule(model, section, d)
            if rule is None:
                continue
            return (None, d) if rule.excludes else (rule, None)
    for rule in model.proxies:
        if rule.matches(path):
            return (None, rule.directive) if rule.excludes else (rule, None)
    return None, None


def location_proxy_rule(model: ServerModel, section: Section, d: Directive) -> Optional[ProxyRule]:
    """The ProxyRule of a `ProxyPass` written inside `section` (read once per server)."""
    if id(d) not in model.location_rules:
        model.location_rules[id(d)] = proxy_rule(d, location=section.pattern, location_regex=section.regex)
    return model.location_rules[id(d)]


def _perdir_rewrite(locations: tuple, method: str, request, unknowns: list, force) -> Optional[RewriteRule]:
    """RewriteRules written in the last <Location> that has them (they replace outer ones)."""
    for section in reversed(locations):
        if not is_on(next((d for d in reversed(section.body) if d.key == "rewriteengine"), None)):
            continue
        for rule in rewrite_rules(section.body):
            if not rule.matches_everything():
                unknowns.append(f"RewriteRule {rule.pattern} inside {section.match.text}")
                continue
            holds = True if (force is not None and force.directive is rule.directive) else \
                conditions_hold(rule, method, request)
            if holds is None:
                unknowns.append(rule.condition().text)
                continue
            if holds and rule.outcome in ("proxy", "redirect", "status"):
                return rule
        return None
    return None
