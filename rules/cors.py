"""CORS rules: headers lost on errors, incomplete preflights, duplicates, credentials.

Written against the proxy model, so they apply to every server the linter reads.
"""
from __future__ import annotations

import re

from linter.matrix import ACAO, cors_routes, homeserver, is_cors
from linter.predict import outcomes, upstream_is_homeserver
from linter.rule import Finding, rule
from linter.select import Request

REQUIRED_METHODS = ("GET", "POST", "PUT", "DELETE", "OPTIONS")
NEWER_METHODS = ("PATCH", "HEAD")          # MSC4138 / spec v1.13
REQUIRED_HEADERS = ("Authorization", "Content-Type")
PREFLIGHT_HEADERS = ("Access-Control-Allow-Origin", "Access-Control-Allow-Methods",
                     "Access-Control-Allow-Headers")

_FIX_ALWAYS = {
    "nginx": "add `always` to the add_header",
    "apache": "use `Header always set`",
    "haproxy": "use `http-after-response set-header`",
    "caddy": "use a plain (not deferred) `header`, and drop the upstream's copy with "
             "`header_down -Name` in reverse_proxy",
}


_FIX_REPLACE = {
    "nginx": "hide the upstream's copy first (`proxy_hide_header`)",
    "apache": "replace it in the onsuccess table (`Header set`, not `Header always set`)",
    "haproxy": "replace it (`set-header`, not `add-header`)",
    "caddy": "drop the upstream's copy with `header_down -Name` in reverse_proxy (a deferred `header` "
             "would miss Caddy's own errors)",
}


def _cors_ops(config):
    """Each CORS header operation the proxy adds once: on Matrix routes and at site level."""
    seen = set()
    pairs = [(site, route, route.headers) for site, route in cors_routes(config)]
    pairs += [(site, None, site.headers) for site in config.sites]
    for site, route, ops in pairs:
        for op in ops:
            if is_cors(op.name) and op.mode in ("add", "set") and op.span is not None:
                if op.span not in seen:
                    seen.add(op.span)
                    yield site, route, op


def _only_own_answers_in(site, op) -> bool:
    """Whether every response the header operation can be on is one the proxy makes itself with
    a status the operation covers: each route carrying it answers with such a status
    (`return 200 '{...}'`, `return 204` for a preflight, a redirect), and no request that falls
    to the server's default handling gets it. Then no error response exists for it to miss (the
    413 for an oversized body aside: a well-known GET or a preflight carries no body)."""
    if any(h.span == op.span for h in site.headers) and not site.fallback:
        return False        # the server's default handling (404) is not modelled here: it may carry it
    carriers = [r for r in (*site.routes, *site.fallback) if any(h.span == op.span for h in r.headers)]
    return bool(carriers) and all(
        r.action.kind in ("respond", "redirect") and r.action.status is not None
        and op.applies(r.action.status, generated=True) for r in carriers)


@rule("MPL101", "cors-header-without-always", "warning")
def cors_header_without_always(config):
    """## What it does
    Flags a CORS response header (`Access-Control-*`) that the proxy adds only to successful
    responses.

    A header in a block whose only response is one the proxy makes itself with a status the
    header covers is not flagged: `add_header` without `always` inside
    `location = /.well-known/matrix/client { ...; return 200 '...'; }` or inside
    `if ($request_method = OPTIONS) { ...; return 204; }` is on every response that block gives.

    ## Why is this bad?
    nginx's `add_header` without `always` applies only to 200, 201, 204, 206 and redirects.
    Errors then lose the header. These include the 413 from `client_max_body_size`, the 502
    when the homeserver is down, and the 429 from rate limits. The browser reports a CORS error
    instead of the real status, so Element shows "connection lost" or a failed upload and cannot
    say "file too large" or back off politely. Apache's `Header set` (without `always`) and
    HAProxy's `http-response` have the same gap for responses the proxy makes itself.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        server_name matrix.example.org;
        location /_matrix {
            proxy_pass http://127.0.0.1:8008;
            proxy_hide_header Access-Control-Allow-Origin;
            add_header Access-Control-Allow-Origin *;
        }
    }
    ```

    ## Use instead
    ```nginx
    server {
        listen 443 ssl;
        server_name matrix.example.org;
        location /_matrix {
            proxy_pass http://127.0.0.1:8008;
            proxy_hide_header Access-Control-Allow-Origin;
            add_header Access-Control-Allow-Origin * always;
        }
    }
    ```
    """
    for site, route, op in _cors_ops(config):
        if op.always:
            continue
        gaps = []
        if op.statuses is not None and not _only_own_answers_in(site, op):
            gaps.append("error responses (4xx/5xx)")
        if not op.on_generated:
            gaps.append("responses the proxy makes itself")
        # A homeserver sends CORS on its own responses: not covering those is no gap. Only an
        # upstream the configuration shows is not one is asserted to lack them.
        if not op.on_proxied and route is not None and route.action.kind == "proxy" \
                and homeserver(route).answer == "no":
            gaps.append("responses relayed from the upstream")
        if not gaps:
            continue
        fix = _FIX_ALWAYS.get(config.server, "apply it to every response")
        yield Finding(f"`{op.name}` is not added to {' or '.join(gaps)}: browsers then report a CORS "
                      f"error instead of the real status (413, 502, ...); {fix}", op.span)


@rule("MPL102", "cors-preflight-incomplete", "error")
def cors_preflight_incomplete(config):
    """## What it does
    Flags a CORS preflight (`OPTIONS`) that the proxy answers itself without the headers a
    browser needs: `Access-Control-Allow-Origin`, `-Methods` and `-Headers`.

    ## Why is this bad?
    Every homeserver already answers `OPTIONS` correctly. A proxy that intercepts the preflight
    (`if ($request_method = OPTIONS) { return 204; }`) and leaves out any of the three headers
    makes the browser refuse every API call that follows, so Element Web cannot log in or sync.
    An `add_header` inside the `if` block also drops the location's own headers.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        server_name matrix.example.org;
        location /_matrix {
            if ($request_method = OPTIONS) {
                add_header Access-Control-Allow-Origin *;
                return 204;
            }
            proxy_pass http://127.0.0.1:8008;
        }
    }
    ```

    ## Use instead
    ```nginx
    server {
        listen 443 ssl;
        server_name matrix.example.org;
        location /_matrix {
            # Synapse answers OPTIONS with the right CORS headers itself.
            proxy_pass http://127.0.0.1:8008;
        }
    }
    ```
    """
    seen = set()
    for site in config.sites:
        for route in site.routes:
            cond = route.condition
            if cond is None or cond.methods is None or "OPTIONS" not in cond.methods:
                continue
            if route.action.kind not in ("respond", "redirect") or route.action.span in seen:
                continue
            seen.add(route.action.span)
            request = Request("OPTIONS", "https", "localhost", 443, "/_matrix/client/versions")
            (out,) = outcomes(route, request)
            missing = [h for h in PREFLIGHT_HEADERS if not out.values(h)]
            if missing:
                yield Finding(f"the proxy answers the CORS preflight itself ({cond.text}) without "
                              f"{', '.join(missing)}: browsers then refuse every API call", route.action.span,
                              unless=route.unknowns)


def _list_values(value: str) -> set:
    return {v.strip().lower() for v in re.split(r"[,\s]+", value) if v.strip()}


def _header_values(config, name):
    for site, route, op in _cors_ops(config):
        if op.key == name and op.value is not None and "$" not in op.value:
            yield op


@rule("MPL103", "cors-allow-methods-incomplete", "warning")
def cors_allow_methods_incomplete(config):
    """## What it does
    Flags an `Access-Control-Allow-Methods` value set by the proxy that lacks one of GET, POST,
    PUT, DELETE or OPTIONS.

    ## Why is this bad?
    Matrix clients send messages with `PUT`, delete devices and aliases with `DELETE`, and
    browsers send `OPTIONS` preflights. A shorter list makes those calls fail in every web
    client. Homeservers send a complete list themselves; the proxy rarely needs to set one.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        location /.well-known/matrix/client {
            default_type application/json;
            add_header Access-Control-Allow-Origin * always;
            add_header Access-Control-Allow-Methods "GET, POST" always;
            return 200 '{"m.homeserver": {"base_url": "https://matrix.example.org"}}';
        }
    }
    ```

    ## Use instead
    ```nginx
    server {
        listen 443 ssl;
        location /.well-known/matrix/client {
            default_type application/json;
            add_header Access-Control-Allow-Origin * always;
            add_header Access-Control-Allow-Methods "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH" always;
            return 200 '{"m.homeserver": {"base_url": "https://matrix.example.org"}}';
        }
    }
    ```
    """
    for op in _header_values(config, "access-control-allow-methods"):
        have = _list_values(op.value)
        if "*" in have:
            continue
        missing = [m for m in REQUIRED_METHODS if m.lower() not in have]
        if missing:
            yield Finding(f"Access-Control-Allow-Methods `{op.value}` lacks {', '.join(missing)}: "
                          f"browsers will refuse those Matrix calls", op.span)


@rule("MPL104", "cors-allow-methods-without-patch-head", "info")
def cors_allow_methods_without_patch_head(config):
    """## What it does
    Notes an `Access-Control-Allow-Methods` value set by the proxy that lacks PATCH or HEAD.

    ## Why is this bad?
    Since spec v1.13 (MSC4138) servers should allow PATCH and HEAD too; newer endpoints use
    them. It does not break today's clients, hence info.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        location /.well-known/matrix/client {
            default_type application/json;
            add_header Access-Control-Allow-Origin * always;
            add_header Access-Control-Allow-Methods "GET, POST, PUT, DELETE, OPTIONS" always;
            return 200 '{"m.homeserver": {"base_url": "https://matrix.example.org"}}';
        }
    }
    ```

    ## Use instead
    ```nginx
    server {
        listen 443 ssl;
        location /.well-known/matrix/client {
            default_type application/json;
            add_header Access-Control-Allow-Origin * always;
            add_header Access-Control-Allow-Methods "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH" always;
            return 200 '{"m.homeserver": {"base_url": "https://matrix.example.org"}}';
        }
    }
    ```
    """
    for op in _header_values(config, "access-control-allow-methods"):
        have = _list_values(op.value)
        missing = [m for m in NEWER_METHODS if m.lower() not in have]
        if "*" not in have and missing:
            yield Finding(f"Access-Control-Allow-Methods `{op.value}` lacks {', '.join(missing)} "
                          f"(recommended since Matrix v1.13, MSC4138)", op.span)


@rule("MPL105", "cors-allow-headers-incomplete", "warning")
def cors_allow_headers_incomplete(config):
    """## What it does
    Flags an `Access-Control-Allow-Headers` value set by the proxy that lacks `Authorization` or
    `Content-Type`.

    ## Why is this bad?
    Every authenticated Matrix call carries `Authorization: Bearer …` and JSON bodies carry
    `Content-Type`; the browser's preflight fails without them. A bare `*` does not cover
    `Authorization` (the Fetch standard excludes it from the wildcard).

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        location /.well-known/matrix/client {
            default_type application/json;
            add_header Access-Control-Allow-Origin * always;
            add_header Access-Control-Allow-Headers "X-Requested-With" always;
            return 200 '{"m.homeserver": {"base_url": "https://matrix.example.org"}}';
        }
    }
    ```

    ## Use instead
    ```nginx
    server {
        listen 443 ssl;
        location /.well-known/matrix/client {
            default_type application/json;
            add_header Access-Control-Allow-Origin * always;
            add_header Access-Control-Allow-Headers "X-Requested-With, Content-Type, Authorization" always;
            return 200 '{"m.homeserver": {"base_url": "https://matrix.example.org"}}';
        }
    }
    ```
    """
    for op in _header_values(config, "access-control-allow-headers"):
        have = _list_values(op.value)
        missing = [h for h in REQUIRED_HEADERS
                   if h.lower() not in have and not (h != "Authorization" and "*" in have)]
        if missing:
            extra = " (`*` does not cover Authorization)" if "*" in have else ""
            yield Finding(f"Access-Control-Allow-Headers `{op.value}` lacks {', '.join(missing)}{extra}: "
                          f"preflights for authenticated JSON calls fail", op.span)


@rule("MPL106", "cors-duplicate-origin", "error")
def cors_duplicate_origin(config):
    """## What it does
    Flags `Access-Control-Allow-Origin` appended by the proxy to responses proxied from a
    homeserver.

    ## Why is this bad?
    Synapse, Dendrite, the Conduit family and MAS already send `Access-Control-Allow-Origin: *`
    on their responses. A proxy that appends its own gives the browser two values (`*, *`),
    and the browser rejects the response. Element Web then says the homeserver is not valid,
    while native apps keep working, which makes it hard to diagnose. Duplicated
    `-Methods`/`-Headers` lists are harmless and are not flagged.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        location /_matrix {
            proxy_pass http://127.0.0.1:8008;
            add_header Access-Control-Allow-Origin * always;
        }
    }
    ```

    ## Use instead
    ```nginx
    server {
        listen 443 ssl;
        location /_matrix {
            proxy_pass http://127.0.0.1:8008;
            # Replace, do not append: hide the homeserver's copy first.
            proxy_hide_header Access-Control-Allow-Origin;
            add_header Access-Control-Allow-Origin * always;
        }
    }
    ```
    """
    seen = set()
    for site in config.sites:
        for route in site.routes:
            if not upstream_is_homeserver(route):
                continue
            removed = False
            for op in route.headers:
                if op.key != ACAO or not op.on_proxied:
                    continue
                if op.mode in ("remove", "set"):
                    removed = True
                elif op.mode == "add" and not removed and op.span not in seen:
                    seen.add(op.span)
                    yield Finding("Access-Control-Allow-Origin is appended to responses proxied from the "
                                  "homeserver, which sends its own: browsers see two values (`*, *`) and "
                                  f"reject them; drop this header or {_FIX_REPLACE.get(config.server, 'replace the upstream value')}",
                                  op.span, unless=route.unknowns)


@rule("MPL107", "cors-credentials-with-wildcard", "error")
def cors_credentials_with_wildcard(config):
    """## What it does
    Flags `Access-Control-Allow-Credentials: true` together with `Access-Control-Allow-Origin: *`
    or an origin reflected from the request (`$http_origin`).

    ## Why is this bad?
    Browsers reject credentials with a wildcard origin, so the combination breaks every request
    that sends them. A reflected origin with credentials is worse: any web page can make
    authenticated requests with the user's cookies. Matrix uses bearer tokens, not cookies,
    and needs neither header.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        location /.well-known/matrix/client {
            default_type application/json;
            add_header Access-Control-Allow-Origin $http_origin always;
            add_header Access-Control-Allow-Credentials true always;
            return 200 '{"m.homeserver": {"base_url": "https://matrix.example.org"}}';
        }
    }
    ```

    ## Use instead
    ```nginx
    server {
        listen 443 ssl;
        location /.well-known/matrix/client {
            default_type application/json;
            add_header Access-Control-Allow-Origin * always;
            return 200 '{"m.homeserver": {"base_url": "https://matrix.example.org"}}';
        }
    }
    ```
    """
    seen = set()
    for site in config.sites:
        for route in site.routes:
            origins = [op for op in route.headers if op.key == ACAO and op.value is not None]
            creds = [op for op in route.headers
                     if op.key == "access-control-allow-credentials" and (op.value or "").lower() == "true"]
            bad = [o for o in origins if o.value.strip() == "*" or "$http_origin" in o.value]
            for op in creds:
                if bad and op.span not in seen:
                    seen.add(op.span)
                    origin = bad[0].value
                    why = ("browsers reject credentials with a wildcard origin" if origin.strip() == "*"
                           else "any web page may then make credentialed requests")
                    yield Finding(f"Access-Control-Allow-Credentials `true` with Access-Control-Allow-Origin "
                                  f"`{origin}`: {why}", op.span)
