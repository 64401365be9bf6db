"""Route selection for Apache sites (`Site.selection = "apache"`), used by linter.select.

`select_route(site, method, path)` is the shared policy API: the route Apache picks for a
normalised path, with the RewriteConds it cannot decide from the method alone. `select_request`
takes a whole `linter.select.Request` instead: RewriteConds on headers (`%{HTTP:Upgrade}`) are
then decided, and the raw target is checked the way Apache checks it first (`%2F` with
AllowEncodedSlashes Off: 404; a bad escape: 400), which `refusal` reports.
"""
from __future__ import annotations

from typing import Optional

from .resolve import resolve
from .routes import route
from .upstream import upstream_target
from .uri import Refused, request_uri


def select_route(site, method: str, path: str):
    model = site.facts["apache_model"]
    res = resolve(model, method, path)
    return route(model, res), res.unknowns


def select_request(site, request):
    """(route, unknowns) for a full request: header conditions decided where the request says."""
    model = site.facts["apache_model"]
    res = resolve(model, request.method, request.path, request=request)
    return route(model, res), res.unknowns


def upstream_request_line(route, request) -> Optional[str]:
    """The request line mod_proxy sends (HTTP/1.1), for `trace`; None for other actions."""
    proxy = route.facts.get("apache_proxy")
    if proxy is None or route.action.kind != "proxy":
        return None
    try:
        target = upstream_target(proxy, request.target, route.facts.get("encoded_slashes", "off"))
    except Refused:
        return None
    return f"{request.method} {target} HTTP/1.1"


def refusal(site, request, route=None) -> Optional[Refused]:
    """The status Apache answers itself instead of handling the request as `route` says, if any:
    404/400 from reading the raw path, 500 from a proxy target it cannot build."""
    model = site.facts["apache_model"]
    try:
        request_uri(request.raw_path, model.encoded_slashes)
        proxy = route.facts.get("apache_proxy") if route is not None else None
        if proxy is not None and route.action.kind == "proxy":
            upstream_target(proxy, request.target, model.encoded_slashes)
    except Refused as refused:
        return refused
    return None
