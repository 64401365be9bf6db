"""Caddy-only rules: they read the Caddyfile's directives and Caddy's handler chain, not just the model."""
from __future__ import annotations

from linter.model import MATRIX_PREFIXES
from linter.rule import Finding, rule

# Caddy 1 directives that standard Caddy 2 does not have, with what Caddy 2 uses instead. The
# parser reports a whole file as Caddy 1 when it is one (`proxy /x backend`, `gzip`, `transparent`
# ...); these are the leftovers that survive in a file that is otherwise Caddy 2.
V1_DIRECTIVES = {
    "proxy": "reverse_proxy",
    "gzip": "encode gzip",
    "fastcgi": "php_fastcgi",
    "cors": "header Access-Control-* (for Matrix: nothing, the homeserver sends CORS itself)",
    "ipfilter": "a remote_ip or client_ip matcher with `respond 403`",
    "realip": "the `trusted_proxies` server option",
    "expires": "header Cache-Control",
    "ratelimit": "a rate limit plugin",
    "jwt": "forward_auth",
    "internal": "a matcher with `handle`",
    "errors": "handle_errors",
    "status": "respond",
    "ext": "try_files",
    "browse": "file_server browse",
    "mime": "header Content-Type",
    "limits": "request_body",
    "markdown": "templates",
}
# Caddy 1 `proxy` options that Caddy 2's reverse_proxy does not know.
V1_PROXY_OPTIONS = {
    "transparent": "nothing: Caddy 2 sends Host and X-Forwarded-* by default",
    "websocket": "nothing: Caddy 2 proxies websockets as is",
    "header_upstream": "header_up",
    "header_downstream": "header_down",
    "without": "handle_path or uri strip_prefix",
    "except": "a matcher",
    "policy": "lb_policy",
    "fail_timeout": "fail_duration",
    "health_check": "health_uri",
    "health_check_interval": "health_interval",
    "health_check_timeout": "health_timeout",
    "health_check_port": "health_port",
    "try_duration": "lb_try_duration",
    "try_interval": "lb_try_interval",
    "insecure_skip_verify": "transport http { tls_insecure_skip_verify }",
    "keepalive": "transport http { keepalive }",
    "timeout": "transport http { read_timeout ... }",
    "upstream": "more upstreams after the first, or `to`",
    "ca_certificates": "transport http { tls_trusted_ca_certs }",
}
# Path matchers that name these without a wildcard match only that one path.
MATRIX_MOUNTS = {"/_matrix", "/_synapse", "/_synapse/client", "/_synapse/admin", "/_matrix/client",
                 "/_matrix/federation", "/_matrix/key", "/_matrix/media", "/.well-known/matrix",
                 "/_dendrite", "/_conduwuit", "/_continuwuity"}
# CORS headers a homeserver sends on its own responses (besides Allow-Origin, MPL106's).
UPSTREAM_CORS = {"access-control-allow-methods", "access-control-allow-headers",
                 "access-control-expose-headers", "access-control-max-age"}


def _is_v1_file(config) -> bool:
    return any(e.message.startswith("Caddy v1 syntax") for e in config.tree.errors)


@rule("MPL701", "caddy-v1-directive", "error", servers=["caddy"])
def caddy_v1_directive(config):
    """## What it does
    Flags Caddy 1 directives and `proxy` options left in a Caddyfile that is otherwise written
    for Caddy 2 (`cors`, `realip`, `ipfilter`, `tls off`, `policy`, `insecure_skip_verify`, ...),
    and names the Caddy 2 equivalent. A file that is Caddy 1 as a whole is reported once by the
    parser instead.

    ## Why is this bad?
    Caddy 2 refuses to start with a directive it does not know ("unrecognized directive"), so
    the whole site goes down on the next reload. Many Matrix guides still show Caddy 1
    snippets (`cors`, `proxy ... { transparent }`); copied into a Caddy 2 file they look
    plausible but never worked there.

    ## Example
    ```caddyfile
    matrix.example.org {
        cors
        reverse_proxy /_matrix/* localhost:8008
    }
    ```

    ## Use instead
    ```caddyfile
    matrix.example.org {
        # Synapse sends the CORS headers itself.
        reverse_proxy /_matrix/* localhost:8008
    }
    ```
    """
    if _is_v1_file(config):
        return
    for d in _handler_directives(config.tree.directives):
        if d.key in V1_DIRECTIVES and _v1_shape(d):
            yield Finding(f"`{d.name}` is a Caddy 1 directive: Caddy 2 refuses to load it; use "
                          f"{V1_DIRECTIVES[d.key]}", d.span)
        elif d.key == "tls" and d.args[:1] == ["off"]:
            yield Finding("`tls off` is Caddy 1: Caddy 2 serves plain HTTP for an `http://` site "
                          "address instead", d.span)
        elif d.key == "reverse_proxy":
            for child in d.block or ():
                if child.key in V1_PROXY_OPTIONS:
                    yield Finding(f"`{child.name}` is a Caddy 1 proxy option: Caddy 2's reverse_proxy "
                                  f"refuses it; use {V1_PROXY_OPTIONS[child.key]}", child.span)


# Blocks whose lines are directives (elsewhere a block holds a directive's own options:
# `encode { gzip }`, `file_server { browse }`, matcher definitions with `status`, ...).
_DIRECTIVE_BLOCKS = {"handle", "handle_path", "route", "handle_errors", "handle_response"}


def _handler_directives(top: list):
    def inside(block):
        for d in block or ():
            if d.name.startswith("@"):
                continue
            yield d
            if d.key in _DIRECTIVE_BLOCKS:
                yield from inside(d.block)
            elif d.key == "reverse_proxy":
                for child in d.block or ():
                    if child.key == "handle_response":
                        yield from inside(child.block)
    for d in top:
        if d.name in ("site", "named_route"):
            yield from inside(d.block)


def _v1_shape(d) -> bool:
    """Written the way Caddy 1 wrote it: `proxy /from to`, `internal /path`, `status 403 /path`."""
    if d.key in ("proxy", "fastcgi", "internal"):
        return bool(d.args) and d.args[0].startswith("/") and len(d.args) >= (1 if d.key == "internal" else 2)
    if d.key in ("status", "ext", "mime", "limits"):
        return bool(d.args)
    return True


def _chains(config):
    """Every handler chain of the configuration once: sites, handle_errors, named routes."""
    seen = set()
    for site in config.sites:
        chains = [site.facts.get("chain") or []]
        chains += [routes for _, routes, _ in site.facts.get("chain_errors", ())]
        chains += list((site.facts.get("named_routes") or {}).values())
        for chain in chains:
            if id(chain) not in seen:
                seen.add(id(chain))
                yield chain


def _routes(routes):
    for r in routes:
        yield r
        for h in r.handlers:
            if h.routes:
                yield from _routes(h.routes)


def _path_patterns(config):
    """(pattern, span) of every path matcher, each written place once."""
    seen = set()

    def from_sets(sets):
        for s in sets or ():
            for m in s.matchers:
                if m.kind == "path":
                    for i, p in enumerate(m.args):
                        span = m.arg_span(i)
                        if span is not None and (p, span) not in seen:
                            seen.add((p, span))
                            yield p, span
                yield from from_sets(m.sets)
    for chain in _chains(config):
        for r in _routes(chain):
            yield from from_sets(r.matchers)


@rule("MPL702", "caddy-matrix-prefix-stripped", "error", servers=["caddy"], supersedes={"MPL201": "line"})
def caddy_matrix_prefix_stripped(config):
    """## What it does
    Flags `handle_path` or `uri strip_prefix` that removes a Matrix prefix (`/_matrix`,
    `/_synapse`) from requests that are then proxied.

    ## Why is this bad?
    `handle_path /_matrix/*` strips `/_matrix` before `reverse_proxy` runs, so the homeserver
    receives `/client/versions` instead of `/_matrix/client/versions` and answers every call
    with 404 `M_UNRECOGNIZED`: clients cannot log in and federation stops. `handle_path` is
    only right for a service mounted under a prefix of its own (a sliding-sync proxy under
    `/sliding-sync/`); Matrix paths need `handle`.

    ## Example
    ```caddyfile
    matrix.example.org {
        handle_path /_matrix/* {
            reverse_proxy localhost:8008
        }
    }
    ```

    ## Use instead
    ```caddyfile
    matrix.example.org {
        handle /_matrix/* {
            reverse_proxy localhost:8008
        }
    }
    ```
    """
    seen = set()
    for site in config.sites:
        for route in site.routes:
            walk_state = route.facts.get("walk")
            if route.action.kind != "proxy" or walk_state is None:
                continue
            for handler, before, after in walk_state.rewrites:
                prefix = handler.data.get("strip_prefix")
                if not prefix or not prefix.lower().rstrip("/").startswith(MATRIX_PREFIXES):
                    continue
                d = handler.directive
                span = d.arg_span(0) if handler.data.get("handle_path") else d.arg_span(1)
                if span in seen:
                    continue
                seen.add(span)
                what = "handle_path" if handler.data.get("handle_path") else "uri strip_prefix"
                yield Finding(f"{what} removes `{prefix}` before reverse_proxy: the homeserver gets "
                              f"`{after}` instead of `{before}` and answers 404; use `handle` "
                              f"(which keeps the path)", span)


@rule("MPL703", "caddy-path-wildcard-overmatch", "info", servers=["caddy"])
def caddy_path_wildcard_overmatch(config):
    """## What it does
    Notes a path matcher like `/_matrix*` or `/_synapse*` (a wildcard right after the prefix,
    without a slash).

    ## Why is this bad?
    Caddy's `/_matrix*` is a plain string prefix: it also matches `/_matrixfoo` and
    `/_synapse_admin_ui`, so more requests reach the homeserver than the config seems to say.
    It rarely breaks anything, hence info; `/_matrix/*` says what is meant.

    ## Example
    ```caddyfile
    matrix.example.org {
        reverse_proxy /_matrix* localhost:8008
    }
    ```

    ## Use instead
    ```caddyfile
    matrix.example.org {
        reverse_proxy /_matrix/* localhost:8008
    }
    ```
    """
    for pattern, span in _path_patterns(config):
        base = pattern.lower()[:-1] if pattern.endswith("*") and pattern.count("*") == 1 else None
        if base and not base.endswith("/") and base in MATRIX_MOUNTS:
            yield Finding(f"`{pattern}` also matches `{base}foo`: use `{base}/*` to match the paths under "
                          f"{base} only", span)


@rule("MPL704", "caddy-path-matcher-exact", "error", servers=["caddy"])
def caddy_path_matcher_exact(config):
    """## What it does
    Flags a path matcher that names a Matrix prefix without a wildcard, such as
    `reverse_proxy /_matrix localhost:8008`.

    ## Why is this bad?
    Caddy's path matching is exact unless the pattern has a `*`: `/_matrix` matches the one
    path `/_matrix`, not `/_matrix/client/versions`. Every real API call falls through to the
    next handler (often a file server or an empty 200), so clients report "not a valid
    homeserver" and federation fails.

    ## Example
    ```caddyfile
    matrix.example.org {
        reverse_proxy /_matrix localhost:8008
    }
    ```

    ## Use instead
    ```caddyfile
    matrix.example.org {
        reverse_proxy /_matrix/* localhost:8008
    }
    ```
    """
    for pattern, span in _path_patterns(config):
        if "*" in pattern:
            continue
        base = pattern.lower().rstrip("/")
        if base in MATRIX_MOUNTS:
            yield Finding(f"`{pattern}` matches only the path `{pattern}` itself (Caddy matches paths exactly "
                          f"unless there is a `*`): use `{base}/*`", span)


@rule("MPL705", "caddy-header-before-proxy", "warning", servers=["caddy"])
def caddy_header_before_proxy(config):
    """## What it does
    Flags a `header` that sets a CORS header the homeserver also sends
    (`Access-Control-Allow-Methods`, `-Allow-Headers`, `-Expose-Headers`) on
    requests proxied to the homeserver, when Caddy applies it before the proxy and the
    homeserver's copy is kept.

    ## Why is this bad?
    Caddy runs `header` before `reverse_proxy` whatever the order in the file. The proxy then
    adds the homeserver's own value, so the response carries both: the value in the
    Caddyfile does not replace anything, and a list meant to restrict or extend methods or
    headers has no effect. `Access-Control-Allow-Origin` duplicated this way breaks browsers
    and is reported as an error by MPL106. Drop the homeserver's copy with `header_down -Name`
    in `reverse_proxy` (a deferred `header >Name` would replace it too, but misses the 502 that
    Caddy writes itself when the homeserver is down), or leave CORS to the homeserver.

    ## Example
    ```caddyfile
    matrix.example.org {
        header Access-Control-Allow-Methods "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH"
        reverse_proxy /_matrix/* localhost:8008
    }
    ```

    ## Use instead
    ```caddyfile
    matrix.example.org {
        header Access-Control-Allow-Methods "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH"
        reverse_proxy /_matrix/* localhost:8008 {
            header_down -Access-Control-Allow-Methods
        }
    }
    ```
    """
    from linter.predict import upstream_is_homeserver

    seen = set()
    for site in config.sites:
        for route in site.routes:
            state = route.facts.get("walk")
            if state is None or not upstream_is_homeserver(route):
                continue
            from linter.matrix import homeserver

            if homeserver(route).software == "conduit":
                continue    # its CORS layer answers preflights only, never a proxied request
            dropped = {op["name"].lower() for op in state.terminal.data.get("header_down", ())
                       if op["op"] in ("delete", "set")}
            for handler, op in state.response_ops:
                if handler.data.get("deferred") or op["op"] not in ("set", "add"):
                    continue
                # Max-Age: Synapse sends none (research notes §0), so nothing is duplicated.
                if op["name"].lower() not in UPSTREAM_CORS - {"access-control-max-age"} \
                        or op["name"].lower() in dropped:
                    continue
                span = op["directive"].span
                if span in seen:
                    continue
                seen.add(span)
                yield Finding(f"Caddy applies this `header` before reverse_proxy, which then adds the "
                              f"homeserver's own {op['name']}: both are sent and yours replaces nothing; "
                              f"drop the homeserver's copy (`header_down -{op['name']}`) or this header", span)
