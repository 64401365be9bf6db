"""Forwarding and limits: what the homeserver needs to know about the client, body sizes, exposure."""
from __future__ import annotations

from linter.matrix import ADMIN_PROBE, CLIENT_PROBES, UPLOAD_PROBES, homeserver, routes_for, site_serves_matrix
from linter.predict import upstream_is_homeserver
from linter.rule import Finding, rule
from linter.select import select_route

MIN_BODY_SIZE = 1024 * 1024 * 10
FEDERATION_PORT = 8448     # below 10 MiB federation transactions and uploads fail


def _proxied_matrix(config):
    seen = set()
    for site in config.sites:
        for route in site.routes:
            if upstream_is_homeserver(route) and route.serves_matrix() and route.action.span not in seen:
                seen.add(route.action.span)
                yield site, route


def _size_text(size: int) -> str:
    for unit, factor in (("g", 1024**3), ("m", 1024**2), ("k", 1024)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size} bytes"


def _unseen_forwarding(route) -> list:
    """The unseen regions that could add a request header to this route's upstream request."""
    narrowed = route.action.request_headers_unknowns
    return route.unknowns if narrowed is None else narrowed


def _sends(route, header: str) -> bool:
    return header in route.action.request_headers


@rule("MPL401", "forwarded-for-missing", "warning")
def forwarded_for_missing(config):
    """## What it does
    Flags a route proxying Matrix traffic that does not send `X-Forwarded-For`.

    ## Why is this bad?
    The homeserver then sees every client as the proxy's address. Login and registration rate
    limits lock out everyone at once, and the admin API shows the proxy's IP for every
    device. Synapse also ignores `X-Forwarded-Proto` unless `X-Forwarded-For` is present.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        location /_matrix {
            proxy_pass http://127.0.0.1:8008;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-Proto $scheme;
        }
    }
    ```

    ## Use instead
    ```nginx
    server {
        listen 443 ssl;
        location /_matrix {
            proxy_pass http://127.0.0.1:8008;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
        }
    }
    ```
    """
    for site, route in _proxied_matrix(config):
        if homeserver(route).software == "conduit":
            continue        # Conduit reads no X-Forwarded-For (continuwuity only with ip_source set)
        if not _sends(route, "x-forwarded-for"):
            yield Finding("Matrix traffic is proxied without X-Forwarded-For: the homeserver sees every "
                          "client as the proxy (shared rate limits, wrong IPs)", route.action.span,
                          unless=_unseen_forwarding(route))


@rule("MPL402", "forwarded-proto-missing", "warning")
def forwarded_proto_missing(config):
    """## What it does
    Flags a route proxying Matrix traffic that does not send `X-Forwarded-Proto`.

    ## Why is this bad?
    Synapse builds absolute URLs and SSO redirects from the scheme the client used. Without the
    header it guesses. A wrong guess gives `http://` redirect URLs and SSO "not canonical"
    redirect loops.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        location /_matrix {
            proxy_pass http://127.0.0.1:8008;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
        }
    }
    ```

    ## Use instead
    ```nginx
    server {
        listen 443 ssl;
        location /_matrix {
            proxy_pass http://127.0.0.1:8008;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
        }
    }
    ```
    """
    for site, route in _proxied_matrix(config):
        if homeserver(route).software == "conduit" or (site.listens and not site.tls):
            # The Conduit family reads no X-Forwarded-Proto; a plain-http site's scheme is the
            # connection's own, which the homeserver sees anyway.
            continue
        if not _sends(route, "x-forwarded-proto"):
            yield Finding("Matrix traffic is proxied without X-Forwarded-Proto: SSO redirects and absolute "
                          "URLs may use the wrong scheme", route.action.span,
                          unless=_unseen_forwarding(route))


@rule("MPL403", "host-header-not-forwarded", "warning")
def host_header_not_forwarded(config):
    """## What it does
    Flags a route proxying the Matrix client API that does not pass the client's `Host` header
    on. nginx sends the upstream's own name (`$proxy_host`) unless told otherwise. Routes that
    only carry federation (a site listening only on 8448) are not flagged: federation does not
    use Host.

    ## Why is this bad?
    Synapse compares the requested URL, built from `Host`, with `public_baseurl` for SSO. With
    the wrong host it redirects forever (`ERR_TOO_MANY_REDIRECTS` on "Continue with SSO"), and
    absolute URLs point at `localhost:8008`.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        location /_matrix {
            proxy_pass http://127.0.0.1:8008;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
        }
    }
    ```

    ## Use instead
    ```nginx
    server {
        listen 443 ssl;
        location /_matrix {
            proxy_pass http://127.0.0.1:8008;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
        }
    }
    ```
    """
    for site, route in _proxied_matrix(config):
        # Host matters for the client API (SSO, absolute URLs); federation requests do not use it,
        # so a site that only listens on the federation port is not flagged.
        if site.listens and all(l.port == FEDERATION_PORT for l in site.listens):
            continue
        client_groups = {r.group for r in routes_for(site, CLIENT_PROBES)}
        if route.group not in client_groups:
            continue
        host = route.action.request_headers.get("host")
        if host is None or "$proxy_host" in host:
            yield Finding("Matrix traffic is proxied without the client's Host header (the upstream gets "
                          "its own name): SSO redirect loops and wrong absolute URLs", route.action.span,
                          unless=_unseen_forwarding(route))


@rule("MPL404", "body-size-too-small", "warning")
def body_size_too_small(config):
    """## What it does
    Flags a route receiving Matrix uploads or federation transactions whose request body limit
    is below 10 MiB. nginx's default `client_max_body_size` is 1m.

    It is a warning when the configuration shows the limit. When the limit could be raised in a
    part of the configuration the linter does not see (a `server` block checked without the
    `http` block around it, an include it cannot read), the finding is info, and its message
    names what was not seen: a finding that depends on unseen configuration is never more
    than info.

    ## Why is this bad?
    Media uploads over the limit fail with 413. Inbound federation transactions from busy
    servers regularly exceed 1 MB, so the proxy silently drops them and messages go missing.
    Match the homeserver's `max_upload_size` (Synapse: 50M).

    ## Example
    ```nginx
    http {
        server {
            listen 443 ssl;
            location /_matrix {
                proxy_pass http://127.0.0.1:8008;
            }
        }
    }
    ```

    ## Use instead
    ```nginx
    http {
        server {
            listen 443 ssl;
            location /_matrix {
                proxy_pass http://127.0.0.1:8008;
                client_max_body_size 50M;
            }
        }
    }
    ```
    """
    seen = set()
    for site in config.sites:
        for route in routes_for(site, UPLOAD_PROBES):
            if route.action.kind != "proxy" or route.max_body_size is None:
                continue
            if homeserver(route).answer == "no":
                continue        # uploads reach some other application here: the limit is not the problem
            if route.max_body_size >= MIN_BODY_SIZE:
                continue
            # Builders say where the limit comes from: the directive that set it, or None for the
            # server's default, and whether an enclosing file that could raise it was not seen.
            setting = route.facts.get("body_size_directive")
            span = setting.span if setting is not None else route.action.span
            if span in seen:
                continue
            seen.add(span)
            size = _size_text(route.max_body_size)
            if setting is not None:
                yield Finding(f"`{setting.name} {' '.join(setting.args)}` ({size}) is too small for Matrix uploads "
                              f"and federation transactions (413 errors); use the homeserver's max_upload_size "
                              f"(50M for Synapse)", span)
            elif route.facts.get("body_size_unseen_parent"):
                # Info, not warning: the enclosing block that would raise the limit is not seen
                # (the engine lowers any finding with unseen regions; say so in the message).
                yield Finding(f"no request body limit is set in what this file shows, so the server's {size} "
                              f"default applies and Matrix uploads and large federation transactions get 413; "
                              f"info, not warning, because the block around it is not seen", span,
                              severity="info", unless=route.unknowns)
            else:
                yield Finding(f"the request body limit is left at the server's {size} default: Matrix uploads "
                              f"and large federation transactions get 413", span, unless=route.unknowns)


@rule("MPL405", "admin-api-exposed", "warning")
def admin_api_exposed(config):
    """## What it does
    Flags a public site that proxies `/_synapse/admin` with no access restriction.

    ## Why is this bad?
    The Synapse admin API can deactivate users, purge rooms and read any room's content with an
    admin token. Synapse's docs say to keep it off the public internet. That includes catch-all
    `location /` blocks and the federation port 8448.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        location / {
            proxy_pass http://127.0.0.1:8008;
            proxy_set_header X-Forwarded-For $remote_addr;
        }
    }
    ```

    ## Use instead
    ```nginx
    server {
        listen 443 ssl;
        location ~ ^(/_matrix|/_synapse/client) {
            proxy_pass http://127.0.0.1:8008;
            proxy_set_header X-Forwarded-For $remote_addr;
        }
    }
    ```
    """
    seen = set()
    method, path = ADMIN_PROBE
    for site in config.sites:
        if not site.public or not site_serves_matrix(site):
            continue
        route, _ = select_route(site, method, path)
        if route is None or route.action.kind != "proxy" or route.access_restricted:
            continue
        if not homeserver(route).yes or homeserver(route).software == "conduit":
            # the admin path reaches some other application, nothing says it is Synapse, or it is
            # the Conduit family, which has no /_synapse/admin API
            continue
        span = route.span or route.action.span
        if span not in seen:
            seen.add(span)
            # An unseen region in the route or the site could restrict it, or route the admin API
            # to a location of its own.
            yield Finding(f"`/_synapse/admin` is proxied on a public site by `{route.match}`: restrict it "
                          f"(allow/deny) or do not route it", span, unless=(*route.unknowns, *site.unknowns))


# How each server comes to keep the client's own X-Forwarded-For, and the fix.
_APPEND_FIX = {
    "nginx": "send the client address only: `proxy_set_header X-Forwarded-For $remote_addr;`",
    "apache": "drop the client's header first (`RequestHeader unset X-Forwarded-For`): mod_proxy then "
              "sends the client address only",
    "haproxy": "replace it: `http-request set-header X-Forwarded-For %[src]`",
    "caddy": "trust only the proxies in front of Caddy (`trusted_proxies`) and do not copy the client's "
             "header in `header_up`",
}
# Homeservers that do not take the left-most X-Forwarded-For value: Dendrite ignores the header,
# the Conduit family reads the right-most one (and only when told to).
_XFF_SAFE = {"dendrite": "Dendrite ignores X-Forwarded-For",
             "conduit": "the Conduit family reads the right-most X-Forwarded-For value"}


@rule("MPL406", "forwarded-for-spoofable", "warning")
def forwarded_for_spoofable(config):
    """## What it does
    Flags a route proxying Matrix traffic to a homeserver that appends the client address to the
    `X-Forwarded-For` header the client sent, instead of replacing it: nginx's
    `$proxy_add_x_forwarded_for`, Apache mod_proxy's default, HAProxy's `option forwardfor`, Caddy
    with `trusted_proxies` that include clients. Upstreams the configuration names as Dendrite or
    a Conduit-family server are not flagged: they do not trust the left-most value.

    ## Why is this bad?
    Synapse takes the left-most `X-Forwarded-For` value as the client's address
    (`synapse/http/site.py`; element-hq/synapse#9471). With an appended header that value is
    whatever the client wrote, so anyone can pick their IP: login and registration rate limits
    and IP-based checks are bypassed, and device "last seen" addresses and audit logs show forged
    addresses. It is a warning, not an error: clients and federation keep working. Behind another
    proxy that sets the header itself, appending is right; say so with a suppression comment.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        location /_matrix {
            proxy_pass http://127.0.0.1:8008;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }
    }
    ```

    ```apache
    <VirtualHost *:443>
        ServerName matrix.example.org
        SSLEngine on
        AllowEncodedSlashes NoDecode
        ProxyPreserveHost On
        RequestHeader set X-Forwarded-Proto https
        ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    </VirtualHost>
    ```

    ## Use instead
    ```nginx
    server {
        listen 443 ssl;
        location /_matrix {
            proxy_pass http://127.0.0.1:8008;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
        }
    }
    ```

    ```apache
    <VirtualHost *:443>
        ServerName matrix.example.org
        SSLEngine on
        AllowEncodedSlashes NoDecode
        ProxyPreserveHost On
        RequestHeader set X-Forwarded-Proto https
        RequestHeader unset X-Forwarded-For
        ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    </VirtualHost>
    ```
    """
    seen = set()
    for site, route in _proxied_matrix(config):
        action = route.action
        if action.forwarded_for != "append":
            continue
        verdict = homeserver(route)
        if verdict.software in _XFF_SAFE:
            continue
        span = action.forwarded_for_span or action.span
        # The server's default (Apache mod_proxy) points at each proxy directive: one finding per
        # site, since one line there fixes them all. A directive that appends is reported once.
        key = ("default", id(site)) if span == action.span else span
        if key in seen:
            continue
        seen.add(key)
        fix = _APPEND_FIX.get(config.server, "send the client address only")
        yield Finding("X-Forwarded-For keeps the value the client sent and appends the client address: Synapse "
                      f"takes the left-most value, so clients can spoof their IP (rate limits, IP checks); {fix}",
                      span, unless=_unseen_forwarding(route))
