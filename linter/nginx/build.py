"""Build the proxy model from an nginx syntax tree, with nginx's real semantics.

- Sites are `server {}` blocks (a file whose top level is `location {}` blocks becomes one
  anonymous site, so snippets are linted too).
- Routes are locations, nested locations, and `if` blocks inside them (variants of their location,
  with the condition kept), plus server-level `return`/`rewrite ... redirect` that run before any
  location is selected. Selection itself is `linter.select` with the "nginx" policy.
- Header operations follow `linter.nginx.levels` (add_header inheritance, `always`,
  `add_header_inherit`, proxy_hide_header, headers-more).
- Unseen regions (`linter.model.Unknown`): an unresolved include in a location reaches that
  location's routes (and nested ones); in a server, every route of the site and the site; in
  the http block, every route and site and the Config (it could add servers); at the main level
  only the Config. A snippet linted alone (no `http` block) gets the including configuration as
  an Unknown at its top level, so it reaches all of its routes, sites and the Config.

The tree may hold what nginx refuses (the errors are in `Tree.errors`, and the model is built all
the same): a directive may have fewer or more arguments than nginx allows, and a number may be
written with characters `str.isdigit` accepts but `int` does not (`4²3`). Every argument access
here is guarded, and numbers are read with `_number` (ASCII digits only, as nginx's `ngx_atoi`).
"""
from __future__ import annotations

import re
from typing import Optional

from linter.model import Action, Condition, Config, Listen, Match, Route, Site, Unknown, compile_regex, parse_size
from linter.nginx.levels import DEFAULT_BODY_SIZE, Level, unresolved_here
from linter.syntax import Directive, Tree

_DIGITS = re.compile(r"[0-9]+")
ALL_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"})
REDIRECT_CODES = {301, 302, 303, 307, 308}


def build(tree: Tree, options: Optional[dict] = None) -> Config:
    options = options or {}
    version = options.get("nginx_version")
    top = flatten(tree.directives)
    builder = _Builder(version)
    http_blocks = [d for d in top if d.key == "http"]
    unknowns = unresolved_here(top)     # main level: could add whole http blocks, never settings
    if http_blocks:
        root = Level()
        for http in http_blocks:
            level = root.derive(flatten(http.block or []), version)
            unknowns.extend(level.unknowns)
            builder.add_servers(flatten(http.block or []), level, http)
    else:
        # A snippet (conf.d/*.conf, sites-enabled/*): the http block lives in a file we did not see.
        context = Unknown.including_context(tree.root)
        level = Level(complete=False, unknowns=[context], forwarding_unknowns=[context]).derive(top, version)
        unknowns = list(level.unknowns)
        if any(d.key == "server" for d in top):
            builder.add_servers(top, level, None)
        elif any(d.key == "location" for d in top):
            builder.add_anonymous_site(top, level)
        elif any(d.key == "if" and d.block is not None for d in top):
            # Bare `if` blocks at the top: the file is a location body meant to be included.
            loc = Directive("location", ["/"], top[0].span, [top[0].span], top)
            builder.add_anonymous_site([loc], Level(complete=False, unknowns=[context],
                                                    forwarding_unknowns=[context]))
    return Config("nginx", tree, builder.sites, dict(options), builder.notes, unknowns=unknowns)


def flatten(directives: list) -> list:
    """Directives of one block with `include`s replaced by what they include."""
    out = []
    for d in directives:
        if d.key == "include" and d.block is not None:
            out.extend(flatten(d.block))
        else:
            out.append(d)
    return out


class _Builder:
    def __init__(self, version):
        self.version = version
        self.sites: list = []
        self.notes: list = []
        self.upstreams: dict = {}
        self._group = 0

    def add_servers(self, directives: list, level: Level, http: Optional[Directive]) -> None:
        for d in directives:
            if d.key == "upstream" and d.args:
                self.upstreams[d.args[0]] = [s.args[0] for s in flatten(d.block or []) if s.key == "server" and s.args]
        for d in directives:
            if d.key == "server" and d.block is not None:
                self.add_site(d, level)

    def add_anonymous_site(self, directives: list, level: Level) -> None:
        site = Site("nginx", selection="nginx", facts={"snippet": True}, unknowns=list(level.unknowns))
        self._routes(site, directives, level, parent=None)
        site.fallback = self._fallback(site, directives[0], level)
        self.sites.append(site)

    def add_site(self, server: Directive, http_level: Level) -> None:
        body = flatten(server.block or [])
        level = http_level.derive(body, self.version)
        site = Site("nginx", span=server.span, selection="nginx", unknowns=list(level.unknowns))
        for d in body:
            if d.key == "server_name":
                site.names.extend(a for a in d.args if a)
            elif d.key == "listen" and d.args:
                site.listens.append(_listen(d))
        if any(d.key == "ssl" and d.args and d.args[0] == "on" for d in body):
            for l in site.listens:
                l.tls = True
        if level.dropped:
            site.facts["dropped_headers"] = (level.dropped, level.dropped_at)
        site.headers = list(level.response_headers)
        self._server_phase(site, body, level)
        self._routes(site, body, level, parent=None)
        site.fallback = self._fallback(site, server, level)
        self.sites.append(site)

    # -- what nginx does with a request no location takes: its static handler, at server level
    def _fallback(self, site: Site, at: Directive, level: Level) -> list:
        """`Site.fallback`: nginx's content handlers with the server's settings (measured with
        nginx 1.22, tests/real/test_model_nginx.py): GET, HEAD and POST look for a file under the
        root, and no such file is 404 (the model cannot know which files exist: a file that does
        exist is served, 200, or for POST 405); every other method is 405. Both are nginx's own
        HTML error pages, with the server level's `always` headers only."""
        out = []
        for condition, action, page in _static_answers(at, level, None):
            route = self._route(Match("any", text="(no location: nginx's static handler)"), action, at, level,
                                condition=condition, fallback=True)
            if page is not None:
                route.facts["error_page"] = page
            out.append(route)
        return out

    # -- server rewrite phase: runs before a location is chosen
    def _server_phase(self, site: Site, body: list, level: Level) -> None:
        for d in body:
            if d.key == "return":
                site.routes.append(self._route(Match("any", text="(server level)"), _return_action(d, level),
                                               d, level, phase="server"))
                return  # nothing after an unconditional return runs
            if d.key == "rewrite" and _rewrite_redirects_all(d):
                site.routes.append(self._route(Match("any", text="(server level)"), _rewrite_action(d),
                                               d, level, phase="server"))
                return
            if d.key == "if":
                ret = next((c for c in (d.block or []) if c.key in ("return",)), None)
                if ret is not None:
                    early = self._route(Match("any", text="(server level)"), _return_action(ret, level),
                                        d, level, phase="server", condition=_condition(d))
                    early.facts["if_args"] = list(d.args)
                    site.routes.append(early)
            if d.key == "rewrite" and len(d.args) >= 2:
                site.facts.setdefault("server_rewrites", []).append(d)

    def _route(self, match, action, d, level, *, phase="location", condition=None, group=None, parent=None,
               fallback=False):
        if group is None:
            self._group += 1
            group = self._group
        route = Route(match, action, d.span, list(level.response_headers), condition, group, parent,
                      phase=phase, fallback=fallback)
        route.max_body_size = _body_size(level)
        route.facts["body_size_directive"] = level.setting("client_max_body_size")
        route.facts["body_size_unseen_parent"] = not level.complete
        route.access_restricted = _restricted(level)
        route.unknowns = list(level.unknowns)
        route.facts["upstream_http_version"] = _setting_arg(level, "proxy_http_version", "1.0")
        route.facts["error_content_type"] = "text/html"   # nginx's own error pages
        return route

    # -- locations
    def _routes(self, site: Site, body: list, level: Level, parent: Optional[int]) -> None:
        for d in body:
            if d.key != "location" or d.block is None:
                continue
            match, noregex = _location_match(d)
            inner = flatten(d.block)
            loc_level = level.derive(inner, self.version)
            action = self._action(site, inner, loc_level, match)
            route = self._route(match, action, d, loc_level, parent=parent)
            route.facts["noregex"] = noregex
            route.dropped_headers = list(loc_level.dropped)
            route.facts["dropped_at"] = loc_level.dropped_at
            route.facts["internal"] = any(c.key == "internal" for c in inner)
            if route.facts["internal"]:
                route.access_restricted = True
            site.routes.append(route)
            self._static(route, d, inner, loc_level)
            for c in inner:
                if c.key == "if" and c.block is not None:
                    self._if_variant(site, route, c, action, loc_level, match)
            self._routes(site, inner, loc_level, parent=route.group)

    def _if_variant(self, site, route, d: Directive, loc_action: Action, loc_level: Level, match: Match):
        inner = flatten(d.block or [])
        if_level = loc_level.derive(inner, self.version)
        action = self._action(site, inner, if_level, match, fallback=loc_action)
        variant = self._route(match, action, d, if_level, condition=_condition(d), group=route.group,
                              parent=route.parent)
        variant.dropped_headers = list(if_level.dropped)
        variant.facts["dropped_at"] = if_level.dropped_at
        variant.facts["noregex"] = route.facts.get("noregex", False)
        variant.facts["if_args"] = list(d.args)
        site.routes.append(variant)
        self._static(variant, d, inner, if_level)

    def _static(self, route: Route, d: Directive, inner: list, level: Level) -> None:
        """`facts["static_answers"]`: for a location that nginx's static handler answers (no
        proxy_pass, return or try_files), [(methods or None for any, Route or None for the route
        itself)] tried in order (see `_static_answers`); `linter.nginx.routing.select_request`
        answers with them."""
        if route.action.kind not in ("static", "none") or any(c.key == "try_files" for c in inner):
            return
        answers = []
        for condition, action, page in _static_answers(d, level, route.action):
            methods = condition.methods if condition is not None else None
            if action is route.action:
                answers.append((methods, None))
                continue
            r = Route(route.match, action, route.span, list(route.headers), condition, route.group, route.parent,
                      dropped_headers=list(route.dropped_headers), max_body_size=route.max_body_size,
                      access_restricted=route.access_restricted, facts=dict(route.facts),
                      unknowns=list(route.unknowns))
            if page is not None:
                r.facts["error_page"] = page
            answers.append((methods, r))
        route.facts["static_answers"] = answers

    def _action(self, site, inner: list, level: Level, match: Match, fallback: Optional[Action] = None) -> Action:
        for d in inner:
            if d.key == "return":
                return _return_action(d, level)
            if d.key == "rewrite" and len(d.args) >= 3 and d.args[2] in ("redirect", "permanent") \
                    and _rewrite_redirects_all(d):
                return _rewrite_action(d)
        proxy = next((d for d in inner if d.key == "proxy_pass" and d.args), None)
        if proxy is not None:
            return self._proxy_action(site, proxy, inner, level, match)
        if fallback is not None:
            return fallback
        root = level.setting("root")
        alias = next((d for d in inner if d.key == "alias" and d.args), None)
        if alias is not None or root is not None or any(d.key == "try_files" for d in inner):
            src = alias or root
            return Action("static", src.span if src else None,
                          root=src.args[0] if src and src.args else None,
                          alias=alias is not None, content_type=_default_type(level))
        return Action("none")

    def _proxy_action(self, site, d: Directive, inner: list, level: Level, match: Match) -> Action:
        url = d.args[0]
        # `set $upstream http://synapse:8008; proxy_pass $upstream;` (a common trick to defer DNS).
        sets = {s.args[0]: s.args[1] for s in inner if s.key == "set" and len(s.args) == 2}
        if url in sets:
            url = sets[url]
        # SWAG's `$upstream_proto://$upstream_app:$upstream_port`: variables set to a constant in
        # the same block are that constant (nginx evaluates them per request, always the same).
        url = re.sub(r"\$(\w+)|\$\{(\w+)\}", lambda v: _constant(sets, v), url)
        action = Action("proxy", d.span, upstream=url)
        # A scheme from a variable carries no URI part: nginx needs `://` right after it.
        m = re.match(r"^(?P<scheme>(?:[a-z]+|\$\w+)://)(?P<host>unix:[^:]*:?|\[[^\]]*\][^/]*|[^/]*)(?P<uri>/.*)?$",
                     url, re.I)
        uri = (m.group("uri") if m else None)
        if m:
            name = m.group("host")
            # `http://synapse$request_uri`: a variable glued to the host is the URI part.
            glued = re.match(r"^([^$]+?)(\$.*)$", name)
            if glued and uri is None:
                name, uri = glued.group(1), glued.group(2)
            action.upstream = m.group("scheme") + name
            if name in self.upstreams:
                action.request_headers["_servers"] = self.upstreams[name]
        action.request_headers.update({k: v for k, (v, _) in level.proxy_headers.items()})
        action.request_headers_unknowns = list(level.forwarding_unknowns)
        action.forwarded_for, action.forwarded_for_span = _forwarded_for(level, d)
        rewrite = next((r for r in inner if r.key == "rewrite" and len(r.args) >= 2
                        and (len(r.args) < 3 or r.args[2] in ("break", "last"))), None)
        if uri is not None:
            action.uri_part = uri
            action.uri_span = d.arg_span(0)
            if "$" in uri:
                if uri == "$request_uri":
                    action.uri = "original"
                else:
                    action.uri = "variable"
                    action.uri_reason = (f"proxy_pass builds the URI from `{uri}`, which nginx has already "
                                         f"percent-decoded and normalised")
            elif match.kind == "regex":
                action.uri = "replaced"
                action.uri_reason = ("proxy_pass has a URI part inside a regex location: `nginx -t` rejects "
                                     "this, and where it is allowed nginx sends the decoded, normalised URI")
            else:
                action.uri = "replaced"
                what = "a single `/`" if uri == "/" else f"`{uri}`"
                action.uri_reason = (f"proxy_pass has a URI part ({what}): nginx then sends the decoded, "
                                     f"normalised request URI with the location prefix replaced")
        elif "$" in url and not m:
            action.uri = "variable"
            action.uri_reason = f"proxy_pass target `{url}` is built from variables"
        if rewrite is not None and action.uri == "original":
            action.uri = "normalized"
            action.uri_span = rewrite.span
            action.uri_reason = ("a `rewrite` runs before proxy_pass: nginx then sends the rewritten, "
                                 "decoded and normalised URI")
        return action


# Variables nginx fills from the connection, not from a client's header: a value made of these
# (and constants) replaces whatever X-Forwarded-For the client sent.
_CONNECTION_VARIABLES = {"remote_addr", "realip_remote_addr", "binary_remote_addr", "remote_port",
                         "realip_remote_port", "server_addr", "server_port", "proxy_protocol_addr"}
# Variables that carry the client's own X-Forwarded-For.
_CLIENT_XFF_VARIABLES = {"proxy_add_x_forwarded_for", "http_x_forwarded_for"}


def _forwarded_for(level: Level, proxy: Directive) -> tuple:
    """(Action.forwarded_for, span) for a proxy_pass at this level.

    proxy_set_header is an array directive: the nearest level that sets any is the whole list
    (`level.proxy_headers`), and only the unseen regions from that level down could still add one
    (`level.forwarding_unknowns`). Without X-Forwarded-For in it nginx sends none of its own (the
    client's own header, if any, passes through as every request header does).
    """
    found = [(value, span) for name, value, span in level.proxy_header_list if name == "x-forwarded-for"]
    if not found:
        if level.forwarding_unknowns:
            return None, None
        return "absent", proxy.span
    kinds = [_forwarded_for_value(value) for value, _ in found]
    sent = [(k, span) for k, (_, span) in zip(kinds, found) if k != "absent"]
    if not sent:
        return "absent", found[0][1]    # an empty value: nginx sends no such header at all
    if len(sent) > 1 and sent[0][0] != "append":
        # Each line is a header of its own: the upstream reads the first, or all joined; the
        # left-most value is the first line's, but the client's header is there too.
        return None, sent[0][1]
    return sent[0]


def _forwarded_for_value(value: str) -> Optional[str]:
    """What one `proxy_set_header X-Forwarded-For value` sends (see Action.forwarded_for)."""
    if value == "":
        return "absent"
    names = {(m.group(1) or m.group(2)).lower() for m in re.finditer(r"\$\{(\w+)\}|\$(\w+)", value)}
    if names & _CLIENT_XFF_VARIABLES:
        return "append"
    if all(n in _CONNECTION_VARIABLES or (n.startswith("http_") and n != "http_x_forwarded_for")
           for n in names):
        return "replace"
    # A variable from `map`/`set`/a module: it could hold the client's header.
    return None


def _constant(sets: dict, variable) -> str:
    value = sets.get("$" + (variable.group(1) or variable.group(2)))
    return value if value is not None and "$" not in value else variable.group(0)


def _listen(d: Directive) -> Listen:
    addr = d.args[0]
    flags = {a.lower() for a in d.args[1:]}
    address, port = None, None
    if addr.startswith("unix:"):
        address = addr
    elif addr.startswith("["):
        host, _, rest = addr.partition("]")
        address = host + "]"
        port = _number(rest[1:]) if rest.startswith(":") else 80
    elif _number(addr) is not None:
        port = _number(addr)
    elif ":" in addr:
        host, _, p = addr.rpartition(":")
        address = None if host == "*" else host
        port = _number(p)
    else:
        address, port = addr, 80
    return Listen(port, address, tls="ssl" in flags or "quic" in flags,
                  default="default_server" in flags or "default" in flags, span=d.span)


def _number(text: str) -> Optional[int]:
    """`text` as a number when it is ASCII digits only (`str.isdigit` also accepts `²`)."""
    # Longer than any port or status: int() itself refuses 4,300 digits and more.
    return int(text) if _DIGITS.fullmatch(text) and len(text) <= 18 else None


def _location_match(d: Directive):
    args = d.args
    text = " ".join(args)
    if len(args) >= 2:
        mod, pattern = args[0], args[1]
        if mod == "=":
            return Match("exact", pattern, text=text), False
        if mod == "^~":
            return Match("prefix", pattern, text=text), True
        if mod == "~":
            return Match("regex", pattern, True, text=text), False
        if mod == "~*":
            return Match("regex", pattern, False, text=text), False
    if args and args[0].startswith("@"):
        return Match("named", args[0], text=text), False
    if args and args[0].startswith("="):  # `location =/x` written without a space
        return Match("exact", args[0][1:], text=text), False
    return Match("prefix", args[0] if args else "", text=text), False


def _condition(d: Directive) -> Condition:
    args = [a.strip("()") for a in d.args if a.strip("()")]
    text = "if (" + " ".join(d.args).strip("()") + ")"
    if len(args) == 3 and args[0] == "$request_method":
        op, value = args[1], args[2]
        if op == "=":
            return Condition(text, frozenset({value.upper()}), d.span)
        if op == "!=":
            return Condition(text, ALL_METHODS - {value.upper()}, d.span)
        if op in ("~", "~*"):
            rx = compile_regex(value, op == "~")
            if rx is None:    # PCRE syntax Python lacks, or a broken regex: methods unknown
                return Condition(text, None, d.span)
            return Condition(text, frozenset(m for m in ALL_METHODS if rx.search(m)), d.span)
    return Condition(text, None, d.span)


def _default_type(level: Level) -> Optional[str]:
    d = level.setting("default_type")
    if d is not None and d.args:
        return d.args[0]
    # nginx's built-in default; unknown when the http block was not part of the input or an
    # unseen include in scope could set default_type.
    return "text/plain" if level.complete and not level.unknowns else None


def _return_action(d: Directive, level: Level) -> Action:
    args = d.args
    code = _number(args[0]) if args else None
    if len(args) == 1 and code is None:
        return Action("redirect", d.span, status=302, location=args[0], content_type="text/html")
    code = code or 0
    text = args[1] if len(args) > 1 else None
    if code in REDIRECT_CODES and text is not None:
        return Action("redirect", d.span, status=code, location=text, content_type="text/html")
    if text is not None:
        return Action("respond", d.span, status=code, body=text, content_type=_default_type(level))
    # No text: nginx sends its own error page for error codes, an empty body otherwise.
    ct = "text/html" if code >= 300 and code not in (304,) else None
    return Action("respond", d.span, status=code, body=None, content_type=ct)


def _rewrite_redirects_all(d: Directive) -> bool:
    """`rewrite ^ https://...` style: a redirect for every request."""
    if len(d.args) < 2:
        return False
    flag = d.args[2] if len(d.args) > 2 else ""
    target = d.args[1]
    absolute = target.startswith(("http://", "https://", "$scheme://"))
    return d.args[0] in ("^", "^(.*)$", "^(.*)", "^/(.*)$", "^/(.*)", ".*", "(.*)", "^.*$") and (
        flag in ("redirect", "permanent") or absolute)


def _rewrite_action(d: Directive) -> Action:
    flag = d.args[2] if len(d.args) > 2 else ""
    return Action("redirect", d.span, status=301 if flag == "permanent" else 302, location=d.args[1],
                  content_type="text/html")


STATIC_METHODS = frozenset({"GET", "HEAD", "POST"})


def _static_answers(at: Directive, level: Level, location: Optional[Action]) -> list:
    """[(Condition, Action, error_page)] tried in order: what nginx's content handlers (index,
    static) answer where no handler directive decides (`location` None: no location took the
    request; else the location's own static/none action). GET, HEAD and POST look up a file: 404
    for one that is not there, which is all the model can say (an existing file is 200; POST to it
    405). Any other method is 405. An `error_page` for that status sends the request on to its
    page (another location): the status is the error_page's, the Content-Type and headers the
    page's, which the model leaves unknown; `error_page` is the directive, for facts."""
    lookup = location
    if lookup is None or lookup.kind == "none":
        root = level.setting("root")
        lookup = Action("static", at.span, root=root.args[0] if root is not None and root.args else "html",
                        status=404, content_type="text/html")
    answers = [(Condition("the request method is GET, HEAD or POST", STATIC_METHODS, at.span), lookup, None),
               (None, Action("respond", at.span, status=405, content_type="text/html"), None)]
    out = []
    for condition, action, _ in answers:
        page = None
        if action is not location:
            page = _error_page_for(level.error_pages, action.status)
            if page is not None:
                action.status = _error_page_code(page, action.status)
                action.content_type = None
        out.append((condition, action, page))
    return out


def _error_page_for(pages: list, status: int) -> Optional[Directive]:
    for d in pages:
        codes = [a for a in d.args[:-1] if not a.startswith("=")]
        if str(status) in codes:
            return d
    return None


def _error_page_code(d: Directive, status: int) -> Optional[int]:
    """The status an `error_page` answers with: the same, `=code`, or unknown (`=` alone: the
    page's own; a redirect to a URL: 302)."""
    for a in d.args[:-1]:
        if a.startswith("="):
            return _number(a[1:]) if a != "=" else None
    target = d.args[-1] if d.args else ""
    if target.startswith(("http://", "https://", "$scheme")):
        return 302
    if target.startswith("@"):
        return None     # a named location answers: whatever it does
    return status


def _body_size(level: Level) -> Optional[int]:
    d = level.setting("client_max_body_size")
    if d is not None and d.args:
        size = parse_size(d.args[0])
        return None if size == 0 else size   # 0 disables the check
    return DEFAULT_BODY_SIZE


def _restricted(level: Level) -> bool:
    if level.access and any(d.key == "deny" for d in level.access):
        return True
    auth = level.setting("auth_basic")
    if auth is not None and auth.args and auth.args[0] != "off":
        return True
    return level.setting("auth_request") is not None and level.setting("auth_request").args[:1] != ["off"]


def _setting_arg(level: Level, name: str, default: str) -> str:
    d = level.setting(name)
    return d.args[0] if d is not None and d.args else default
