"""A site block as Caddy's HTTP handler chain: routes, matchers and handlers in Caddy's order.

This mirrors what `caddy adapt` produces (caddyconfig/httpcaddyfile): each directive becomes one
or more routes (`CRoute`: matcher sets, handlers, group, terminal); a site block's routes are
sorted by the directive order (`order.py`); `handle`, `rewrite` and `root` routes of one block
are put in a group (only the first matching one of a group runs); `handle`, `handle_path` and
`route` blocks become subroutes (`route` keeps the written order); adjacent routes with equal
matchers are merged (consolidateRoutes). `handle_errors` blocks are kept apart as error routes.

`Handler.kind` is the JSON handler name (`headers`, `static_response`, `reverse_proxy`,
`rewrite`, `subroute`, `file_server`, ...), so the chain can be held against Caddy's own JSON
(tests/test_caddy_model.py); `Handler.data` keeps what the model needs, parsed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from linter.caddy.matchers import Matcher, MatcherSet, inline, parse_definition
from linter.caddy.numbers import atoi
from linter.caddy.order import go_stable_sort, sort_values
from linter.syntax import Directive

# Directives whose first argument may be a matcher token (RegisterHandlerDirective and the
# custom parsers that call ExtractMatcherSet).
MATCHER_FIRST = {
    "fs", "vars", "redir", "respond", "abort", "error", "route", "handle", "invoke", "skip_log",
    "log_skip", "log_name", "basicauth", "basic_auth", "encode", "file_server", "intercept",
    "log_append", "map", "push", "request_body", "reverse_proxy", "copy_response",
    "copy_response_headers", "method", "uri", "templates", "timeouts", "tracing", "metrics",
    "header", "request_header", "php_fastcgi", "forward_auth", "try_files", "acme_server",
}
# Simple handler directives: directive -> JSON handler name.
SIMPLE = {
    "vars": "vars", "fs": "vars", "skip_log": "vars", "log_skip": "vars", "log_name": "vars",
    "map": "map", "tracing": "tracing", "templates": "templates", "push": "push", "encode": "encode",
    "intercept": "intercept", "log_append": "log_append", "timeouts": "timeouts",
    "metrics": "metrics", "basicauth": "authentication", "basic_auth": "authentication",
    "copy_response": "copy_response", "copy_response_headers": "copy_response_headers",
    "acme_server": "acme_server", "method": "rewrite", "request_body": "request_body",
}
# Directives that configure the server, not the handler chain.
NOT_ROUTES = {"bind", "tls", "log"}
MUTUALLY_EXCLUSIVE = ("handle", "rewrite", "root")


@dataclass(eq=False)
class Handler:
    kind: str
    directive: Directive
    data: dict = field(default_factory=dict)
    routes: Optional[list] = None         # subroute: its CRoutes

    @property
    def span(self):
        return self.directive.span

    def text(self) -> str:
        """For checks whose outcome the request alone does not decide (authentication)."""
        if self.kind == "authentication":
            return f"{self.directive.name} refuses the request (no valid credentials)"
        upstream = (self.data.get("upstreams") or ["?"])[0]
        return f"forward_auth {upstream} refuses the request"


@dataclass
class CRoute:
    matchers: Optional[list]              # MatcherSets (any may match); None/[]: every request
    handlers: list
    group: Optional[str] = None
    terminal: bool = False


@dataclass
class SiteChain:
    routes: list                          # the site's CRoutes, sorted
    errors: list                          # handle_errors: list of (status expression or None, CRoutes)
    problems: list = field(default_factory=list)   # what the chain builder did not understand


class Counter:
    def __init__(self):
        self.n = 0

    def next(self) -> str:
        self.n += 1
        return f"group{self.n - 1}"


class ChainBuilder:
    """Turns site block bodies into chains. One per configuration (the group counter is shared)."""

    def __init__(self, order: list, named_routes: dict):
        self.order = order
        self.named_routes = named_routes     # name -> Directive (&(name) block)
        self.groups = Counter()
        self.problems: list = []

    # ---- blocks ---------------------------------------------------------------------------
    def site(self, body: list, definitions: Optional[dict] = None) -> SiteChain:
        values, errors = self._values(body, dict(definitions or {}))
        routes = self._subroute_routes(values, sort=True)
        # httptype.go sorts the handle_errors blocks with "a block without status codes is not
        # before one with codes", which is true for every other pair: Go's stable sort then
        # reverses blocks that both have codes. Kept exact, since their order decides.
        go_stable_sort(errors, lambda a, b: not (not a[0] and b[0]))
        return SiteChain(routes, errors, self.problems)

    def _values(self, body: list, definitions: dict):
        """(directive, CRoute | list of CRoutes) for each route-producing directive, in written order."""
        own = set()
        for d in body:
            if d.name.startswith("@"):
                if d.name in own:
                    self.problems.append((d, f"matcher {d.name} is defined more than once"))
                own.add(d.name)
                definitions[d.name] = parse_definition(d)
        values, errors = [], []
        for d in body:
            if d.name.startswith("@") or d.key in NOT_ROUTES:
                continue
            if d.extra.get("unresolved"):
                continue        # an import that could not be read: the model's Unknowns say so
            if d.key == "handle_errors":
                errors.append(self._handle_errors(d, definitions))
                continue
            for value in self._directive(d, definitions):
                values.append(value)
        return values, errors

    def _subroute_routes(self, values: list, sort: bool) -> list:
        """buildSubroute: sort, group mutually exclusive directives, inline sub-lists, consolidate."""
        if sort:
            values = sort_values(values, self.order)
        groups = {}
        for name in sorted(MUTUALLY_EXCLUSIVE):
            count = sum(1 for directive, _ in values if directive == name)
            if count > 1 or (name == "rewrite" and count):
                groups[name] = self.groups.next()
        routes = []
        for directive, value in values:
            if isinstance(value, list):
                routes.extend(value)
                continue
            if directive in groups:
                value.group = groups[directive]
            routes.append(value)
        return consolidate(routes)

    def _handle_errors(self, d: Directive, definitions: dict):
        codes = [a for a in d.args]
        body = d.block or []
        values, _ = self._values(body, dict(definitions))
        routes = self._subroute_routes(values, sort=True)
        return codes, routes, d

    # ---- one directive -> config values ---------------------------------------------------
    def _directive(self, d: Directive, definitions: dict) -> list:
        name = d.key
        sets, args = None, list(d.args)
        arg_offset = 0
        takes_matcher = name in MATCHER_FIRST or (name in ("rewrite", "root") and len(args) >= 2)
        if takes_matcher and args:
            found, consumed = inline(args[0], d.arg_span(0), definitions)
            if consumed and not d.extra.get("quoted", [False])[0]:
                sets, args, arg_offset = found, args[1:], 1
        sort_name = "handle" if name == "handle_path" else name
        method = getattr(self, "_d_" + name, None)
        if method is not None:
            out = method(d, args, sets, definitions, arg_offset)
        elif name in SIMPLE:
            out = [CRoute(sets, [Handler(SIMPLE[name], d, self._simple_data(name, d, args))])]
        else:
            # A plugin directive (or a typo: Caddy refuses it unless a plugin registers it).
            self.problems.append((d, f"directive `{d.name}` is not part of standard Caddy"))
            out = [CRoute(sets, [Handler("unknown", d, {"name": d.name})])]
        return [(sort_name, value) for value in out]

    @staticmethod
    def _simple_data(name: str, d: Directive, args: list) -> dict:
        if name == "request_body":
            size = next((c.args[0] for c in d.children("max_size") if c.args), None)
            return {"max_size": size, "directive": d}
        if name == "method":
            return {"method": args[0] if args else None}
        return {}

    def _block_routes(self, d: Directive, definitions: dict, sort: bool) -> list:
        values, _ = self._values(d.block or [], dict(definitions))
        return self._subroute_routes(values, sort=sort)

    def _d_handle(self, d, args, sets, definitions, offset):
        return [CRoute(sets, [Handler("subroute", d, routes=self._block_routes(d, definitions, True))])]

    def _d_route(self, d, args, sets, definitions, offset):
        return [CRoute(sets, [Handler("subroute", d, routes=self._block_routes(d, definitions, False))])]

    def _d_handle_path(self, d, args, sets, definitions, offset):
        path = d.args[0] if d.args else "/"
        strip = path[:-2] if path.endswith("/*") else path[:-1] if path.endswith("*") else path
        routes = self._block_routes(d, definitions, True)
        strip_route = CRoute(None, [Handler("rewrite", d, {"strip_prefix": strip, "handle_path": True})])
        sets = [MatcherSet([Matcher("path", [path], span=d.arg_span(0), arg_spans=[d.arg_span(0)])],
                           path, d.arg_span(0))]
        return [CRoute(sets, [Handler("subroute", d, routes=[strip_route] + routes)])]

    def _d_root(self, d, args, sets, definitions, offset):
        return [CRoute(sets, [Handler("vars", d, {"root": args[0] if args else None})])]

    def _d_header(self, d, args, sets, definitions, offset):
        immediate = {"ops": [], "deferred": False, "require": False, "directive": d}
        defaults = {"ops": [], "deferred": True, "require": True, "directive": d}
        lines = []
        if args:
            lines.append((args[0], args[1:], d))
        for child in d.block or ():
            if child.name == "defer":
                immediate["deferred"] = True
                continue
            if child.name == "match":
                immediate["require"] = True
                immediate["match"] = child
                continue
            lines.append((child.name.rstrip(":"), child.args, child))
        for field_name, rest, where in lines:
            op = header_op(field_name, rest, where, response=True)
            target = defaults if field_name.startswith("?") and where is not d else immediate
            target["ops"].append(op)
            if op["deferred"]:
                target["deferred"] = True
        out = []
        if immediate["ops"] or immediate["deferred"] or immediate["require"]:
            out.append(CRoute(sets, [Handler("headers", d, immediate)]))
        if defaults["ops"]:
            out.append(CRoute(sets, [Handler("headers", d, defaults)]))
        return out

    def _d_request_header(self, d, args, sets, definitions, offset):
        op = header_op(args[0], args[1:], d, response=False) if args else None
        return [CRoute(sets, [Handler("headers", d, {"request_ops": [op] if op else [], "directive": d})])]

    def _d_respond(self, d, args, sets, definitions, offset):
        status, body = None, None
        if len(args) >= 2:
            body, status = args[0], args[1]
        elif len(args) == 1:
            if re.fullmatch(r"[0-9]{3}", args[0]):
                status = args[0]
            else:
                body = args[0]
        for child in d.block or ():
            if child.name == "body" and child.args:
                body = child.args[0]
        return [CRoute(sets, [Handler("static_response", d, {
            "status": _int(status), "status_text": status, "body": body, "kind": "respond"})])]

    def _d_redir(self, d, args, sets, definitions, offset):
        to = args[0] if args else ""
        code = args[1] if len(args) > 1 else ""
        data = {"location": to, "kind": "redirect", "body": None}
        if code == "permanent":
            data["status"] = 301
        elif code in ("temporary", ""):
            data["status"] = 302
        elif code == "html":
            data.update(status=200, kind="respond", location=None, body="<!DOCTYPE html>",
                        content_type="text/html; charset=utf-8")
        else:
            data["status"] = _int(code)
        return [CRoute(sets, [Handler("static_response", d, data)])]

    def _d_abort(self, d, args, sets, definitions, offset):
        return [CRoute(sets, [Handler("static_response", d, {"kind": "abort", "status": None, "body": None})])]

    def _d_error(self, d, args, sets, definitions, offset):
        status, message = 500, None
        if len(args) >= 2:
            message, status = args[0], _int(args[1])
        elif len(args) == 1:
            if re.fullmatch(r"[0-9]{3}", args[0]):
                status = int(args[0])                 # three ASCII digits
            else:
                message = args[0]
        return [CRoute(sets, [Handler("error", d, {"status": status, "message": message})])]

    def _d_invoke(self, d, args, sets, definitions, offset):
        name = args[0] if args else ""
        if name not in self.named_routes:
            self.problems.append((d, f"named route &({name}) is not defined"))
        return [CRoute(sets, [Handler("invoke", d, {"name": name})])]

    def _d_rewrite(self, d, args, sets, definitions, offset):
        return [CRoute(sets, [Handler("rewrite", d, {"uri": args[0] if args else ""})])]

    def _d_uri(self, d, args, sets, definitions, offset):
        data: dict = {"uri_op": args[0] if args else ""}
        if args[:1] == ["strip_prefix"] and len(args) > 1:
            data["strip_prefix"] = args[1]
        elif args[:1] == ["strip_suffix"] and len(args) > 1:
            data["strip_suffix"] = args[1]
        elif args[:1] == ["replace"] and len(args) > 2:
            data["replace"] = (args[1], args[2])
        elif args[:1] == ["path_regexp"] and len(args) > 2:
            data["path_regexp"] = (args[1], args[2])
        return [CRoute(sets, [Handler("rewrite", d, data)])]

    def _d_try_files(self, d, args, sets, definitions, offset):
        file_set = MatcherSet([Matcher("file", list(args), span=d.span)], "try_files", d.span)
        if sets:
            file_set = MatcherSet(sets[0].matchers + file_set.matchers, sets[0].name, d.span)
        return [CRoute([file_set], [Handler("rewrite", d, {"uri": "{http.matchers.file.relative}",
                                                           "try_files": list(args)})])]

    def _d_file_server(self, d, args, sets, definitions, offset):
        pass_thru = any(c.key == "pass_thru" for c in d.block or ())
        return [CRoute(sets, [Handler("file_server", d, {"pass_thru": pass_thru, "browse": "browse" in args})])]

    def _d_reverse_proxy(self, d, args, sets, definitions, offset):
        return [CRoute(sets, [Handler("reverse_proxy", d, reverse_proxy_data(d, args))])]

    def _d_forward_auth(self, d, args, sets, definitions, offset):
        data = reverse_proxy_data(d, args)
        data["forward_auth"] = True
        return [CRoute(sets, [Handler("reverse_proxy", d, data)])]

    def _d_php_fastcgi(self, d, args, sets, definitions, offset):
        """php_fastcgi expands to a canonical-path redirect, a try_files rewrite and the proxy."""
        data = reverse_proxy_data(d, args)
        data["fastcgi"] = True
        options = {c.key: list(c.args) for c in d.block or ()}
        extensions = options.get("split") or [".php"]
        index = (options.get("index") or ["index.php"])[0]
        # Caddy expands placeholder shorthands (`{path}`) before comparing.
        try_files = [a.replace("{path}", "{http.request.uri.path}") for a in options.get("try_files") or []]
        dir_index = "{http.request.uri.path}/" + index
        routes = []
        if index != "off":
            redirect = not try_files or dir_index in try_files
            try_files = try_files or ["{http.request.uri.path}", dir_index, index]
            if redirect:
                canonical = MatcherSet([Matcher("file", [dir_index], span=d.span),
                                        Matcher("not", sets=[MatcherSet([Matcher("path", ["*/"])])], span=d.span)],
                                       "php canonical path", d.span)
                routes.append(CRoute([canonical], [Handler("static_response", d, {
                    "kind": "redirect", "status": 308, "location": "{path}/", "body": None})]))
            files = MatcherSet([Matcher("file", try_files, span=d.span)], "php try_files", d.span)
            routes.append(CRoute([files], [Handler("rewrite", d, {"uri": "{http.matchers.file.relative}"})]))
        php = MatcherSet([Matcher("path", ["*" + ext for ext in extensions], span=d.span)], "php files", d.span)
        routes.append(CRoute([php], [Handler("reverse_proxy", d, data)]))
        if sets:
            return [CRoute(sets, [Handler("subroute", d, routes=routes)])]
        return [routes]


def header_op(field_name: str, rest: list, where: Directive, *, response: bool) -> dict:
    """One `header`/`header_up`/`header_down` line: {"op": add|set|delete|replace|default, ...}."""
    value = rest[0] if rest else ""
    replacement = rest[1] if len(rest) > 1 else None
    name = field_name
    deferred = False
    if name.startswith("+"):
        op, name = "add", name[1:]
    elif name.startswith("-"):
        op, name, deferred = "delete", name[1:], True
    elif name.startswith("?"):
        op, name, deferred = "default", name[1:], True
    elif replacement is not None:
        op = "replace"
        deferred = name.startswith(">")
        name = name.lstrip("+-?>")
    elif name.startswith(">"):
        op, name, deferred = "set", name[1:], True
    else:
        op = "set"
    return {"op": op, "name": name, "value": value, "replacement": replacement,
            "deferred": deferred and response, "directive": where}


def reverse_proxy_data(d: Directive, args: list) -> dict:
    upstreams = list(args)
    header_up, header_down = [], []
    tls = False
    handle_response = False
    rewrite = None
    health = dynamic = False
    transport = None
    for child in d.block or ():
        key = child.key
        if key == "to":
            upstreams.extend(child.args)
        elif key == "header_up" and child.args:
            header_up.append(header_op(child.args[0], child.args[1:], child, response=False))
        elif key == "header_down" and child.args:
            header_down.append(header_op(child.args[0], child.args[1:], child, response=False))
        elif key == "transport":
            special = [c.name for c in child.block or () if c.key in _TRANSPORT_SPECIAL]
            if child.args[:1] not in ([], ["http"]) or special:
                transport = " ".join(child.args[:1] + special)
            tls = tls or any(c.key in ("tls", "tls_server_name", "tls_insecure_skip_verify", "tls_trust_pool",
                                       "tls_trusted_ca_certs", "tls_client_auth") for c in child.block or ())
        elif key in ("handle_response", "@" ) or key.startswith("@"):
            handle_response = handle_response or key == "handle_response"
        elif key == "rewrite" and child.args:
            rewrite = child.args[0]
        elif key.startswith("health_") and key not in ("health_follow_redirects",):
            health = True
        elif key == "dynamic":
            dynamic = True
    tls = tls or any(u.lower().startswith("https://") for u in upstreams)
    if any(u.lower().startswith("h2c://") for u in upstreams):
        transport = "h2c"
    return {"upstreams": upstreams, "header_up": header_up, "header_down": header_down, "tls": tls,
            "handle_response": handle_response, "rewrite": rewrite, "health_checks": health, "dynamic": dynamic, "transport": transport}


# Transport options that change how (or whether) the upstream is reached over HTTP/1.1.
_TRANSPORT_SPECIAL = {"versions", "local_address", "network_proxy", "forward_proxy_url", "proxy_protocol"}


def consolidate(routes: list) -> list:
    """consolidateRoutes: adjacent routes with the same matchers, terminal flag and group merge."""
    out: list = []
    for r in routes:
        if out and _same_matchers(out[-1].matchers, r.matchers) and out[-1].terminal == r.terminal \
                and out[-1].group == r.group:
            out[-1] = CRoute(out[-1].matchers, out[-1].handlers + r.handlers, r.group, r.terminal)
        else:
            out.append(r)
    return out


def _same_matchers(a, b) -> bool:
    if not a and not b:
        return True
    if not a or not b or len(a) != len(b):
        return False
    return all(x is y or _set_key(x) == _set_key(y) for x, y in zip(a, b))


def _set_key(s: MatcherSet):
    # Matchers that carry the definition's name in Caddy's JSON differ when the names differ.
    named = any(m.kind in _NAMED_KINDS for m in s.matchers)
    return (s.name if named else "",
            tuple((m.kind, tuple(m.args), tuple(_set_key(x) for x in m.sets)) for m in s.matchers))


_NAMED_KINDS = {"expression", "path_regexp", "header_regexp", "vars_regexp"}


def _int(text) -> Optional[int]:
    """Go's strconv.Atoi (see numbers.py)."""
    return atoi(text)
