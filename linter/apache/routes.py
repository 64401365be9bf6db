"""The shared model's `Route` for one Apache resolution: action, headers, access, facts.

`route(model, resolution)` builds a Route once per distinct (handler, matching <Location>s) pair
and caches it on the ServerModel, so every request Apache handles the same way gets the same Route.
Settings merge as httpd merges per-directory configuration: the main server, the server, then
<Proxy> (proxied requests) or <Directory>/<Files> (files), then each matching <Location>.
"""
from __future__ import annotations

import itertools
import os
import re
from typing import Optional

from linter.model import Action, Condition, HeaderOp, Match, Route
from linter.syntax import Directive

from . import headers as mod_headers
from .handlers import ALL_METHODS, AliasRule, ProxyRule, RewriteRule
from .resolve import Resolution, ServerModel
from .sections import Server, is_on, words
from .unknowns import distinct, unknowns_in
from .upstream import classify
from .uri import ERROR_TYPE

GENERATED_TYPE = ERROR_TYPE             # Apache's own error and redirect pages
# What /etc/mime.types says for the extensions a Matrix proxy serves; unknown ones stay unknown.
MIME = {"json": "application/json", "txt": "text/plain", "html": "text/html", "htm": "text/html",
        "css": "text/css", "js": "text/javascript", "svg": "image/svg+xml", "png": "image/png",
        "ico": "image/vnd.microsoft.icon", "xml": "application/xml", "webmanifest": "application/manifest+json"}
_group_counter = itertools.count(1)


def route(model: ServerModel, res: Resolution) -> Route:
    """The Route Apache takes for `res`; with no handler and no DocumentRoot written, the variant
    of core's default handling for the request method (see `default_handling`)."""
    key = res.key
    found = model.routes.get(key)
    if found is None:
        found = _build_route(model, res)
        model.routes[key] = found
        model.ordered.append(found)
    if res.handler is None and found.action.kind == "none":
        return default_handling(model, res.method, found)
    if found.action.kind == "static" and res.method not in ("GET", "HEAD", "POST") and (
            res.handler is None or (isinstance(res.handler, AliasRule) and res.handler.kind == "alias")):
        # Files are served by the same default handler: other methods get its answers.
        return default_handling(model, res.method, found)
    return found


# -- core's default handling ---------------------------------------------------------------
# A request no handler takes goes to core's default handler, which serves files from the
# DocumentRoot (compiled in when none is written: /var/www/html on Debian). The configuration
# names no file there, so the model answers as for a file that does not exist (measured on
# 2.4.71, tests/real/test_model_apache.py): GET, HEAD and POST get 404; OPTIONS gets 200 with
# `Allow` (no body; a Content-Type only from the path's extension); TRACE 200 (`TraceEnable off`:
# 405); the other methods httpd knows 405 with `Allow`, CONNECT 400, an unknown method 501.
# The error answers are Apache's own pages: only `Header always` reaches them; the OPTIONS answer
# is an ordinary response, which `Header` (onsuccess) reaches too; TRACE's echo of the request is
# sent before mod_headers runs: no configured header at all.
ALLOW = "GET,POST,OPTIONS,HEAD"          # the order varies between runs (a hash table)
WEBDAV_METHODS = frozenset({"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK",
                            "VERSION-CONTROL", "REPORT", "CHECKOUT", "CHECKIN", "UNCHECKOUT",
                            "MKWORKSPACE", "UPDATE", "LABEL", "MERGE", "BASELINE-CONTROL",
                            "MKACTIVITY", "ORDERPATCH", "ACL", "SEARCH"})
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 410: "Gone", 500: "Internal Server Error",
            501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable"}


def error_page(status: int) -> str:
    """Apache's built-in page for a status it answers itself (abridged: its text varies)."""
    reason = _REASONS.get(status, "Error")
    return ('<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd">\n'
            f"<html><head>\n<title>{status} {reason}</title>\n</head><body>\n<h1>{reason}</h1>\n"
            "<p>...</p>\n</body></html>\n")


def fallback_routes(model: ServerModel) -> list:
    """`Site.fallback`: core's default handling of a request nothing in the server takes, one
    Route per answer, tried in order (the first whose method condition holds)."""
    return [default_handling(model, method) for method in ("OPTIONS", "TRACE", "GET", "CONNECT", "PUT", "FOO")]


def default_handling(model: ServerModel, method: str, base: Optional[Route] = None) -> Route:
    """The default handling's answer to `method` (cached per answer), with the headers of the
    <Location>s `base` (the route with no handler, or the static route for a file) has. Only
    answers for a route with no handler and no DocumentRoot are `Route.fallback`."""
    trace_on = (lambda d: d is None or not d.args or d.args[0].lower() != "off")(
        model.server.last("traceenable"))
    allow = ALLOW + (",TRACE" if trace_on else "")
    method = method.upper()
    static = base is not None and base.action.kind == "static"
    if method == "OPTIONS":
        # The Content-Type is the file's (by its name's extension), as for a GET.
        answer = ("options", frozenset({"OPTIONS"}), 200, base.action.content_type if static else None, "static")
    elif method == "TRACE":
        answer = (("trace", frozenset({"TRACE"}), 200, "message/http", "bare") if trace_on
                  else ("trace-off", frozenset({"TRACE"}), 405, ERROR_TYPE, "generated"))
    elif method in ("GET", "HEAD", "POST"):
        answer = ("missing", frozenset({"GET", "HEAD", "POST"}), 404, ERROR_TYPE, "generated")
    elif method == "CONNECT":
        answer = ("connect", frozenset({"CONNECT"}), 400, ERROR_TYPE, "generated")
    elif method in ALL_METHODS or method in WEBDAV_METHODS:
        known = (ALL_METHODS | WEBDAV_METHODS) - {"OPTIONS", "GET", "HEAD", "POST", "CONNECT", "TRACE"}
        answer = ("not-allowed", frozenset(known), 405, ERROR_TYPE, "generated")
    else:
        answer = ("unknown-method", None, 501, ERROR_TYPE, "generated")
    name, methods, status, content_type, kind = answer
    key = ("default", name, base.facts.get("apache_key") if base is not None else None)
    found = model.routes.get(key)
    if found is not None:
        return found
    server = model.server
    locations = tuple(base.facts.get("apache_locations", ())) if base is not None else ()
    span = server.directive.span if server.directive is not None else None
    if static:
        span = base.action.span
    contexts = _contexts(server, locations)
    action = Action("respond", span, status=status, content_type=content_type)
    if kind == "generated":
        _error_answer(action, contexts)
    filename = _static_file(base.action) if static else None
    lines = _header_lines(server, locations, None, action, filename) if kind != "bare" else []
    reflected = mod_headers.reflected_headers([d for body in contexts for d in body])
    ops = mod_headers.response_ops(lines, kind, reflected)
    if status in (200, 405, 501) and name != "trace":
        ops.append(HeaderOp("Allow", "" if name == "trace-off" else allow, "set", span,
                            statuses=frozenset({status}), on_proxied=False, keep_empty=True,
                            source="(core's default handler)"))
    match = base.match if base is not None else Match("any", text="(no handler: Apache's default handling)")
    condition = None
    if methods is not None:
        condition = Condition("the request method is " + " or ".join(sorted(methods)), methods, span)
    r = Route(match, action, span, ops, condition, base.group if base is not None else next(_group_counter),
              fallback=not static)
    if base is not None:
        r.access_restricted = base.access_restricted
        r.unknowns = list(base.unknowns)
        r.facts.update(base.facts)
    else:
        r.unknowns = _unknowns(model, (), None, action)
        r.facts.update({"error_content_type": GENERATED_TYPE, "apache_handler": None, "apache_proxy": None,
                        "apache_locations": [], "apache_excluded": None,
                        "encoded_slashes": model.encoded_slashes, "body_size_directive": None,
                        "body_size_unseen_parent": False})
    r.facts["apache_default_handler"] = name
    model.routes[key] = r
    return r


def _error_answer(action: Action, contexts: list) -> None:
    """The page Apache sends with an answer it makes itself: an `ErrorDocument` for the status
    (a text: sent as the body, the content type stays Apache's; a local path or URL: what it
    serves is unknown here), else its built-in page."""
    found = None
    for body in contexts:
        for d in body:
            if d.key == "errordocument" and len(d.args) >= 2 and d.args[0] == str(action.status):
                found = d
    if found is None or found.args[1].lower() == "default":
        action.body = error_page(action.status)
        return
    text = found.args[1]
    if " " not in text and (text.startswith("/") or re.match(r"^[a-z][a-z0-9+.-]*://", text, re.I)):
        action.body, action.content_type = None, None      # another resource's answer
        return
    action.body = text


def _build_route(model: ServerModel, res: Resolution) -> Route:
    handler = res.handler
    server = model.server
    proxy = _as_proxy(handler)
    if proxy is not None:
        action = _proxy_action(model, proxy, res.locations)
        kind = "proxy"
    elif isinstance(handler, RewriteRule):
        action = _rewrite_action(handler, _contexts(server, res.locations))
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
        _error_answer(action, _contexts(server, res.locations))
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
        "apache_key": res.key,
        # The answer is Apache's built-in error page (`[R=200]` without an ErrorDocument, a 403).
        "apache_error_page": action.kind == "respond" and action.status is not None
                             and action.body == error_page(action.status),
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
        # Inside a <Location>, the rule answers for that section: say so in the match.
        within = next((sec for sec in res.locations if any(d is handler.directive for d in sec.body)), None)
        prefix = f"{within.match.text} " if within is not None else ""
        m = Match("regex", handler.pattern, "nc" not in handler.flags,
                  text=f"{prefix}RewriteRule {handler.pattern}")
    elif res.locations:
        chosen = max(res.locations, key=lambda s: len(s.pattern))
        m = chosen.match
    else:
        return Match("any", text="(no handler: DocumentRoot)")
    own = getattr(handler, "directive", None)
    others = [s for s in res.locations if not any(d is own for d in s.body)
              and not (handler is None and s is chosen)]
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
    action.forwarded_for, action.forwarded_for_span = forwarded_for(
        _contexts(model.server, locations, proxy_url=proxy.url), d)
    return action


# `RequestHeader … X-Forwarded-For` values that hold the client's address only (mod_headers'
# `%{REMOTE_ADDR}s` is resolved by mod_ssl's variable lookup, TLS or not; ap_expr's REMOTE_ADDR).
_CLIENT_ADDRESS = re.compile(r"\s*(?:%\{REMOTE_ADDR\}s|expr=%\{(?:REMOTE_ADDR|CONN_REMOTE_ADDR)\})\s*", re.I)


def forwarded_for(contexts: list, proxy_directive: Directive) -> tuple:
    """(Action.forwarded_for, span): what the upstream's X-Forwarded-For holds.

    Measured on httpd 2.4.71 (tests/real/test_model_apache.py): `RequestHeader`, early or not,
    runs before the proxy handler, and mod_proxy_http then appends the client address to whatever
    X-Forwarded-For is left (`ProxyAddHeaders On`, the default): the client's own header stays
    first ("append"). `RequestHeader set X-Forwarded-For %{REMOTE_ADDR}s` or `unset` drops it, so
    the upstream gets the client address only ("replace"; after a `set` it is there twice).
    `ProxyAddHeaders Off` adds nothing: what RequestHeader leaves, else "absent" (no header of
    the proxy's own; a header the client sent passes through as any request header does).
    mod_remoteip's `RemoteIPHeader X-Forwarded-For` rewrites the client address from the header:
    unknown (None), as is a conditional or edited header.
    """
    remoteip = _last_setting(contexts, "remoteipheader")
    if remoteip is not None and remoteip.args and remoteip.args[0].lower() == "x-forwarded-for":
        return None, remoteip.span
    adds_setting = _last_setting(contexts, "proxyaddheaders")
    adds = is_on(adds_setting, default=True)
    state, span = "client", None        # client: the client's header, if any, is still first
    for body in contexts:
        for d in body:
            if d.key != "requestheader":
                continue
            line = mod_headers.read(d)
            if line is None or line.key != "x-forwarded-for":
                continue
            span = d.span
            own = line.value is not None and bool(_CLIENT_ADDRESS.fullmatch(line.value))
            if line.when is not None or line.action in ("edit", "edit*"):
                return None, d.span
            if line.action == "unset":
                state = "gone"
            elif line.action == "set" or (line.action in ("add", "append", "merge", "setifempty")
                                          and state == "gone"):
                state = "own" if own else None
    if state is None:
        return None, span
    if state == "own":
        return "replace", span
    if state == "gone":
        return ("replace" if adds else "absent"), span
    if adds:
        return "append", proxy_directive.span
    if span is not None:
        return "append", span            # a header added after the client's own
    return "absent", adds_setting.span


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


def _header_lines(server: Server, locations: tuple, proxy: Optional[ProxyRule], action: Action,
                  filename: Optional[str] = None) -> list:
    filename = filename or _static_file(action)
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


def _rewrite_action(rule: RewriteRule, contexts: list) -> Action:
    d = rule.directive
    if rule.outcome == "redirect":
        return Action("redirect", d.span, status=rule.redirect_code or 302, location=rule.substitution,
                      content_type=GENERATED_TYPE)
    if rule.outcome == "status":
        # `[F]`, `[G]`, `[R=4xx]` and also `[R=200]`: mod_rewrite answers like an error, with
        # Apache's error page for that status (or the ErrorDocument for it), so only `Header
        # always` reaches it (measured: `Header set … ` plus `RewriteRule .* - [R=200]` sends
        # 200, text/html, no CORS).
        status = rule.status
        if status in (204, 304) or status < 200:
            return Action("respond", d.span, status=status)
        action = Action("respond", d.span, status=status, content_type=GENERATED_TYPE)
        _error_answer(action, contexts)
        return action
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
