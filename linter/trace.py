"""`trace` and `routes`: what the model says a deployment does, for people and for tests.

`trace(config, request)` answers: which site and route handle the request, what the proxy does
(the upstream and the exact request line it receives, or its own answer), and the status and
headers the browser sees in each situation, each header pointing at its directive or marked as
coming from the upstream. Anything the model cannot decide is listed under `unknowns`.
"""
from __future__ import annotations

import re
from typing import Optional

from linter.matrix import homeserver, why_matrix
from linter.model import Config, Route, compile_regex
from linter.predict import outcomes, upstream_is_homeserver
from linter.select import Request, fallback_route, select

# nginx escapes these when it rebuilds a URI (ngx_escape_uri, NGX_ESCAPE_URI): space, #, %, ?,
# control characters and bytes above 0x7e.
_NGINX_ESCAPE = {0x20, 0x23, 0x25, 0x3F} | set(range(0x20)) | set(range(0x7F, 0x100))


def _escape(path: str) -> str:
    raw = path.encode("utf-8", "surrogateescape")
    return "".join(f"%{b:02X}" if b in _NGINX_ESCAPE else chr(b) for b in raw)


def upstream_request_line(route: Route, request: Request) -> Optional[str]:
    """The request line the upstream receives, or None when the model cannot know it."""
    action = route.action
    if action.kind != "proxy":
        return None
    version = route.facts.get("upstream_http_version", "1.1")
    query = f"?{request.query}" if request.query is not None else ""
    if action.uri == "original":
        target = request.target
    elif action.uri == "replaced" and route.match.kind in ("prefix", "exact"):
        rest = request.path[len(route.match.pattern):] if route.match.kind == "prefix" else ""
        target = _escape(action.uri_part + rest) + query
    elif action.uri == "variable":
        target = _expand(action.uri_part or "", route, request)
        if target is None:
            return None
    else:
        return None
    return f"{request.method} {target} HTTP/{version}"


def _expand(expr: str, route: Route, request: Request) -> Optional[str]:
    """Evaluate a proxy_pass URI built from variables, where every variable is known."""
    captures: dict = {}
    if route.match.kind == "regex":
        rx = compile_regex(route.match.pattern, route.match.case_sensitive)
        m = rx.search(request.path) if rx else None
        if m:
            captures = {str(i): (g or "") for i, g in enumerate(m.groups(), 1)}
            captures.update({k: v or "" for k, v in m.groupdict().items()})
    known = {"uri": _escape(request.path), "document_uri": _escape(request.path),
             "request_uri": request.target, "args": request.query or "",
             "is_args": "?" if request.query is not None else "", **captures}
    unknown = []

    def value(m):
        name = m.group(1) or m.group(2)
        if name in known:
            return known[name]
        unknown.append(name)
        return ""
    out = re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)
    return None if unknown else out


def _hook(site, name: str):
    """A front end's own answer for something the shared model cannot see (linter/<server>/routing.py)."""
    if site is None or site.selection == "first-match":
        return None
    import importlib

    try:
        module = importlib.import_module(f"linter.{site.selection}.routing")
    except ModuleNotFoundError:
        return None
    return getattr(module, name, None)


def _unseen(doc: dict, config: Config, site, route) -> None:
    """What the linter could not read and that could change this answer (open world)."""
    regions = list(route.unknowns) if route is not None else []
    if site is not None:
        regions += site.unknowns
    regions += config.unknowns
    doc["unseen"] = []
    for u in dict.fromkeys(regions):
        doc["unseen"].append({"what": u.what, **_pos(u.span)})
        doc["unknowns"].append(f"not seen: {u.what} at {u.span}: it may add headers, forwarding, limits, "
                               f"access rules or routes that change this answer")


def trace(config: Config, request: Request, *, upstream_status=None, upstream_down=False) -> dict:
    sel = select(config, request)
    by_request = _hook(sel.site, "select_request")
    if by_request is not None:          # header conditions decided from the whole request
        sel.route, sel.unknowns = by_request(sel.site, request)
        sel.route = sel.route or fallback_route(sel.site, request.method)
    doc: dict = {
        "request": {"method": request.method, "url": f"{request.scheme}://{request.host}:{request.port}"
                    f"{request.target}", "headers": [{"name": n, "value": v} for n, v in request.headers]},
        "site": None, "route": None, "action": {"kind": "none"}, "outcomes": [], "unknowns": list(sel.unknowns),
    }
    if sel.site is not None:
        doc["site"] = {"names": list(sel.site.names), **_pos(sel.site.span)}
    route = sel.route
    _unseen(doc, config, sel.site, route)
    if route is None:
        if sel.site is not None:
            doc["unknowns"].append("no route matches: the server's default handling (static files or 404)")
        return doc
    doc["route"] = {"match": str(route.match), "condition": route.condition.text if route.condition else None,
                    **_pos(route.span)}
    if route.fallback:
        doc["route"]["fallback"] = True     # no configured route: the server's default handling
    doc["matrix"] = matrix_reason(route)
    action = route.action
    act: dict = {"kind": action.kind, **_pos(action.span)}
    refusal = _hook(sel.site, "refusal")
    refused = refusal(sel.site, request, route) if refusal is not None else None
    if refused is not None:
        doc["action"] = {**act, "refused": refused.reason}
        doc["outcomes"].append({"when": "proxy", "status": refused.status, "headers": []})
        doc["unknowns"].append(f"the server answers {refused.status} itself: {refused.reason}")
        return doc
    if action.kind == "proxy":
        act["upstream"] = action.upstream
        own_line = _hook(sel.site, "upstream_request_line")
        act["upstream_request_line"] = (own_line or upstream_request_line)(route, request)
        act["uri"] = action.uri
        if act["upstream_request_line"] is None:
            doc["unknowns"].append("the URI sent upstream is built at run time")
        if not upstream_is_homeserver(route):
            doc["unknowns"].append(f"the upstream's own headers are unknown ({homeserver(route).describe()})")
    elif action.kind in ("respond", "redirect", "static"):
        if action.content_type is None and (action.body or action.kind == "static"):
            note = _hook(sel.site, "content_type_note")
            text = note(route) if note is not None else None
            if text is None and config.server == "nginx":
                text = "the Content-Type comes from a default_type this file does not show (nginx's own default is text/plain)"
            if text:
                doc["unknowns"].append(text)
        act.update({"status": action.status, "body": action.body, "content_type": action.content_type,
                    "location": action.location, "root": action.root})
    doc["action"] = act
    for out in outcomes(route, request, upstream_status=upstream_status, upstream_down=upstream_down):
        doc["outcomes"].append({
            "when": out.when, "status": out.status,
            "headers": [{"name": h.name, "value": h.value, **_pos(h.span, short=True),
                         "from_upstream": h.from_upstream} for h in out.headers],
        })
        for note in out.notes:
            if note not in doc["unknowns"]:
                doc["unknowns"].append(note)
    for out in doc["outcomes"]:
        for h in out["headers"]:
            if "$" in h["value"] and f"{h['name']} is set from a variable" not in doc["unknowns"]:
                doc["unknowns"].append(f"{h['name']} is set from a variable: `{h['value']}`")
    return doc


def matrix_reason(route: Route) -> dict:
    """Why the linter treats the route as Matrix, and whether its upstream is a homeserver with
    the evidence for the answer (`linter.matrix.homeserver`): rules about what the homeserver
    needs assert only when the answer is "yes". `text` is the line `trace` prints."""
    why = why_matrix(route)
    out: dict = {"serves_matrix": why is not None, "why": why}
    if route.action.kind == "proxy":
        verdict = homeserver(route)
        out["homeserver"] = {"answer": verdict.answer, "evidence": list(verdict.evidence)}
        out["text"] = (f"{'Matrix route: ' + why if why else 'not a Matrix route'}; {verdict.describe()}")
    else:
        out["homeserver"] = None
        out["text"] = f"Matrix route: {why}" if why else "not a Matrix route"
    return out


def _pos(span, short=False) -> dict:
    if span is None:
        return {"path": None, "line": None}
    return {"path": span.path, "line": span.line} if short else {"path": span.path, "line": span.line,
                                                                   "column": span.column}


def routes(config: Config) -> dict:
    sites = []
    for site in config.sites:
        if site.facts.get("no_site"):
            continue        # the catch-all a front end adds for hosts no site names (Caddy's empty 200)
        rows = []
        for r in site.routes:
            a = r.action
            target = {"proxy": a.upstream, "respond": f"{a.status}", "redirect": f"{a.status} {a.location}",
                      "static": a.root, "none": None}.get(a.kind)
            rows.append({"match": str(r.match), "condition": r.condition.text if r.condition else None,
                         "phase": r.phase, "action": a.kind, "target": target,
                         "uri": a.uri if a.kind == "proxy" else None, **_pos(r.span)})
        sites.append({"names": list(site.names), "listens": [
            {"address": l.address, "port": l.port, "tls": l.tls, "default": l.default} for l in site.listens],
            **_pos(site.span), "routes": rows})
    return {"version": 1, "server": config.server, "sites": sites}
