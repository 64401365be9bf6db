"""The shared model's `Route` for one Apache resolution: action, headers, access, facts.

`route(model, resolution)` builds a Route once per distinct (handler, matching <Location>s) pair
and caches it on the ServerModel, so every request Apache handles the same way gets the same Route.
Settings merge as httpd merges per-directory configuration: the main server, the server, then
<Proxy> (proxied requests) or <Directory>/<Files> (files), then each matching <Location>.
"""
from __future__ import annotations

import itertools
import os
from typing import Optional

from linter.model import Action, HeaderOp, Match, Route
from linter.syntax import Directive

from . import headers as mod_headers
from .handlers import AliasRule, ProxyRule, RewriteRule
from .resolve import Resolution, ServerModel
from .sections import Server, is_on, words
from .unknowns import distinct, unknowns_in
from .upstream import classify

GENERATED_TYPE = "text/html"            # Apache's own error and redirect pages (charset=iso-8859-1)
# What /etc/mime.types says for the extensions a Matrix proxy serves; unknown ones stay unknown.
MIME = {"json": "application/json", "txt": "text/plain", "html": "text/html", "htm": "text/html",
        "css": "text/css", "js": "text/javascript", "svg": "image/svg+xml", "png": "image/png",
        "ico": "image/vnd.microsoft.icon", "xml": "application/xml", "webmanifest": "application/manifest+json"}
_group_counter = itertools.count(1)


def route(model: ServerModel, res: Resolution) -> Route:
    key = res.key
    found = model.routes.get(key)
    if found is None:
        found = _build_route(model, res)
        model.routes[key] = found
        model.ordered.append(found)
    return found


def _build_route(model: ServerModel, res: Resolution) -> Route:
    handler = res.handler
    server = model.server
    proxy = _as_proxy(handler)
    if proxy is not None:
        action = _proxy_action(model, proxy, res.locations)
        kind = "proxy"
    elif isinstance(handler, RewriteRule):
        action = _rewrite_action(handler)
        kind = "generated"
    elif isinstance(handler, AliasRule) and handler.kind == "redirect":
        action = _redirect_action(handler)
        kind = "generated"
    else:
        action = _static_action(model, handler, res.locations)
        kind = "static" if action.kind == "static" else "generated"
    access, access_directive = _access(server, res.locations, proxy, action)
    if access == "denied":
        action = Action("respond", access_directive.span, status=403, content_type=GENERATED_TYPE)
        kind = "generated"
    match = _route_match(handler, res)
    lines = _header_lines(server, res.locations, proxy, action)
    contexts = _contexts(server, res.locations)
    reflected = mod_headers.reflected_headers([d for body in contexts for d in body])
    ops = mod_headers.response_ops(lines, kind, reflected)
    ops += _force_type_ops(server, res.locations, kind, action)
    r = Route(match, action, _route_span(handler, res), ops, res.condition, next(_group_counter))
    r.access_restricted = access in ("restricted", "denied")
    r.unknowns = _unknowns(model, res.locations, proxy, action)
    r.max_body_size = None          # mod_proxy streams bodies: LimitRequestBody does not stop them
    r.facts.update({
        "upstream_down_status": 503,        # mod_proxy_http: "failed to make connection to backend"
        "error_content_type": GENERATED_TYPE,
        "upstream_http_version": "1.1",
        "body_size_directive": None,
        "body_size_unseen_parent": False,
        "apache_handler": handler,
        "apache_proxy": proxy,
        "apache_locations": list(res.locations),
        "apache_excluded": res.excluded,
        "encoded_slashes": model.encoded_slashes,
    })
    return r


def _unknowns(model: ServerModel, locations: tuple, proxy: Optional[ProxyRule], action: Action) -> list:
    """Unseen regions whose directives httpd would merge for this route, the closest first:
    matching <Location>s (and <If>s in them), <Proxy>/<Directory>/<Files>, the virtual host,
    the global level, then what includes the whole file (see unknowns.py)."""
    server = model.server
    contexts = _contexts(server, locations, proxy_url=proxy.url if proxy is not None else None,
                         filename=_static_file(action))
    contexts += [s.body for s in _if_sections(server, locations)]
    contexts += [inner.body for loc in locations for inner in loc.inner if inner.kind != "if"]
    found = [u for body in reversed(contexts) for u in unknowns_in(body)]
    return distinct(found + list(model.context_unknowns))


def _as_proxy(handler) -> Optional[ProxyRule]:
    if isinstance(handler, ProxyRule):
        return handler
    if isinstance(handler, RewriteRule) and handler.outcome == "proxy":
        nocase = "nc" in handler.flags or "nocase" in handler.flags
        return ProxyRule(handler.directive, "rewrite", handler.pattern.lstrip("!"), handler.substitution,
                         nocase=nocase)
    return None


def _route_match(handler, res: Resolution) -> Match:
    if isinstance(handler, (ProxyRule, AliasRule)):
        m = handler.match
    elif isinstance(handler, RewriteRule):
        m = Match("regex", handler.pattern, "nc" not in handler.flags, text=f"RewriteRule {handler.pattern}")
    elif res.locations:
        m = max(res.locations, key=lambda s: len(s.pattern)).match
    else:
        return Match("any", text="(no handler: DocumentRoot)")
    own = getattr(handler, "directive", None)
    others = [s for s in res.locations if not any(d is own for d in s.body)]
    if others:
        extra = ", ".join(s.match.text for s in others)
        m = Match(m.kind, m.pattern, m.case_sensitive, text=f"{m.text or m.pattern} with {extra}")
    return m


def _route_span(handler, res: Resolution):
    if handler is not None and getattr(handler, "directive", None) is not None:
        return handler.directive.span
    if res.locations:
        return res.locations[-1].directive.span
    return None


def _proxy_action(model: ServerModel, proxy: ProxyRule, locations: tuple) -> Action:
    d = proxy.directive
    uri, reason = classify(proxy, model.encoded_slashes)
    # The target URL: the first argument of a ProxyPass inside a <Location>, else the second.
    action = Action("proxy", d.span, upstream=proxy.upstream, uri=uri, uri_part=proxy.url_path or None,
                    uri_reason=reason, uri_span=d.arg_span(0 if proxy.in_location else 1))
    action.request_headers = _request_headers(model, locations, proxy)
    return action


def _request_headers(model: ServerModel, locations: tuple, proxy: ProxyRule) -> dict:
    server = model.server
    contexts = _contexts(server, locations, proxy_url=proxy.url)
    preserve = _last_setting(contexts, "proxypreservehost")
    add = _last_setting(contexts, "proxyaddheaders")
    out: dict = {}
    if is_on(preserve):
        out["host"] = "$host"
    if is_on(add, default=True):
        # mod_proxy appends the client address to any X-Forwarded-For the client sent.
        out["x-forwarded-for"] = "$proxy_add_x_forwarded_for"
        out["x-forwarded-host"] = "$http_host"
        out["x-forwarded-server"] = model.server_name or "$server_name"
    lines = [mod_headers.read(d) for body in contexts for d in body if d.key == "requestheader"]
    out.update(mod_headers.request_headers([l for l in lines if l is not None]))
    return out


def _contexts(server: Server, locations: tuple, proxy_url: Optional[str] = None, filename: Optional[str] = None) -> list:
    """Directive lists in merge order: main server, this server, <Proxy>/<Directory>/<Files>, <Location>s."""
    out = []
    if server.parent is not None:
        out.append(server.parent.body)
    out.append(server.body)
    if proxy_url is not None:
        out += [s.body for s in server.of_kind("proxy") if s.applies_to_url(proxy_url)]
    if filename is not None:
        dirs = [s for s in server.of_kind("directory") if not s.regex and s.applies_to_file(filename)]
        dirs.sort(key=lambda s: s.pattern.rstrip("/").count("/"))
        dirs += [s for s in server.of_kind("directory") if s.regex and s.applies_to_file(filename)]
        out += [s.body for s in dirs]
        out += [s.body for s in server.of_kind("files") if s.applies_to_file(filename)]
    out += [s.body for s in locations]
    return out


def setting(server: Server, route: Route, name: str) -> Optional[Directive]:
    """The `name` directive in effect for one of this server's routes (the last one written)."""
    proxy = route.facts.get("apache_proxy")
    contexts = _contexts(server, tuple(route.facts.get("apache_locations", ())),
                         proxy_url=proxy.url if proxy is not None else None,
                         filename=_static_file(route.action))
    return _last_setting(contexts, name)


def _last_setting(contexts: list, name: str) -> Optional[Directive]:
    found = None
    for body in contexts:
        for d in body:
            if d.key == name:
                found = d
    return found


def _header_lines(server: Server, locations: tuple, proxy: Optional[ProxyRule], action: Action) -> list:
    filename = _static_file(action)
    contexts = _contexts(server, locations, proxy_url=proxy.url if proxy else None, filename=filename)
    lines = []
    for body in contexts:
        for d in body:
            if d.key == "header":
                line = mod_headers.read(d)
                if line is not None:
                    lines.append(line)
    # <If> sections inside the server or a matching <Location>: their Headers are conditional.
    for section in _if_sections(server, locations):
        for d in section.body:
            if d.key == "header":
                line = mod_headers.read(d, extra_condition=f"<If {section.pattern}>")
                if line is not None:
                    lines.append(line)
    return lines


def _if_sections(server: Server, locations: tuple) -> list:
    out = [s for s in server.sections if s.kind == "if"]
    for loc in locations:
        out += [s for s in loc.inner if s.kind == "if"]
    return out


def _force_type_ops(server: Server, locations: tuple, kind: str, action: Action) -> list:
    """`ForceType` on relayed responses: it replaces the upstream's Content-Type (not on a 204)."""
    if kind != "proxy":
        return []
    d = _last_setting(_contexts(server, locations), "forcetype")
    if d is None or not d.args or d.args[0].lower() == "none":
        return []
    statuses = frozenset(range(100, 600)) - {204, 304}
    return [HeaderOp("Content-Type", d.args[0], "set", d.span, statuses=statuses, on_generated=False,
                     source=words(d))]


def _access(server: Server, locations: tuple, proxy: Optional[ProxyRule], action: Action) -> tuple:
    """("open" | "restricted" | "denied", the directive that decided): the last context with access
    directives wins (AuthMerging Off), <Proxy>/<Directory> before <Location>."""
    decided, directive = "open", None
    contexts = _contexts(server, locations, proxy_url=proxy.url if proxy is not None else None,
                         filename=_static_file(action))
    for body in contexts:
        verdict = _access_of(body)
        if verdict is not None:
            decided, directive = verdict
    return decided, directive


def _access_of(body: list):
    requires = [d for d in body if d.key == "require"]
    groups = [d for d in body if d.key in ("requireany", "requireall", "requirenone") and d.block is not None]
    legacy = [d for d in body if d.key in ("deny", "allow")]
    auth = [d for d in body if d.key in ("authtype",) and d.args and d.args[0].lower() != "none"]
    limits = [d for d in body if d.key in ("limit", "limitexcept") and d.block is not None]
    if not (requires or groups or legacy or auth or limits):
        return None
    if requires and not groups and not limits:
        texts = [" ".join(d.args).lower().split() for d in requires]
        if all(t == ["all", "granted"] for t in texts):
            return "open", requires[-1]
        if all(t == ["all", "denied"] for t in texts):
            return "denied", requires[-1]
        return "restricted", requires[-1]
    if legacy and not requires and not groups:
        denies = [d for d in legacy if d.key == "deny"]
        allows = [d for d in legacy if d.key == "allow"]
        if not denies and all(" ".join(d.args).lower() == "from all" for d in allows):
            return "open", allows[-1]
        if denies and not allows and all(" ".join(d.args).lower() == "from all" for d in denies):
            return "denied", denies[-1]
        return "restricted", (denies or allows)[-1]
    first = (groups or limits or auth or requires or legacy)[0]
    return "restricted", first


def _rewrite_action(rule: RewriteRule) -> Action:
    d = rule.directive
    if rule.outcome == "redirect":
        return Action("redirect", d.span, status=rule.redirect_code or 302, location=rule.substitution,
                      content_type=GENERATED_TYPE)
    if rule.outcome == "status":
        status = rule.status
        content = None if status in (204, 304) or status < 200 else GENERATED_TYPE
        return Action("respond", d.span, status=status, content_type=content)
    return Action("none", d.span)


def _redirect_action(rule: AliasRule) -> Action:
    d = rule.directive
    if rule.target is None or not (300 <= rule.status < 400):
        return Action("respond", d.span, status=rule.status, content_type=GENERATED_TYPE)
    return Action("redirect", d.span, status=rule.status, location=rule.target, content_type=GENERATED_TYPE)


def _static_action(model: ServerModel, handler, locations: tuple) -> Action:
    server = model.server
    if isinstance(handler, AliasRule):
        root, alias, span = handler.target, True, handler.directive.span
    elif model.docroot is not None and model.docroot.args:
        root, alias, span = model.docroot.args[0], False, model.docroot.span
    else:
        return Action("none")
    action = Action("static", span, root=root, alias=alias)
    action.content_type = _content_type(server, locations, root, alias, handler)
    return action


def _static_file(action: Action) -> Optional[str]:
    if action.kind != "static" or not action.root:
        return None
    return action.root


def _content_type(server: Server, locations: tuple, root: str, alias: bool, handler) -> Optional[str]:
    """ForceType, else the file extension's type; "" when Apache sends none (no extension)."""
    contexts = _contexts(server, locations, filename=root)
    forced = _last_setting(contexts, "forcetype")
    if forced is not None and forced.args and forced.args[0].lower() != "none":
        return forced.args[0]
    if not alias or handler is None or not isinstance(handler, AliasRule) or handler.regex:
        return None                      # which file is served depends on the request
    name = os.path.basename(root.rstrip("/"))
    if root.endswith("/"):
        return None                      # a directory: the type depends on the file
    if "." not in name:
        # `Alias /.well-known/matrix/server /srv/wk/server`: a file without extension, for which
        # Apache sends no Content-Type at all. Otherwise probably a directory: unknown.
        return "" if name == os.path.basename(handler.pattern.rstrip("/")) else None
    ext = name.rsplit(".", 1)[1].lower()
    added = {}
    for body in contexts:
        for d in body:
            if d.key == "addtype" and len(d.args) >= 2:
                for e in d.args[1:]:
                    added[e.lstrip(".").lower()] = d.args[0]
    return added.get(ext) or MIME.get(ext)
