"""Build the proxy model from an HAProxy syntax tree, with HAProxy 2.6's semantics.

Sites. A `frontend` or `listen` section in `mode http` becomes one Site per host it routes on:
the host names its host ACLs test (`hdr(host) -i matrix.example.org`) each get a Site named after
them, and one more Site (no names, the default listener) stands for every other Host. A frontend
that tests `ssl_fc` or `dst_port` while binding both TLS and plain ports (or several ports) is
split the same way per port. So each Site knows its host, TLS and port (`facts["context"]`), and
a route's remaining conditions are about the request itself.

Mode. A proxy with no `mode` line, in it or in its defaults, is in TCP mode (HAProxy's default),
and so is one with `mode tcp`: HAProxy forwards the connection's bytes as received. Its
`http-request`/`http-response`/`http-after-response` rules and `option forwardfor` are ignored
(HAProxy 2.6 warns that they require HTTP mode), which `Site.facts["ignored_http"]` lists and
`Config.notes` says. Such a Site has one route per `use_backend` that can match when the
connection opens (a test on the request's content never does, unless `tcp-request inspect-delay`
lets the request arrive first) and the default backend: `Match` "any", the original URI, no
header operations, `forwarded_for` "absent". A TCP frontend whose backend is in `mode http` is
upgraded to HTTP by HAProxy and read as HTTP. A file with neither a `global` nor a `defaults`
section (or a section whose header the file does not show) is read as a fragment of a stock
haproxy.cfg, whose defaults say `mode http` (noted in `Config.notes`): what the files do not show
could set the mode, so TCP is never asserted there. A file with only
backends and no `global` section is a piece of a configuration whose frontends are not seen: each
backend becomes one Site, as the default backend of an unseen frontend (no listeners, no names).

Open world (`_open_world`): such fragments carry `Unknown.including_context` in every Site's and
Route's `unknowns`, and a route to a backend the files do not define carries an Unknown for it.

Routes, in HAProxy's evaluation order (selection: routing.py):
1. the frontend's final `http-request` rules (return, redirect, deny, tarpit, auth; an `allow`
   stops the rules after it for the requests it matches) and its `redirect` rules;
2. each `use_backend` rule, preceded by the final rules of the backend it names, then the
   `default_backend` (or a `listen` section's own servers). A request no route takes gets
   HAProxy's own 503 page: `Site.fallback` (`select_route` itself returns no route for it). In TCP
   mode, a connection no backend takes is closed without an answer (a fallback with no status).
A condition's OR-groups become separate routes sharing a group, and so do the patterns of its
path ACL (`path_beg /_matrix /_synapse/client`): each route has one `Match`. Method ACLs become
`Condition.methods`; anything else undecidable stays a condition (reported, never guessed).

Headers. A proxied response gets the backend's then the frontend's `http-response` rules, then
the backend's then the frontend's `http-after-response` rules; a response HAProxy makes itself
(return, redirect, deny, 503/504) gets only the `http-after-response` rules (the backend's only
once a backend was chosen). `set-header` replaces, `add-header` appends (a second value beside the
upstream's), `del-header` removes. Response rules cannot see the request's path or headers: an
ACL on them never matches there (HAProxy 2.6 only warns), so such a rule is dropped (`if`) or kept
for everything (`unless`); a `var(txn.x)` set by an `http-request set-var` rule stands for what
set it. Rules whose condition still depends on the request keep it as `HeaderOp.condition`; a
condition on `status` becomes `HeaderOp.statuses`. Values keep HAProxy's log-format text, with
request headers (`%[req.hdr(origin)]`, a capture, a variable holding one) spelled `$http_origin`.

Upstream side. HAProxy forwards the request target as received and the client's Host, over
HTTP/1.1. `http-request set-header/add-header/del-header` change the request headers; `option
forwardfor` (frontend or backend) appends one more `X-Forwarded-For` after whatever the request
already has (`if-none`: only when it has none); `Action.forwarded_for` sums it up ("append" while
the client's own header can stay first, "replace", "absent", None when set on a condition only).
URI rewrites (`set-path`, `replace-path`,
`set-uri`, `normalize-uri`, ...) make `Action.uri` "normalized". The upstream being down gives
503 (HAProxy's error page: text/html, or the `errorfile`'s content type).
"""
from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, replace
from typing import Optional

from linter.haproxy import actions, sections
from linter.haproxy.conditions import (OTHER_HOST, All, Not, Term, collect_variables, condition_expr, condition_text,
                                       disjuncts, evaluate, terms)
from linter.haproxy.shapes import expr as _expr
from linter.haproxy.shapes import has_unknown, shapes
from linter.haproxy.routing import Reach, relative, relative_statuses, site_context
from linter.haproxy.conditions import AclTable
from linter.haproxy.numbers import small_int
from linter.model import Action, Condition, Config, Listen, Match, Route, Site, Unknown
from linter.syntax import Tree

XFF = "x-forwarded-for"
HAPROXY_503_BODY = ("<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this "
                    "request.\n</body></html>\n")
MAX_ROUTES_PER_RULE = 64        # AND-group combinations of one rule's conditions
_DOMAIN = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")


def build(tree: Tree, options: Optional[dict] = None) -> Config:
    options = options or {}
    fronts, backs = sections.read(tree)
    seen_sections = {d.key for d in tree.directives if d.extra.get("section")}
    stock = not seen_sections & {"global", "defaults"}
    builder = _Builder(tree, backs, assume_http=stock)
    unseen_frontend = not fronts and "global" not in seen_sections
    if unseen_frontend:
        # Only backends (a conf.d piece, a documentation excerpt): each is reached from a
        # frontend not in the files read. Model it as such a frontend's default backend.
        fronts = [_frontend_not_seen(b) for b in backs.values() if b.kind == "backend"]
    for proxy in fronts:
        builder.add_frontend(proxy)
    config = Config("haproxy", tree, builder.sites, dict(options), builder.notes)
    fragment = stock or unseen_frontend or any(d.extra.get("fragment") for d in tree.directives)
    _open_world(config, backs, fragment)
    return config


def _frontend_not_seen(backend) -> sections.Proxy:
    fe = sections.Proxy("frontend", "", backend.directive, [], AclTable([]), dict(backend.settings),
                        dict(backend.errorfiles))
    # what `default_backend <name>` would say, written where the backend is
    default = replace(backend.directive, args=[backend.name], arg_spans=[], block=None, extra={})
    fe.settings["default_backend"] = sections.Setting(backend.name, default)
    fe.settings.pop("forwardfor", None)        # the backend's own: counted there
    return fe


def _open_world(config: Config, backs: dict, fragment: bool) -> None:
    """Unknowns (see linter.model): what a route's rules could come from but the files do not show.

    - A fragment (no `global` nor `defaults` section, lines of a section whose header is not in
      the file, or only backends): the configuration it belongs to could set the mode, forwarding
      options and rules of a named defaults section, and it holds the frontends of a file
      with only backends: `Unknown.including_context` on every site, route, and the config.
    - A route to a backend that is not in the files read (or that `use_backend %[...]` picks at
      run time): that backend's `http-request`/`http-response` rules and `option forwardfor` are
      unseen: an Unknown at the `use_backend`/`default_backend` line.
    """
    context = [Unknown.including_context(config.tree.root)] if fragment else []
    config.unknowns = list(context)
    for site in config.sites:
        site.unknowns = list(context)
        for route in site.routes:
            route.unknowns = list(context)
            name = route.facts.get("backend")
            if name and name not in backs and route.facts.get("haproxy_answered_by") is None:
                what = (f"the backend `{name}` picks at run time" if "%[" in name
                        else f"backend `{name}` (not in the files read)")
                route.unknowns.append(Unknown(route.span, what))


@dataclass
class _Step:
    """One route-making rule: the rule lines whose conditions must all hold, and what answers."""

    conds: list                 # [(Directive, AclTable)]
    guards: list                # expressions that must hold too (no earlier `allow` matched)
    directive: object           # the line the route comes from (its span)
    final: object = None        # the final rule answering, None for proxying
    backend: object = None      # sections.Proxy chosen (None: not in the files read)
    backend_name: str = ""
    where: str = "frontend"     # which section answers a generated response


class _Builder:
    def __init__(self, tree: Tree, backs: dict, assume_http: bool):
        self.tree = tree
        self.backs = backs
        self.assume_http = assume_http
        self.base_dir = os.path.dirname(tree.root) if tree.root else "."
        self.sites: list = []
        self.notes: list = []
        self._group = 0
        self._vars: dict = {}       # the current frontend's txn variables (conditions.collect_variables)
        self._aliases: dict = {}    # samples that hold a request header: "capture.req.hdr(0)" -> "origin"

    # -- sites -------------------------------------------------------------------------------
    def _mode(self, fe) -> tuple:
        """(mode, how it is known): "set" (a `mode` line here or in the defaults), "assumed"
        (not in the files read, which do not show everything: read as HTTP, never asserted TCP),
        "default" (HAProxy's own default, tcp), "upgraded" (a TCP frontend whose backend is in
        mode http: HAProxy upgrades the stream and runs the HTTP rules, measured with 2.6)."""
        mode = fe.setting("mode")
        if mode is not None and mode.value != "tcp":
            return mode.value, "set"
        if mode is None and (self.assume_http or fe.directive.extra.get("fragment")):
            note = "no `mode http` in the files read: assumed, as in a stock haproxy.cfg's defaults"
            if note not in self.notes:
                self.notes.append(note)
            return "http", "assumed"
        how = "set" if mode is not None else "default"
        if any(b.setting("mode") is not None and b.setting("mode").value == "http" for b in self._used_backends(fe)):
            self.notes.append(f"{fe.kind} {fe.name}: TCP mode, but a backend it uses is in mode http: HAProxy "
                              f"upgrades the connection to HTTP there and runs the HTTP rules (read as HTTP)")
            return "http", "upgraded"
        return "tcp", how

    def _used_backends(self, fe) -> list:
        names = [d.args[0] for d in fe.lines("use_backend", "default_backend") if d.args]
        inherited = fe.setting("default_backend")
        if inherited is not None:
            names.append(inherited.value)
        return [self.backs[n] for n in dict.fromkeys(names) if n in self.backs and self.backs[n] is not fe]

    def add_frontend(self, fe) -> None:
        mode_name, how = self._mode(fe)
        listens = self._listens(fe)
        facts = {"frontend": fe.name, "mode": mode_name, "mode_known": how}
        if mode_name == "tcp":
            self._tcp_site(fe, listens, facts)
            return
        if mode_name != "http":
            self.notes.append(f"{fe.kind} {fe.name}: mode {mode_name}: the model does not look inside")
            self.sites.append(Site("haproxy", [], listens, fe.span, selection="haproxy",
                                   facts={**facts, "context": {}}))
            return
        self._vars, self._aliases = self._variables(fe)
        steps, request_ops = self._plan(fe)
        used = self._terms(fe, steps)
        hosts = self._hosts(used)
        for tls, port, group in self._listen_groups(listens, used):
            for host in hosts + [OTHER_HOST]:
                site = Site("haproxy", [host] if host != OTHER_HOST else [],
                            [replace(l, default=host == OTHER_HOST) for l in group], fe.span,
                            selection="haproxy",
                            facts={**facts, "context": {"host": host, "tls": tls, "port": port}})
                self._fill(site, fe, steps, request_ops)
                self.sites.append(site)

    def _tcp_site(self, fe, listens: list, facts: dict) -> None:
        """A proxy in TCP mode: HAProxy forwards the connection's bytes as received. Its
        `http-request`, `http-response`, `http-after-response` rules and `option forwardfor` are
        ignored (HAProxy 2.6 warns "'http-request' rules ignored for frontend 'fe' as they require
        HTTP mode"), so the homeserver gets no X-Forwarded-For (what the client sent passes
        untouched) and the responses no header of HAProxy's. `use_backend` rules are read once
        the connection opens: a test on the request (path, Host, method) matches only when
        `tcp-request inspect-delay` lets the request arrive first, and never otherwise."""
        ignored = [d for d in fe.body if d.key in sections.RULE_KEYWORDS + ("redirect",)
                   or d.key == "option" and d.args[:1] == ["forwardfor"]]
        inherited = fe.setting("forwardfor")
        if inherited is not None and inherited.directive is not None and inherited.directive not in ignored:
            ignored.append(inherited.directive)
        what = ("no `mode http` in it nor in its defaults: HAProxy's default is TCP"
                if facts["mode_known"] == "default" else "`mode tcp`")
        self.notes.append(f"{fe.kind} {fe.name}: TCP mode ({what}): HAProxy forwards the bytes as received; its "
                          f"http-request/http-response rules and `option forwardfor` are ignored (HAProxy "
                          f"warns that they require HTTP mode), so no X-Forwarded-* header is added")
        site = Site("haproxy", [], listens, fe.span, selection="haproxy",
                    facts={**facts, "context": {"tls": _all_tls(listens), "port": _one_port(listens)},
                           "ignored_http": ignored})
        inspect = bool(fe.lines("tcp-request")) and any(d.args[:1] == ["inspect-delay"] for d in fe.lines("tcp-request"))
        steps = [(d, d.args[0]) for d in fe.lines("use_backend") if d.args]
        default = fe.lines("default_backend")[-1:] or ([fe.setting("default_backend").directive]
                                                       if fe.setting("default_backend") else [])
        if default and default[0].args:
            steps.append((default[0], default[0].args[0]))
        elif fe.kind == "listen" and fe.servers:
            steps.append((fe.directive, fe.name))
        ctx0 = site_context(site)
        for d, name in steps:
            cond = d.extra.get("condition") if d.key == "use_backend" else None
            test = condition_expr(cond, fe.acls, {}) if cond is not None else All([])
            if not inspect:
                test = _no_content(test)
            if evaluate(test, ctx0) is False:
                continue
            self._group += 1
            backend = fe if name == fe.name and fe.kind == "listen" else self.backs.get(name)
            action = Action("proxy", fe.span, upstream=name, uri="original", uri_span=fe.span,
                            uri_reason=f"{fe.kind} `{fe.name}` is in TCP mode: HAProxy forwards the bytes as received",
                            request_headers={"host": "%[req.hdr(host)]"},
                            forwarded_for="absent", forwarded_for_span=fe.span)
            route = Route(_ANY, action, d.span, group=self._group,
                          condition=Condition(condition_text(d)) if cond is not None else None)
            route.facts.update({
                "haproxy_test": test, "haproxy_test_text": condition_text(d) if cond is not None else "",
                "frontend": fe.name, "backend": name, "mode": "tcp",
                "upstream_http_version": "1.1",       # the client's own request line, as sent
                # the upstream down: HAProxy closes the connection without an HTTP answer
                "upstream_down_status": None, "error_content_type": None,
                "haproxy_answered_by": None, "body_size_directive": None, "body_size_unseen_parent": False,
                "timeout_server": backend.setting("timeout server") if backend else None,
                "timeout_client": fe.setting("timeout client"),
                "forwardfor": None, "xff_appended_after_client": None,
            })
            site.routes.append(route)
            if evaluate(test, ctx0) is True:
                break
        # No backend takes the connection: HAProxy closes it without an answer.
        site.fallback = [Route(_ANY, Action("respond", fe.span, status=None), fe.span, fallback=True,
                               facts={"mode": "tcp", "haproxy_answered_by": "frontend",
                                      "closed": "HAProxy closes the connection without an HTTP answer"})]
        self.sites.append(site)

    def _listens(self, fe) -> list:
        out = []
        for d in fe.lines("bind"):
            if not d.args:
                continue
            tls = "ssl" in d.args[1:]
            for address in d.args[0].split(","):
                out.append(_listen(address, tls, d.span))
        return out

    def _listen_groups(self, listens: list, used: list) -> list:
        """[(tls, port, listens)]: one group, or one per port / per TLS-ness when conditions test it."""
        term_kinds = {t.kind for t in used}
        if "port" in term_kinds and len({l.port for l in listens}) > 1:
            keys = list(dict.fromkeys(l.port for l in listens))
            return [(_all_tls([l for l in listens if l.port == p]), p, [l for l in listens if l.port == p])
                    for p in keys]
        if "tls" in term_kinds and len({l.tls for l in listens}) > 1:
            return [(tls, _one_port([l for l in listens if l.tls == tls]), [l for l in listens if l.tls == tls])
                    for tls in (False, True)]
        return [(_all_tls(listens), _one_port(listens), listens)]

    def _hosts(self, used: list) -> list:
        hosts = []
        for t in used:
            if t.kind != "host" or t.how not in ("str", "dom", "end"):
                continue
            for p in t.patterns:
                host = p.rsplit(":", 1)[0] if re.search(r":\d+$", p) else p
                if _DOMAIN.match(host) and host not in hosts:
                    hosts.append(host)
        return hosts

    def _terms(self, fe, steps: list) -> list:
        """Every ACL term the frontend's rules and the rules of the backends it uses test."""
        owners = [fe] + [s.backend for s in steps if s.backend is not None and s.backend is not fe]
        out = []
        for owner in {id(o): o for o in owners}.values():
            for d in list(owner.body) + list(owner.inherited_rules):
                cond = d.extra.get("condition")
                if cond is not None:
                    out += terms(condition_expr(cond, owner.acls, self._vars))
        return out

    def _variables(self, fe) -> tuple:
        """The txn variables set by the frontend's and its backends' http-request rules, and the
        samples holding a request header (captures, variables set from `req.hdr()`)."""
        owners = [fe]
        inherited = fe.setting("default_backend")
        for d in fe.lines("use_backend", "default_backend") + ([inherited.directive] if inherited else []):
            if d.args and d.args[0] in self.backs:
                owners.append(self.backs[d.args[0]])
        lines = [(d, o.acls) for o in owners for d in o.rules("http-request")]
        variables = collect_variables(lines)
        aliases = {}
        captures = [d for d in fe.lines("capture") if d.args[:2] == ["request", "header"] and len(d.args) > 2]
        for i, d in enumerate(captures):
            aliases[f"capture.req.hdr({i})"] = d.args[2]
        for name, entry in variables.items():
            m = re.fullmatch(r"(?:req\.)?f?hdr\(\s*([\w-]+)\s*\)", entry[0]) if entry else None
            if m and entry[1] is None:
                aliases[f"var({name})"] = m.group(1)
        return variables, aliases

    # -- the rule plan (shared by the frontend's sites) ----------------------------------------
    def _plan(self, fe):
        steps, guards, request_ops = [], [], {"frontend": []}
        for d in fe.rules("http-request"):
            verb = (actions.words(d) or [""])[0].lower()
            if verb == "allow":
                guards.append(Not(condition_expr(d.extra.get("condition"), fe.acls, self._vars)))
                continue
            if verb in actions.FINAL_REQUEST_ACTIONS:
                steps.append(_Step([(d, fe.acls)], list(guards), d, final=d, where="frontend"))
                if _unconditional(d, guards):
                    return steps, request_ops      # nothing after it is ever reached
            elif actions.request_op(d) is not None:
                request_ops["frontend"].append((d, fe.acls, list(guards)))
        for d in fe.lines("redirect"):
            steps.append(_Step([(d, fe.acls)], [], d, final=d, where="frontend"))
            if _unconditional(d, []):
                return steps, request_ops
        for d in fe.lines("use_backend"):
            if d.args:
                steps += self._backend_steps([(d, fe.acls)], d, d.args[0], fe, request_ops)
        inherited = fe.setting("default_backend")      # a defaults section may name it too
        default = (fe.lines("default_backend") or [inherited.directive if inherited else None])[-1]
        if default is not None and default.args:
            steps += self._backend_steps([], default, default.args[0], fe, request_ops)
        elif fe.kind == "listen" and fe.servers:
            steps += self._backend_steps([], fe.directive, fe.name, fe, request_ops, own=fe)
        return steps, request_ops

    def _backend_steps(self, conds, d, name, fe, request_ops, own=None) -> list:
        backend = own or self.backs.get(name)
        steps = []
        if backend is not None and backend is not fe:
            guards, ops = [], []
            for r in backend.rules("http-request"):
                verb = (actions.words(r) or [""])[0].lower()
                if verb == "allow":
                    guards.append(Not(condition_expr(r.extra.get("condition"), backend.acls, self._vars)))
                elif verb in actions.FINAL_REQUEST_ACTIONS:
                    steps.append(_Step(conds + [(r, backend.acls)], list(guards), r, r, backend, name, "backend"))
                    if _unconditional(r, guards):
                        request_ops[name] = ops
                        return steps
                elif actions.request_op(r) is not None:
                    ops.append((r, backend.acls, list(guards)))
            request_ops[name] = ops
            for r in backend.lines("redirect"):
                steps.append(_Step(conds + [(r, backend.acls)], [], r, r, backend, name, "backend"))
                if _unconditional(r, []):
                    return steps
        steps.append(_Step(conds, [], d, None, backend, name, "backend"))
        return steps

    # -- routes of one site ----------------------------------------------------------------------
    def _fill(self, site: Site, fe, steps: list, request_ops: dict) -> None:
        reach = Reach(site)
        ctx0 = site_context(site)
        self._restricting = []      # the site's routes so far that deny or restrict access
        made = set()
        for step in steps:
            if site.routes and evaluate(site.routes[-1].facts["haproxy_test"], ctx0) is True:
                break           # the last route takes every request here: nothing after it is reached
            # A rule written again with the same conditions and the same answer is never reached:
            # the first one takes every request it would (and 15,000 repeats cost seconds each).
            signature = (tuple((d.name, tuple(d.args), id(acls)) for d, acls in step.conds),
                         tuple(id(g) for g in step.guards), step.backend_name, step.where,
                         (step.final.name, tuple(step.final.args)) if step.final is not None else None)
            if signature in made:
                continue
            made.add(signature)
            self._group += 1
            conj_lists = [disjuncts(d.extra.get("condition"), acls, self._vars) for d, acls in step.conds]
            combos = list(itertools.islice(itertools.product(*conj_lists), MAX_ROUTES_PER_RULE))
            text = _step_text(step)
            for combo in combos:
                conj = [item for part in combo for item in part]
                whole = All([_expr(n, e) for n, e in conj] + step.guards)
                if evaluate(whole, ctx0) is False:
                    continue
                guarded = bool(step.guards) and has_unknown(step.guards, ctx0)
                for match, test_conj, condition in shapes(conj, ctx0, text, step.directive.span, guarded):
                    test = All([_expr(n, e) for n, e in test_conj] + step.guards)
                    action, extra = self._action(step, fe)
                    route = self._route(site, fe, step, match, action, test, condition, text)
                    index = len(site.routes)
                    site.routes.append(route)
                    if route.facts.get("restricting"):
                        self._restricting.append(route)
                    self._complete(site, fe, step, route, extra, reach.contexts(route, index), request_ops)
        # What a request no route takes gets with HAProxy's 503: the frontend's http-after-response.
        site.headers = [op for op in self._response_ops(site, fe, None, [], generated=True) if op.on_generated]
        site.fallback = [self._fallback(site, fe)]

    def _fallback(self, site, fe) -> Route:
        """HAProxy's answer to a request no rule and no backend takes: its own 503 page ("No
        server is available to handle this request.", text/html, `cache-control: no-cache`), or
        the frontend's `errorfile 503`; only the frontend's `http-after-response` rules apply
        (measured with HAProxy 2.6, tests/real/test_model_haproxy.py)."""
        status = sections.error_status(503, [fe])
        content_type = sections.error_content_type(503, [fe], self.base_dir)
        custom = 503 in fe.errorfiles
        action = Action("respond", fe.span, status=status, content_type=content_type,
                        body=None if custom else HAPROXY_503_BODY)
        route = Route(Match("any", text="no rule or backend takes it"), action, fe.span, fallback=True,
                      headers=list(site.headers))
        route.facts.update({"haproxy_test": All([]), "haproxy_test_text": "", "frontend": fe.name,
                            "backend": None, "haproxy_answered_by": "frontend",
                            "error_content_type": content_type})
        if custom and content_type is None:
            route.facts["content_type_unknown"] = True
        return route

    def _route(self, site, fe, step, match, action, test, condition, text) -> Route:
        route = Route(match, action, step.directive.span, condition=condition, group=self._group)
        route.facts.update({
            "haproxy_test": test, "haproxy_test_text": text or _guard_text(step),
            "frontend": fe.name, "backend": step.backend_name or None,
            "upstream_http_version": "1.1",
            "upstream_down_status": sections.error_status(503, [step.backend, fe]),
            "error_content_type": sections.error_content_type(503, [step.backend, fe], self.base_dir),
            "haproxy_answered_by": step.where if step.final is not None else None,
            # HAProxy sets no request body limit of its own: max_body_size stays None (unlimited).
            "body_size_directive": None, "body_size_unseen_parent": False,
        })
        backend = step.backend
        route.facts["timeout_server"] = backend.setting("timeout server") if backend else None
        route.facts["timeout_client"] = fe.setting("timeout client")
        if step.final is not None and {"errorfile", "errorfiles"} & set(actions.words(step.final)):
            route.facts["content_type_unknown"] = True     # the error file's own headers, not read
        if step.final is not None and (actions.words(step.final) or [""])[0].lower() in actions.RESTRICTING:
            route.facts["restricting"] = True
            route.access_restricted = True
        return route

    def _action(self, step, fe) -> tuple:
        """(Action, HeaderOps the answering rule adds itself); a fresh Action for every route."""
        if step.final is not None:
            owners = [step.backend, fe] if step.where == "backend" else [fe]

            def error_type(status):
                return sections.error_content_type(status, owners, self.base_dir)
            return actions.final_action(step.final, error_type, self.base_dir)
        backend = step.backend
        if backend is not None and not backend.servers:
            return Action("respond", backend.span, status=503,
                          content_type=sections.error_content_type(503, [backend, fe], self.base_dir)), []
        span = backend.span if backend is not None else step.directive.span
        return Action("proxy", span, upstream=step.backend_name), []

    def _complete(self, site, fe, step, route, extra, contexts, request_ops) -> None:
        action = route.action
        generated = action.kind != "proxy"
        route.headers = extra + self._response_ops(site, fe, step, contexts, generated)
        if action.kind == "proxy":
            self._request_side(site, fe, step, route, contexts, request_ops)
            earlier = [r for r in self._restricting if r is not route]
            if any(evaluate(r.facts["haproxy_test"], ctx) is None for r in earlier for ctx in contexts):
                route.access_restricted = True

    def _response_ops(self, site, fe, step, contexts, generated: bool) -> list:
        backend = step.backend if step is not None and step.backend is not fe else None
        chosen = step is not None and (step.final is None or step.where == "backend")
        owners = ([backend] if backend is not None and chosen else []) + [fe]
        out = []
        for keyword, on_generated in (("http-response", False), ("http-after-response", True)):
            for owner in owners:
                for d in owner.rules(keyword):
                    op = actions.header_op(d, on_generated=on_generated, aliases=self._aliases)
                    if op is None:
                        continue
                    cond = condition_expr(d.extra.get("condition"), owner.acls, self._vars)
                    holds, statuses = relative_statuses(cond, contexts, site)
                    if holds is False:
                        continue
                    op.statuses = statuses
                    if holds is None:
                        op.condition = condition_text(d)
                    out.append(op)
        return out

    def _request_side(self, site, fe, step, route, contexts, request_ops) -> None:
        action = route.action
        backend = step.backend if step.backend is not fe else None
        ops = list(request_ops["frontend"]) + (list(request_ops.get(step.backend_name, [])) if backend else [])
        headers = {"host": "%[req.hdr(host)]"}
        client_xff, appender = True, None
        xff_span = None             # the last line that decided the X-Forwarded-For sent upstream
        xff_sure = False            # set for every request this route answers (not on a condition)
        for d, acls, guards in ops:
            verb, name, value = actions.request_op(d)
            cond = condition_expr(d.extra.get("condition"), acls, self._vars)
            holds = relative(All([cond] + guards), contexts, site)
            if holds is False:
                continue
            if name is None:
                if action.uri == "original":
                    action.uri = "normalized"
                    action.uri_span = d.span
                    action.uri_reason = actions.uri_reason(d, verb)
                continue
            if verb == "set-header":
                headers[name] = value
                if name == XFF:
                    xff_span = d.span
                    xff_sure = xff_sure or bool(holds)
                    if holds and not _copies_client_xff(value):
                        client_xff, appender = False, None
                    elif _copies_client_xff(value) and appender is None:
                        appender = d
            elif verb == "add-header":
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
                if name == XFF:
                    xff_span = d.span
                    xff_sure = xff_sure or bool(holds)
                    if client_xff and appender is None:
                        appender = d
            elif verb == "del-header" and holds:
                headers.pop(name, None)
                if name == XFF:
                    client_xff, appender, xff_sure = False, None, False
        forwardfor = (backend.setting("forwardfor") if backend is not None else None) or fe.setting("forwardfor")
        if forwardfor is not None:
            header = forwardfor.value["header"]
            if not (forwardfor.value["if_none"] and header in headers):
                headers[header] = f"{headers[header]}, %[src]" if header in headers else "%[src]"
                if header == XFF:
                    xff_span, xff_sure = forwardfor.directive.span, True
                    if client_xff and appender is None:
                        appender = forwardfor.directive
            route.facts["forwardfor"] = forwardfor.directive
        action.request_headers = headers
        route.facts["xff_appended_after_client"] = appender
        # What the homeserver's X-Forwarded-For holds (see Action.forwarded_for). Without any
        # line adding one, HAProxy passes on whatever the client sent and adds nothing.
        if appender is not None:
            action.forwarded_for, action.forwarded_for_span = "append", appender.span
        elif XFF in headers:
            # set only under a condition the model cannot decide: other requests get none
            action.forwarded_for = "replace" if xff_sure else None
            action.forwarded_for_span = xff_span
        else:
            action.forwarded_for, action.forwarded_for_span = "absent", route.span


# -- helpers -----------------------------------------------------------------------------------

def _listen(address: str, tls: bool, span) -> Listen:
    address = re.sub(r"^(?:ipv4|ipv6|tcp|tcp4|tcp6)@", "", address)
    if address.startswith(("unix@", "abns@", "fd@", "sockpair@", "/", "quic4@", "quic6@", "udp@")):
        return Listen(None, "unix:" + address, tls, span=span)
    host, sep, port = address.rpartition(":")
    if not sep:
        return Listen(None, address or None, tls, span=span)
    first = port.split("-", 1)[0]
    return Listen(small_int(first), None if host in ("", "*") else host, tls, span=span)


def _all_tls(listens: list) -> Optional[bool]:
    values = {l.tls for l in listens}
    return values.pop() if len(values) == 1 else None


def _one_port(listens: list) -> Optional[int]:
    values = {l.port for l in listens}
    return values.pop() if len(values) == 1 else None


_ANY = Match("any", text="any request (TCP mode)")


def _no_content(expr):
    """A condition as HAProxy evaluates it when the connection opens in TCP mode, before any of
    the request has arrived: every test on the request's content fails."""
    if isinstance(expr, Term):
        if expr.request_only or expr.kind in ("path", "host", "method"):
            return Term("const", value=False, text=expr.text)
        return expr
    if isinstance(expr, Not):
        return Not(_no_content(expr.item))
    return type(expr)([_no_content(item) for item in expr.items])


def _copies_client_xff(value: str) -> bool:
    """A value that carries the request's own X-Forwarded-For on (`%[req.hdr(x-forwarded-for)]`)."""
    return bool(re.search(r"%\[(?:req\.)?f?hdr\(\s*x-forwarded-for\b", value or "", re.I))


def _unconditional(d, guards: list) -> bool:
    return d.extra.get("condition") is None and not guards


def _step_text(step) -> str:
    parts = [condition_text(d) for d, _ in step.conds if d.extra.get("condition") is not None]
    return " and ".join(parts)


def _guard_text(step) -> str:
    return "an earlier `http-request allow` rule" if step.guards else ""
