"""One way through a Caddy handler chain (a `Walk`) as a model `Route`: action, headers, limits.

See build.py for the semantics in words; this module turns them into the model's fields.
"""
from __future__ import annotations

import json
import math
import re
from typing import Optional

from linter.caddy.chain import CRoute, Handler
from linter.caddy.evaluate import walk
from linter.caddy.forwarded import forwarded_for
from linter.caddy.matchers import ALL_METHODS, to_match
from linter.caddy.numbers import atoi
from linter.model import Action, Condition, HeaderOp, Match, Route

MATRIX_STRIP = ("/_matrix", "/_synapse")
CLIENT_HOST = "{http.request.hostport}"
PLACEHOLDER = re.compile(r"\{[\w.$:\-\[\]]+\}")      # {http.request.uri}, {env.HOST}, {args[0]}
UPSTREAM_HOST = {"{upstream_hostport}", "{http.reverse_proxy.upstream.hostport}", "{upstream_host}",
                 "{http.reverse_proxy.upstream.host}"}
CLIENT_HOST_VALUES = {"{host}", "{hostport}", "{http.request.host}", "{http.request.hostport}"}
# Order in which one `headers` handler applies its operations (HeaderOps.ApplyTo).
_OP_ORDER = {"add": 0, "set": 1, "default": 1, "delete": 2, "replace": 3}
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
          "ki": 1024, "kib": 1024, "mi": 1024**2, "mib": 1024**2, "gi": 1024**3, "gib": 1024**3}


def chosen_pattern(state) -> Optional[tuple]:
    """The path pattern that best describes the requests taking this way: the most specific one
    matched before any rewrite (exact before prefix, longer before shorter)."""
    before = [p for p in state.patterns if not p[2]] or state.patterns
    if not before:
        return None

    def rank(item):
        m = to_match(item[0])
        return (m.kind == "exact", len(m.pattern) if m.kind in ("exact", "prefix") else 0)
    return max(before, key=rank)


def key_of(state) -> tuple:
    chosen = chosen_pattern(state)
    return state.key(chosen[0] if chosen else None)


def add_route(site, key: tuple, state, methods: Optional[frozenset]) -> Route:
    chosen = chosen_pattern(state)
    match = to_match(chosen[0]) if chosen else Match("any", text="*")
    terminal = state.terminal
    groups = site.facts.setdefault("groups", {})
    group = groups.setdefault(id(terminal), len(groups) + 1)
    errors = _error_answer(site, state)
    action = _action(state, match, errors, site)
    headers = _headers(state, action, errors)
    route = Route(match, action, terminal.directive.span, headers, _condition(state, methods), group)
    route.facts.update({
        "walk": state, "terminal": terminal, "upstream_http_version": "1.1",
        "upstream_down_status": errors["status"] if errors else 502,
        "error_content_type": errors["content_type"] if errors else None,
        "body_size_directive": None, "body_size_unseen_parent": False,
        "error_entered": errors["entered"] if errors else [],
    })
    if state.body_limit is not None:
        setting = next(iter(state.body_limit.directive.children("max_size")), None)
        size = caddy_size(setting.args[0]) if setting is not None and setting.args else None
        route.max_body_size = size
        route.facts["body_size_directive"] = setting if size is not None else None
    route.access_restricted = bool(state.auth) or bool(state.skipped_blocks) or any(
        m.kind in ("remote_ip", "client_ip", "authentication") for m in state.assumed)
    site.routes.append(route)
    site.facts["index"][key] = route
    return route


def caddy_size(text: str) -> Optional[int]:
    """Caddy's sizes (go-humanize ParseBytes): `10MB` is 10,000,000 bytes, `10MiB` 10,485,760."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", text or "")
    if not m or m.group(2).lower() not in _UNITS:
        return None
    try:
        size = float(m.group(1)) * _UNITS[m.group(2).lower()]
    except ValueError:
        return None
    return int(size) if math.isfinite(size) else None      # `9` x 400 is inf


def _condition(state, methods: Optional[frozenset]) -> Optional[Condition]:
    if state.assumed:
        text = " and ".join(m.text() for m in state.assumed)
        return Condition(text, None, state.assumed[0].span)
    if methods is not None and methods != ALL_METHODS:
        listed = sorted(methods)
        text = f"method {' '.join(listed)}" if len(listed) <= 4 else f"not method {' '.join(sorted(ALL_METHODS - methods))}"
        return Condition(text, methods, None)
    return None


# ---- the answer ----------------------------------------------------------------------------

def _action(state, match: Match, errors: Optional[dict], site=None) -> Action:
    h = state.terminal
    d = h.directive
    data = h.data
    if h.kind == "reverse_proxy" and not data.get("forward_auth"):
        action = _proxy_action(state, h, match)
        if site is not None:
            action.forwarded_for, action.forwarded_for_span, stripped = forwarded_for(site, state, h)
            if stripped:          # an untrusted unix socket client: Caddy deletes X-Forwarded-*
                for name in ("x-forwarded-proto", "x-forwarded-host"):
                    action.request_headers.pop(name, None)
            if action.forwarded_for == "absent":
                action.request_headers.pop("x-forwarded-for", None)
        return action
    if h.kind == "static_response":
        kind = data.get("kind")
        if kind == "redirect":
            return Action("redirect", d.span, status=data.get("status"), location=data.get("location"),
                          content_type="")
        if kind == "abort":
            return Action("respond", d.span, status=None)
        body = data.get("body")
        status = data.get("status") or 200
        return Action("respond", d.span, status=status, body=body,
                      content_type=data.get("content_type") or respond_content_type(body))
    if h.kind == "error":
        status = errors["status"] if errors else data.get("status") or 500
        ct = errors["content_type"] if errors else None
        return Action("respond", d.span, status=status, body=None, content_type=ct)
    if h.kind == "file_server":
        return Action("static", d.span, root=state.root, content_type=_file_type(match))
    if h.kind == "authentication":
        return Action("respond", d.span, status=401, body=None, content_type="")
    if h.kind == "reverse_proxy" and data.get("forward_auth"):
        return Action("respond", d.span, status=None)     # the auth service's own answer
    return Action("none", d.span)


def respond_content_type(body: Optional[str]) -> str:
    """What `respond` sends when nothing set a Content-Type (caddyhttp/staticresp.go); "" for none."""
    if not body:
        return ""
    if not PLACEHOLDER.sub("", body).strip():
        return None          # only placeholders: empty or not, Caddy decides at run time
    text = body.strip()
    if len(text) > 2 and (text[0] == "{" and text[-1] == "}" or text[0] == "[" and text[-1] == "]"):
        try:
            json.loads(text)
            return "application/json"
        except ValueError:
            pass
    return "text/plain; charset=utf-8"


def _file_type(match: Match) -> Optional[str]:
    """file_server: the type of the file's extension, and none at all for a file without one
    (Caddy tells Go not to sniff: fileserver/staticfiles.go); None when the path is not known."""
    name = (match.pattern or "").rstrip("/").rsplit("/", 1)[-1]
    if match.kind != "exact":
        return None
    if "." not in name:
        return ""
    ext = name.rsplit(".", 1)[1].lower()
    return {"json": "application/json", "html": "text/html; charset=utf-8",
            "txt": "text/plain; charset=utf-8"}.get(ext)


def _proxy_action(state, h, match: Match) -> Action:
    data = h.data
    upstream = data["upstreams"][0] if data.get("upstreams") else None
    action = Action("proxy", h.directive.span, upstream=upstream)
    headers = {"x-forwarded-for": None, "x-forwarded-proto": None, "x-forwarded-host": None}
    if not data.get("tls"):
        headers["host"] = CLIENT_HOST
    for _, op in state.request_ops:
        if op["name"].lower() not in ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"):
            _apply_request_op(headers, op)    # reverse_proxy sets X-Forwarded-* after request_header
    for op in data.get("header_up", ()):
        _apply_request_op(headers, op)
    action.request_headers = headers
    strips = [(rh, before, after) for rh, before, after in state.rewrites if "strip_prefix" in rh.data]
    others = [(rh, before, after) for rh, before, after in state.rewrites if "strip_prefix" not in rh.data]
    if others:
        rh = others[0][0]
        action.uri = "normalized"
        action.uri_span = rh.directive.span
        action.uri_reason = (f"`{_written(rh.directive)}` rewrites the path before reverse_proxy: the upstream "
                             f"gets Caddy's rewritten URI, not the client's")
    elif strips:
        rh = strips[0][0]
        prefix = rh.data["strip_prefix"]
        action.uri_span = rh.directive.span
        what = "handle_path" if rh.data.get("handle_path") else "uri strip_prefix"
        action.uri_reason = (f"{what} removes `{prefix}` from the path before reverse_proxy: the upstream "
                             f"does not get the URI the client sent")
        pattern = match.pattern if match.kind == "prefix" else None
        if len(strips) == 1 and pattern is not None and pattern.startswith(prefix.lower()):
            action.uri = "replaced"
            action.uri_part = pattern[len(prefix):]
        else:
            action.uri = "normalized"
    if data.get("rewrite") and action.uri == "original":
        action.uri = "normalized"
        action.uri_span = h.directive.span
        action.uri_reason = f"reverse_proxy's `rewrite {data['rewrite']}` sends another URI upstream"
    return action


def _apply_request_op(headers: dict, op: dict) -> None:
    name = op["name"].lower()
    if name in ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host") and op["op"] != "delete":
        return        # reverse_proxy sets these itself after the request headers are edited
    if op["op"] == "delete":
        headers.pop(name, None)
    elif op["op"] in ("set", "add"):
        value = op["value"]
        if name == "host" and value in UPSTREAM_HOST:
            headers.pop("host", None)
        elif name == "host" and value in CLIENT_HOST_VALUES:
            headers["host"] = value
        else:
            headers[name] = value


def _written(d) -> str:
    return " ".join([d.name] + list(d.args))


# ---- response headers ----------------------------------------------------------------------

def _headers(state, action: Action, errors: Optional[dict]) -> list:
    terminal = state.terminal
    answered_by_handler = terminal.kind == "static_response" and terminal.data.get("kind") != "abort"
    ops: list = []
    if action.kind == "proxy":
        for op in terminal.data.get("header_down", ()):
            made = _op(op, deferred=True, on_generated=False)
            if made is not None:
                ops.append(made)
    immediate: dict = {}
    for h, op in _in_apply_order(state.response_ops):
        if h.data.get("deferred"):
            continue
        name = op["name"].lower()
        if op["op"] == "set":
            immediate[name] = [op]
        elif op["op"] == "add":
            immediate.setdefault(name, []).append(op)
    for name, kept in immediate.items():
        if name == "content-type" and action.kind in ("respond", "static"):
            action.content_type = ""          # respond and file_server keep a Content-Type already set
        if name == "location" and action.kind == "redirect":
            continue                          # redir's own Location replaces it
        for op in kept:
            ops.append(_op(op, deferred=False, on_generated=True))
    deferred_handlers: list = []
    for h, op in _in_apply_order(state.response_ops):
        if h.data.get("deferred"):
            if not deferred_handlers or deferred_handlers[-1][0] is not h:
                deferred_handlers.append((h, []))
            deferred_handlers[-1][1].append(op)
    # Deferred handlers wrap the response writer one inside the other: the last one applies first.
    for h, handler_ops in reversed(deferred_handlers):
        statuses = _require_statuses(h)
        for op in handler_ops:
            made = _op(op, deferred=True, on_generated=answered_by_handler, statuses=statuses)
            if made is not None:
                ops.append(made)
    if errors:
        ops.extend(errors["ops"])
    return [op for op in ops if op is not None]


def _in_apply_order(pairs: list) -> list:
    """(handler, op) pairs in the order Caddy applies them: handler by handler, and within one
    handler adds, then sets, then deletes, then replacements."""
    out: list = []
    i = 0
    while i < len(pairs):
        h = pairs[i][0]
        j = i
        while j < len(pairs) and pairs[j][0] is h:
            j += 1
        out.extend(sorted(pairs[i:j], key=lambda pair: _OP_ORDER.get(pair[1]["op"], 9)))
        i = j
    return out


def _op(op: dict, *, deferred: bool, on_generated: bool, statuses=None) -> Optional[HeaderOp]:
    d = op["directive"]
    source = " ".join([d.name] + list(d.args))
    kind = op["op"]
    if kind == "replace":
        return None        # a search-and-replace on values: not modelled
    if not deferred:
        mode = "add"       # before the handler that answers: the upstream's value is added beside it
    else:
        mode = {"set": "set", "add": "add", "delete": "remove", "default": "set"}[kind]
    condition = f"the response has no {op['name']}" if kind == "default" else None
    value = op["value"] if kind != "delete" else None
    return HeaderOp(op["name"], value, mode, d.span, statuses=statuses, on_proxied=True,
                    on_generated=on_generated, condition=condition, source=source)


def _require_statuses(h) -> Optional[frozenset]:
    match = h.data.get("match")
    if match is None:
        return None
    codes: set = set()
    for c in match.children("status"):
        for a in c.args:
            if re.fullmatch(r"[1-5]xx", a):
                codes.update(range(int(a[0]) * 100, int(a[0]) * 100 + 100))
            elif a.isascii() and a.isdigit() and atoi(a) is not None:
                codes.add(atoi(a))
    return frozenset(codes) or None


# ---- handle_errors ---------------------------------------------------------------------------

def _error_answer(site, state) -> Optional[dict]:
    """What `handle_errors` makes of the error this way can end in (502 from the proxy, `error`)."""
    terminal = state.terminal
    if terminal.kind == "reverse_proxy" and not terminal.data.get("forward_auth"):
        status = 502
    elif terminal.kind == "error":
        status = terminal.data.get("status") or 500
    else:
        return None
    # Every handle_errors block for this status runs in turn, like routes, until one answers.
    blocks = [CRoute(None, [Handler("subroute", d, routes=routes)])
              for codes, routes, d in site.facts.get("chain_errors", ())
              if not codes or _status_listed(status, codes)]
    if not blocks:
        return None
    inner = walk(blocks, state.method, state.path, {}, site.facts.get("named_routes"))
    answer = {"status": status, "content_type": None, "ops": _error_ops(inner), "entered": inner.entered}
    if inner.terminal is not None and inner.terminal.kind == "static_response" \
            and inner.terminal.data.get("kind") == "respond":
        body = inner.terminal.data.get("body")
        answer["status"] = inner.terminal.data.get("status") or status
        answer["content_type"] = respond_content_type(body) or None
    return answer


def _status_listed(status: int, codes: list) -> bool:
    for c in codes:
        if c.endswith("xx") and c[:1].isascii() and c[:1].isdigit() and status // 100 == int(c[0]):
            return True
        if c.isascii() and c.isdigit() and atoi(c) == status:
            return True
    return False


def _error_ops(inner) -> list:
    ops = []
    for h, op in _in_apply_order(inner.response_ops):
        made = _op(op, deferred=bool(h.data.get("deferred")), on_generated=True)
        if made is not None:
            made.on_proxied = False
            if made.mode == "add" and not h.data.get("deferred"):
                made.mode = "set" if op["op"] == "set" else "add"
            ops.append(made)
    return ops


def select(site, method: str, path: str):
    """(route, unknown conditions) for a request: walk the chain and find that way's route;
    when no handler answers, Caddy's empty 200 with the headers met on the way (`fallback`)."""
    state = walk(site.facts["chain"], method, path, {}, site.facts.get("named_routes"))
    unknowns = [m.text() for m in state.unknowns] + state.notes
    if state.terminal is None:
        return fallback(site, state), unknowns
    key = key_of(state)
    route = site.facts["index"].get(key)
    if route is None:
        route = add_route(site, key, state, None)
    return route, unknowns


# ---- nothing answers -----------------------------------------------------------------------

def fallback(site, state=None) -> Route:
    """Caddy's answer when no handler of the chain answers: the handler chain ends without
    writing, and Go's server sends an empty 200 (Content-Length: 0, no Content-Type), for every
    method. The `header` handlers met on the way that are not deferred have already changed the
    response headers, so they are on it; deferred ones (`defer`, a `-`, `?` or `>` field, a
    `match` block) wrap a response writer that is never written to and do nothing (measured on
    Caddy 2.11: tests/real/test_model_caddy.py). With no walk: the headers every request
    gets on its way (those of a path no pattern names). The route is `Route.fallback`, its span
    the site's, and it is not in `site.routes`."""
    if state is None:
        state = walk(site.facts.get("chain") or [], "GET", "/\uffff", {}, site.facts.get("named_routes"))
    headers = _immediate_ops(state)
    key = ("fallback", tuple(id(op.span) for op in headers))
    cache = site.facts.setdefault("fallbacks", {})
    if key in cache:
        return cache[key]
    action = Action("respond", site.span, status=200, body="", content_type="")
    route = Route(Match("any", text="(nothing answers)"), action, site.span, headers, fallback=True)
    route.facts.update({"walk": state, "terminal": None, "fallback_reason":
                        "no handler answers: Caddy sends an empty 200"})
    route.unknowns = list(site.unknowns)
    cache[key] = route
    return route


def _immediate_ops(state) -> list:
    """The response headers of `header` handlers that are not deferred, as they stand when the
    handler chain has run (a later `set` replaces, `+` adds)."""
    immediate: dict = {}
    for h, op in _in_apply_order(state.response_ops):
        if h.data.get("deferred"):
            continue
        name = op["name"].lower()
        if op["op"] == "set":
            immediate[name] = [op]
        elif op["op"] == "add":
            immediate.setdefault(name, []).append(op)
    out = [_op(op, deferred=False, on_generated=True) for kept in immediate.values() for op in kept]
    return [op for op in out if op is not None]
