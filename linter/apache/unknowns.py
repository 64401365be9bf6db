"""What the linter could not see, placed where httpd would apply it (`linter.model.Unknown`).

The front end leaves every include it could not read and every `Use` of a macro defined in no
file read in the tree, with `extra["unresolved"]` (expand.py). Their directives would take
effect where they are written, so:

- a route depends on those in the contexts httpd merges for it: the main server (global level),
  its virtual host, the `<Proxy>`/`<Directory>`/`<Files>` sections that apply, each matching
  `<Location>`/`<LocationMatch>` and the `<If>` sections inside them (headers, forwarding,
  access rules, a `ProxyPass` inside a `<Location>` may be there);
- a site depends on those at its virtual host's level and at the global level (they could add
  routes, `ProxyPass` lines, site-wide headers);
- the configuration depends on those at the global level (they could add virtual hosts).

A file linted alone that holds no `<VirtualHost>` (a snippet of `ProxyPass`/`Header` lines, a
file made of `Use SomeMacro ...`) is written to be included somewhere: build.py models it as
the main server and adds `Unknown.including_context(root)` to its site and its routes, since
the including configuration may set anything around it. apache2.conf and httpd.conf are the
configuration itself and get no such context.
"""
from __future__ import annotations

from linter.model import Unknown
from linter.syntax import walk

_NOT_APPLIED = {"macro"}   # a <Macro> body runs where it is used, not where it is defined


def unknowns_in(body: list) -> list:
    """The Unknowns of the unresolved includes/macros among one context's directives."""
    out = []
    for d in body:
        if d.extra.get("unresolved") is not None:
            out.append(Unknown.from_unresolved(d.extra["unresolved"]))
        elif d.block and d.key not in _NOT_APPLIED:
            # A section kept whole in a body (<RequireAny>, <Limit>): what it holds applies here.
            out += [Unknown.from_unresolved(inner.extra["unresolved"]) for inner in walk(d.block)
                    if inner.extra.get("unresolved") is not None]
    return out


def distinct(unknowns) -> list:
    seen, out = set(), []
    for u in unknowns:
        if (u.span, u.what) not in seen:
            seen.add((u.span, u.what))
            out.append(u)
    return out
