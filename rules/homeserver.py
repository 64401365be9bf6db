"""The proxy against the homeserver's own configuration (`--homeserver-config`, linter/homeserver.py).

These rules run only when a homeserver configuration was given; each compares what the proxy
does with what that file says the homeserver expects.
"""
from __future__ import annotations

import re
from typing import Optional
from urllib.parse import urlsplit

from linter.model import Route
from linter.predict import upstream_is_homeserver
from linter.rule import Finding, rule
from linter.select import select_route

UPLOAD = ("POST", "/_matrix/media/v3/upload")
CLIENT = ("GET", "/_matrix/client/versions")


def _proxied_to_homeserver(route: Optional[Route]) -> bool:
    return route is not None and upstream_is_homeserver(route)


def _size(n: int) -> str:
    for unit, size in (("G", 1024**3), ("M", 1024**2), ("k", 1024)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return f"{n} bytes"


def _where(span) -> str:
    return f"{span.path}:{span.line}" if span is not None else "its default"


@rule("MPL951", "body-limit-below-homeserver-upload-limit", "warning", supersedes={"MPL404": "line"})
def body_limit_below_upload_limit(config):
    """## What it does
    With `--homeserver-config`: flags a route that proxies media uploads to the homeserver with a
    request body limit below the homeserver's own upload limit (Synapse `max_upload_size`,
    continuwuity/conduwuit `max_request_size`, Dendrite `media_api.max_file_size_bytes`).

    ## Why is this bad?
    The homeserver tells clients (`/_matrix/client/v1/media/config`) that it accepts uploads up
    to its limit, so clients offer them; the proxy then answers 413 itself, without the JSON error
    or CORS headers a client understands, and the upload fails with a generic network error.

    ## Example
    ```nginx
    # homeserver.yaml: max_upload_size: 100M
    location /_matrix {
        proxy_pass http://127.0.0.1:8008;
        client_max_body_size 50M;
    }
    ```

    ## Use instead
    ```nginx
    # homeserver.yaml: max_upload_size: 100M
    location /_matrix {
        proxy_pass http://127.0.0.1:8008;
        client_max_body_size 100M;
    }
    ```
    """
    hs = config.homeserver
    if hs is None or hs.upload_limit is None:
        return
    seen = set()
    for site in config.sites:
        route, unknowns = select_route(site, *UPLOAD)
        if unknowns or not _proxied_to_homeserver(route) or route.max_body_size is None:
            continue
        if route.max_body_size >= hs.upload_limit:
            continue
        setting = route.facts.get("body_size_directive")
        span = setting.span if setting is not None else route.action.span
        if span in seen:
            continue
        seen.add(span)
        limit = f"{hs.upload_limit_key} {_size(hs.upload_limit)} ({_where(hs.upload_limit_span)})"
        what = (f"`{setting.name} {' '.join(setting.args)}`" if setting is not None
                else f"the server's default body limit")
        yield Finding(f"{what} ({_size(route.max_body_size)}) is below the homeserver's {limit}: uploads "
                      f"between the two fail with the proxy's own 413", span,
                      unless=route.unknowns if setting is None or route.facts.get("body_size_unseen_parent") else ())


@rule("MPL952", "public-baseurl-not-proxied", "warning")
def public_baseurl_not_proxied(config):
    """## What it does
    With `--homeserver-config`: flags a homeserver whose `public_baseurl` (scheme, host and
    port) is not a site of this proxy configuration that forwards the client API to it.

    ## Why is this bad?
    Clients, SSO redirects, email links and the `/.well-known/matrix/client` document all use
    `public_baseurl`. When no proxy site answers for it (a different host name, `http` where the
    site is TLS-only, a port the proxy does not listen on), logins through SSO loop or fail and
    links in emails lead nowhere.

    ## Example
    ```nginx
    # homeserver.yaml: public_baseurl: https://matrix.example.org/
    server {
        listen 8448 ssl;
        server_name matrix.example.org;
        location /_matrix { proxy_pass http://127.0.0.1:8008; }
    }
    ```

    ## Use instead
    ```nginx
    server {
        listen 443 ssl;
        server_name matrix.example.org;
        location /_matrix { proxy_pass http://127.0.0.1:8008; }
    }
    ```
    """
    hs = config.homeserver
    if hs is None or not hs.public_baseurl or "$" in hs.public_baseurl or "{" in hs.public_baseurl:
        return
    try:
        url = urlsplit(hs.public_baseurl)
        port = url.port or (443 if url.scheme == "https" else 80)
    except ValueError:
        return          # not a URL: the homeserver refuses to start, nothing to compare
    host = (url.hostname or "").lower()
    if url.scheme not in ("http", "https") or not host:
        return
    from linter.select import Request, select

    request = Request(CLIENT[0], url.scheme, host, port, CLIENT[1])
    chosen = select(config, request)
    if chosen.site is not None and _proxied_to_homeserver(chosen.route) \
            and (url.scheme != "https" or chosen.site.tls):
        return
    if chosen.site is not None and chosen.unknowns:
        return          # a condition the model cannot decide picks the route
    if chosen.site is None:
        why = f"no site listens on port {port}"
    elif url.scheme == "https" and not chosen.site.tls:
        why = f"the site that answers on port {port} does not use TLS"
    else:
        why = f"the site that answers {host}:{port} does not proxy the client API to the homeserver"
    span = hs.public_baseurl_span or hs.span
    yield Finding(f"public_baseurl {hs.public_baseurl} is not served by this proxy ({why}): SSO redirects, "
                  f"email links and clients use it", span, unless=tuple(config.unknowns))


@rule("MPL953", "forwarded-for-listener-mismatch", "warning")
def forwarded_for_listener_mismatch(config):
    """## What it does
    With `--homeserver-config`: flags a route whose X-Forwarded-For handling does not match the
    homeserver listener it proxies to: the proxy sets the header but the listener does not read
    it (Synapse `x_forwarded: false`), or the listener reads it (`x_forwarded: true`) while the
    proxy passes on whatever the client sent.

    ## Why is this bad?
    In the first case every client has the proxy's address: one client's rate limit locks out
    everyone, and logs and admin tools show no real IPs. In the second, any client can send its
    own `X-Forwarded-For` and choose the address Synapse records and rate-limits.

    ## Example
    ```nginx
    # homeserver.yaml: listeners: [{port: 8008, x_forwarded: false, resources: [{names: [client]}]}]
    location /_matrix {
        proxy_pass http://127.0.0.1:8008;
        proxy_set_header X-Forwarded-For $remote_addr;
    }
    ```

    ## Use instead
    ```nginx
    # homeserver.yaml: listeners: [{port: 8008, x_forwarded: true, resources: [{names: [client, federation]}]}]
    location /_matrix {
        proxy_pass http://127.0.0.1:8008;
        proxy_set_header X-Forwarded-For $remote_addr;
    }
    ```
    """
    hs = config.homeserver
    if hs is None or hs.kind == "dendrite" or not hs.listeners:
        return
    from linter.matrix import upstream_addresses

    seen = set()
    for site in config.sites:
        for route in site.routes:
            if not _proxied_to_homeserver(route) or route.action.forwarded_for is None:
                continue
            _, addresses = upstream_addresses(config, route.action.upstream)
            ports = {int(m.group(1)) for a in addresses for m in [re.search(r":(\d{1,5})$", a)] if m}
            listener = next((l for l in hs.listeners if l.port in ports), None)
            if listener is None:
                continue
            span = route.action.forwarded_for_span or route.action.span
            if span in seen:
                continue
            sent = route.action.forwarded_for
            if sent in ("append", "replace") and not listener.x_forwarded:
                seen.add(span)
                setting = "x_forwarded: true" if hs.kind == "synapse" else 'ip_source = "x_forwarded_for"'
                yield Finding(f"the proxy sends X-Forwarded-For, but the homeserver listener on port {listener.port} "
                              f"({_where(listener.span)}) does not read it: every client has the proxy's address "
                              f"(set {setting})", span)
            elif sent == "absent" and listener.x_forwarded:
                seen.add(span)
                yield Finding(f"the homeserver listener on port {listener.port} ({_where(listener.span)}) trusts "
                              f"X-Forwarded-For, but this proxy passes the client's own header on: clients choose "
                              f"their address (set X-Forwarded-For to the client address here)", span,
                              unless=route.action.request_headers_unknowns
                              if route.action.request_headers_unknowns is not None else route.unknowns)


@rule("MPL954", "wellknown-proxied-but-not-served", "warning")
def wellknown_proxied_but_not_served(config):
    """## What it does
    With `--homeserver-config` for Synapse: flags `/.well-known/matrix/server` proxied to Synapse
    while `serve_server_wellknown` is off, and `/.well-known/matrix/client` proxied to Synapse
    while `public_baseurl` is unset: Synapse answers 404 for them.

    ## Why is this bad?
    Delegation and client discovery then fail: other servers fall back to port 8448 on the
    server name, clients cannot find the homeserver.

    ## Example
    ```nginx
    # homeserver.yaml: server_name: example.org
    location /.well-known/matrix {
        proxy_pass http://127.0.0.1:8008;
    }
    ```

    ## Use instead
    ```nginx
    # homeserver.yaml: serve_server_wellknown: true
    # homeserver.yaml: public_baseurl: https://matrix.example.org/
    location /.well-known/matrix {
        proxy_pass http://127.0.0.1:8008;
    }
    ```
    """
    hs = config.homeserver
    if hs is None or hs.kind != "synapse":
        return
    seen = set()
    for site in config.sites:
        for path, served, fix in (
                ("/.well-known/matrix/server", hs.serve_server_wellknown, "set serve_server_wellknown: true"),
                ("/.well-known/matrix/client", bool(hs.public_baseurl), "set public_baseurl")):
            route, unknowns = select_route(site, "GET", path)
            if unknowns or served or route is None or route.action.kind != "proxy":
                continue
            if not _proxied_to_homeserver(route) and not route.match.mentions_matrix() \
                    and not route.facts.get("wellknown_proxied"):
                continue
            span = route.action.span or route.span
            if (span, path) in seen:
                continue
            seen.add((span, path))
            yield Finding(f"{path} is proxied to Synapse, which answers 404 for it with this homeserver "
                          f"configuration ({fix} in {hs.path})", span)
