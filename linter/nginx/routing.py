"""Whole-request selection for nginx sites (`Site.selection = "nginx"`).

`linter.select` picks a location from the method and the normalised path alone (`select_route`,
what the rules use): an `if` on anything else is reported as undecided. `select_request(site,
request)` takes the whole `linter.select.Request` instead, as nginx does:

- `if` conditions on request headers (`$http_origin`, `$http_x_y = v`, `~`, `~*`, `!~`), the
  method, the Host, the scheme, the URI and the query are decided from the request; file tests
  (`-f`, `-d`...) and variables the model does not know (`map`, `set`, modules) stay undecided;
- a location nginx's static handler answers (no proxy_pass, return or try_files) answers as that
  handler does for the request's method (`facts["static_answers"]`, built by linter.nginx.build);
- no location: None, and the caller takes `Site.fallback` (`linter.select.fallback_route`).
"""
from __future__ import annotations

import re
from typing import Optional

from linter.model import Route, compile_regex
from linter.select import Request, _nginx_find

_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def select_route(site, method: str, path: str):
    """The shared policy (`linter.select._nginx`), for callers that import it from here."""
    from linter.select import _nginx

    return _nginx(site, method, path)


def select_request(site, request: Request):
    """(route, undecided conditions) for a whole request; route None: no location takes it."""
    unknowns: list = []
    for r in site.routes:
        if r.phase != "server":
            continue
        holds = True if r.condition is None else condition_holds(r, request)
        if holds is None:
            unknowns.append(r.condition.text)
        elif holds:
            return r, unknowns
    found, _ = _nginx_find(site, None, request.path)
    if found is None:
        return None, unknowns
    chosen = found
    for r in site.routes:
        if r.group != found.group or r.condition is None or r.phase != "location":
            continue
        holds = condition_holds(r, request)
        if holds is None:
            unknowns.append(r.condition.text)
            continue
        if holds:
            # The last `if` that holds gives the configuration; one that returns ends the phase.
            chosen = r
            if r.action.kind in ("respond", "redirect"):
                break
    return static_answer(chosen, request.method), unknowns


def static_answer(route: Route, method: str) -> Route:
    """For a route the static handler answers, its answer to `method`; else the route."""
    for methods, answer in route.facts.get("static_answers") or ():
        if methods is None or method.upper() in methods:
            return answer or route
    return route


def condition_holds(route: Route, request: Request) -> Optional[bool]:
    """Whether an nginx `if` holds for this request; None when the model cannot tell."""
    condition = route.condition
    if condition is not None and condition.methods is not None:
        return condition.holds(request.method)
    args = route.facts.get("if_args")
    if args is None:
        return None
    return evaluate(args, request)


def evaluate(args: list, request: Request) -> Optional[bool]:
    """ngx_http_rewrite_module's `if (...)`: a variable (false when empty or "0"), a comparison
    (`=`, `!=`), or a regex match (`~`, `~*`, `!~`, `!~*`)."""
    parts = list(args)      # the parser has taken the parentheses off
    if len(parts) == 1:
        value = value_of(parts[0], request)
        if value is None:
            return None
        return value not in ("", "0")
    if len(parts) != 3:
        return None
    left, op, right = parts
    value = value_of(left, request)
    if value is None:
        return None
    if op in ("=", "!="):
        other = value_of(right, request)
        if other is None:
            return None
        return (value == other) == (op == "=")
    if op in ("~", "~*", "!~", "!~*"):
        # Compiled when nginx reads the config: no variables in it, `$` is an anchor.
        rx = compile_regex(right, not op.endswith("*"))
        if rx is None:
            return None
        m = rx.search(value)
        if m is None and getattr(rx, "gave_up", False):
            return None
        return (m is not None) == (not op.startswith("!"))
    return None


def value_of(text: str, request: Request) -> Optional[str]:
    """A string with variables, evaluated for the request; None when one is unknown."""
    unknown = []

    def one(m):
        value = variable(m.group(1) or m.group(2), request)
        if value is None:
            unknown.append(m.group(0))
            return ""
        return value
    out = _VARIABLE.sub(one, text)
    return None if unknown else out


def variable(name: str, request: Request) -> Optional[str]:
    """The request variables whose value the request alone gives."""
    name = name.lower()
    if name.startswith("http_"):
        wanted = name[5:]
        values = [v for k, v in request.headers if k.lower().replace("-", "_") == wanted]
        if wanted == "host" and not values:
            return request.host
        if not values:
            return ""
        # nginx joins repeated headers only for some (cookie, x-forwarded-for); the first otherwise.
        sep = "; " if wanted == "cookie" else ", "
        return sep.join(values) if wanted in ("cookie", "x_forwarded_for") else values[0]
    if name.startswith("arg_"):
        for pair in (request.query or "").split("&"):
            key, _, value = pair.partition("=")
            if key.lower() == name[4:]:
                return value
        return ""
    known = {
        "request_method": request.method,
        "scheme": request.scheme,
        "https": "on" if request.scheme == "https" else "",
        "host": request.host.lower(),
        "uri": request.path,
        "document_uri": request.path,
        "request_uri": request.target,
        "args": request.query or "",
        "query_string": request.query or "",
        "is_args": "?" if request.query is not None else "",
    }
    return known.get(name)
