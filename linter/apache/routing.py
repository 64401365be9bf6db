"""Route selection for Apache sites (`Site.selection = "apache"`), used by linter.select.

`select_route(site, method, path)` is the shared policy API: the route Apache picks for a
normalised path, with the RewriteConds it cannot decide from the method alone. `select_request`
takes a whole `linter.select.Request` instead: RewriteConds on headers (`%{HTTP:Upgrade}`) are
then decided, and the raw target is checked the way Apache checks it first (`%2F` with
AllowEncodedSlashes Off: 404; a bad escape: 400), which `refusal` reports with Apache's error page
type. A path no handler takes gets core's default handling for the method (`Route.fallback`, see
routes.default_handling), so every request has a route. `content_type_note` says, in Apache's
terms, why a route's Content-Type is left open (for `trace`).
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


def content_type_note(route) -> Optional[str]:
    """Why the model leaves a route's Content-Type open, in Apache's terms (for `trace`, in place
    of nginx's `default_type` note); None when it is known."""
    action = route.action
    if action.content_type is not None or action.kind not in ("respond", "redirect", "static"):
        return None
    if action.kind == "respond" and action.body is None and action.status is not None and action.status >= 400:
        return ("the Content-Type is that of the local page an `ErrorDocument` names, which this file "
                "does not show")
    return ("the Content-Type comes from the file name's extension (mod_mime: TypesConfig, AddType, "
            "ForceType); Apache sends none for a name without one")
