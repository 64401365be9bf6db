"""Route selection for Caddy sites (`Site.selection = "caddy"`): walk the site's handler chain.

Caddy has no "best match" among locations: the site's routes run in order (see build.py), so the
route a request takes is found by walking the chain for its method and path. Matchers the method
and path cannot decide (host, header, remote_ip, expression, ...) count as not matching and are
returned as unknown conditions, like the other policies do.
"""
from __future__ import annotations

from .upstream import upstream_request_line  # noqa: F401  (trace asks routing for it)


def select_route(site, method: str, path: str):
    from linter.caddy.routes import select

    return select(site, method, path)
