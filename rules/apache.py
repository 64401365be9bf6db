"""Apache httpd rules: mod_proxy's URI handling, forwarding, and what else breaks Matrix behind Apache.

They read the Apache model's facts (linter/apache): the handler of each route, the virtual host's
AllowEncodedSlashes, and the server sections. Several restate, with Apache's fix, what a
cross-server rule reports as an effect (MPL201 for `nocanon`, MPL402/MPL403 for forwarding): the
cross-server finding says what the homeserver receives, the Apache one which directive to write.
"""
from __future__ import annotations

from linter.matrix import CLIENT_PROBES, routes_for
from linter.predict import upstream_is_homeserver
from linter.rule import Finding, rule


def _matrix_proxy_routes(config):
    """(site, route) for routes that proxy Matrix traffic."""
    for site in config.sites:
        for route in site.routes:
            if route.action.kind == "proxy" and route.serves_matrix():
                yield site, route


def _site_span(site, route):
    """Where a per-virtual-host finding points: the <VirtualHost> header, else the handler."""
    return site.span or route.action.span or route.span


@rule("MPL601", "apache-proxypass-without-nocanon", "error", servers=["apache"], supersedes={"MPL201": "line"})
def proxypass_without_nocanon(config):
    """## What it does
    Flags a `ProxyPass` or `ProxyPassMatch` that proxies Matrix paths without the `nocanon`
    keyword.

    ## Why is this bad?
    Without `nocanon`, mod_proxy rebuilds the path before proxying it. It decodes `%40` to `@`
    and `%3A` to `:`, merges `//`, resolves `..` and re-encodes the rest. Federation requests are
    signed over the exact URI, so remote servers get `401 Invalid signature`, and IDs that
    contain encoded characters no longer match. The Synapse reverse-proxy docs require
    `nocanon` on every Matrix `ProxyPass` line, including `/_synapse/client` and worker lines.

    ## Example
    ```apache
    <VirtualHost *:443>
        SSLEngine on
        ServerName matrix.example.org
        AllowEncodedSlashes NoDecode
        ProxyPreserveHost On
        RequestHeader set X-Forwarded-Proto https
        ProxyPass /_matrix http://127.0.0.1:8008/_matrix
    </VirtualHost>
    ```

    ## Use instead
    ```apache
    <VirtualHost *:443>
        SSLEngine on
        ServerName matrix.example.org
        AllowEncodedSlashes NoDecode
        ProxyPreserveHost On
        RequestHeader set X-Forwarded-Proto https
        ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    </VirtualHost>
    ```
    """
    seen = set()
    for site, route in _matrix_proxy_routes(config):
        proxy = route.facts.get("apache_proxy")
        if proxy is None or proxy.kind == "rewrite" or proxy.nocanon:
            continue
        span = proxy.directive.span
        if span not in seen:
            seen.add(span)
            yield Finding(f"`{proxy.directive.name}` proxies Matrix paths without `nocanon`: Apache decodes "
                          f"and re-encodes the path, which breaks federation signatures and encoded IDs; add "
                          f"`nocanon`", span)


@rule("MPL602", "apache-encoded-slashes-rejected", "error", servers=["apache"])
def encoded_slashes_rejected(config):
    """## What it does
    Flags a virtual host that proxies Matrix paths while `AllowEncodedSlashes` is `Off`, the
    default.

    ## Why is this bad?
    With `Off`, Apache answers 404 to every path containing `%2F` before any `ProxyPass` runs.
    Room aliases, event IDs and media IDs can contain it, so joins, invites and some media
    fail. The setting is per virtual host: a main-server `AllowEncodedSlashes` is not inherited.
    The Synapse docs ask for `NoDecode`, which together with `nocanon` passes `%2F` on
    untouched (`On` with `nocanon` does too, measured on httpd 2.4.71).

    ## Example
    ```apache
    <VirtualHost *:8448>
        SSLEngine on
        ServerName example.org
        ProxyPreserveHost On
        RequestHeader set X-Forwarded-Proto https
        ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    </VirtualHost>
    ```

    ## Use instead
    ```apache
    <VirtualHost *:8448>
        SSLEngine on
        ServerName example.org
        AllowEncodedSlashes NoDecode
        ProxyPreserveHost On
        RequestHeader set X-Forwarded-Proto https
        ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    </VirtualHost>
    ```
    """
    seen = set()
    for site, route in _matrix_proxy_routes(config):
        model = site.facts.get("apache_model")
        if model is None or model.encoded_slashes != "off":
            continue
        written = model.encoded_slashes_directive
        span = written.span if written is not None else _site_span(site, route)
        if span in seen:
            continue
        seen.add(span)
        server = site.facts["apache_server"]
        main = server.parent.last("allowencodedslashes", inherit=False) if server.parent is not None else None
        hint = (" (the main server's AllowEncodedSlashes is not inherited by virtual hosts)"
                if main is not None and written is None else "")
        yield Finding(f"Apache answers 404 to every path containing `%2F` (AllowEncodedSlashes is Off) before "
                      f"proxying it: room aliases, event and media IDs with `%2F` fail; set `AllowEncodedSlashes "
                      f"NoDecode` in this virtual host{hint}", span,
                      unless=() if written is not None else site.unknowns)


@rule("MPL603", "apache-proxy-preserve-host-off", "warning", servers=["apache"], supersedes={"MPL403": "file"})
def proxy_preserve_host_off(config):
    """## What it does
    Flags a virtual host that proxies the Matrix client API without `ProxyPreserveHost On`.

    ## Why is this bad?
    mod_proxy sends the upstream's own address as `Host` (`127.0.0.1:8008`) unless
    `ProxyPreserveHost On` is set. Synapse builds SSO redirect URLs and compares them with
    `public_baseurl` from that header, so "Continue with SSO" loops
    (`ERR_TOO_MANY_REDIRECTS`), and absolute URLs point at `127.0.0.1`. Federation-only
    virtual hosts are not flagged: federation does not use `Host`.

    ## Example
    ```apache
    <VirtualHost *:443>
        SSLEngine on
        ServerName matrix.example.org
        AllowEncodedSlashes NoDecode
        RequestHeader set X-Forwarded-Proto https
        ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
        ProxyPass /_synapse/client http://127.0.0.1:8008/_synapse/client nocanon
    </VirtualHost>
    ```

    ## Use instead
    ```apache
    <VirtualHost *:443>
        SSLEngine on
        ServerName matrix.example.org
        AllowEncodedSlashes NoDecode
        ProxyPreserveHost On
        RequestHeader set X-Forwarded-Proto https
        ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
        ProxyPass /_synapse/client http://127.0.0.1:8008/_synapse/client nocanon
    </VirtualHost>
    ```
    """
    seen = set()
    for site in config.sites:
        if "apache_model" not in site.facts or _federation_only(site):
            continue
        for route in routes_for(site, CLIENT_PROBES):
            if not upstream_is_homeserver(route) or "host" in route.action.request_headers:
                continue
            written = _last_written(site, route, "proxypreservehost")
            span = written.span if written is not None else _site_span(site, route)
            if span not in seen:
                seen.add(span)
                yield Finding("the Matrix client API is proxied without `ProxyPreserveHost On`: Synapse sees "
                              "`Host: 127.0.0.1:…`, so SSO redirects loop and absolute URLs are wrong", span,
                              unless=() if written is not None else route.unknowns)


def _federation_only(site) -> bool:
    return bool(site.listens) and all(l.port == 8448 for l in site.listens)


def _last_written(site, route, name):
    """The `name` directive in effect for a route (server, main server, <Proxy>, <Location>s)."""
    from linter.apache.routes import setting

    return setting(site.facts["apache_server"], route, name)


@rule("MPL604", "apache-forwarded-proto-not-set", "warning", servers=["apache"], supersedes={"MPL402": "file"})
def forwarded_proto_not_set(config):
    """## What it does
    Flags a virtual host that proxies Matrix traffic without
    `RequestHeader set X-Forwarded-Proto`.

    ## Why is this bad?
    mod_proxy adds `X-Forwarded-For`, `-Host` and `-Server` by itself, but never
    `X-Forwarded-Proto`. Synapse then guesses the scheme the client used, builds `http://`
    redirect URLs behind a TLS proxy, and SSO ends in a "not canonical" redirect loop. Set it in
    every virtual host, for example `RequestHeader set X-Forwarded-Proto expr=%{REQUEST_SCHEME}`.

    ## Example
    ```apache
    <VirtualHost *:443>
        SSLEngine on
        ServerName matrix.example.org
        AllowEncodedSlashes NoDecode
        ProxyPreserveHost On
        ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    </VirtualHost>
    ```

    ## Use instead
    ```apache
    <VirtualHost *:443>
        SSLEngine on
        ServerName matrix.example.org
        AllowEncodedSlashes NoDecode
        ProxyPreserveHost On
        RequestHeader set X-Forwarded-Proto expr=%{REQUEST_SCHEME}
        ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    </VirtualHost>
    ```
    """
    seen = set()
    for site, route in _matrix_proxy_routes(config):
        if not upstream_is_homeserver(route) or "x-forwarded-proto" in route.action.request_headers:
            continue
        span = _site_span(site, route)
        if span not in seen:
            seen.add(span)
            yield Finding("Matrix traffic is proxied without `RequestHeader set X-Forwarded-Proto` (mod_proxy "
                          "never adds it): Synapse guesses the scheme and SSO redirects loop", span,
                          unless=route.unknowns)


@rule("MPL605", "apache-open-proxy", "error", servers=["apache"])
def open_proxy(config):
    """## What it does
    Flags `ProxyRequests On` when no `<Proxy>` section restricts who may use the forward
    proxy.

    ## Why is this bad?
    `ProxyRequests On` turns Apache into a forward proxy: anyone on the internet can send
    `GET http://victim/ HTTP/1.1` through it, to attack others from your address or reach
    services on your internal network, including the homeserver's admin API. A reverse proxy
    for Matrix needs only `ProxyPass`; `ProxyRequests` must stay `Off` (the default).

    ## Example
    ```apache
    <VirtualHost *:443>
        SSLEngine on
        ServerName matrix.example.org
        AllowEncodedSlashes NoDecode
        ProxyPreserveHost On
        ProxyRequests On
        RequestHeader set X-Forwarded-Proto https
        ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    </VirtualHost>
    ```

    ## Use instead
    ```apache
    <VirtualHost *:443>
        SSLEngine on
        ServerName matrix.example.org
        AllowEncodedSlashes NoDecode
        ProxyPreserveHost On
        ProxyRequests Off
        RequestHeader set X-Forwarded-Proto https
        ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    </VirtualHost>
    ```
    """
    seen = set()
    for site in config.sites:
        server = site.facts.get("apache_server")
        if server is None:
            continue
        d = server.last("proxyrequests")
        if d is None or not d.args or d.args[0].lower() != "on" or d.span in seen:
            continue
        seen.add(d.span)
        if _forward_proxy_guarded(server):
            continue
        # A <Proxy> section in an unseen file could restrict the forward proxy.
        yield Finding("`ProxyRequests On` makes this server an open forward proxy for anyone; a reverse proxy "
                      "needs only ProxyPass (set `ProxyRequests Off`)", d.span, unless=site.unknowns)


def _forward_proxy_guarded(server) -> bool:
    """A `<Proxy *>` (or any `<Proxy>`) section with a Require other than `all granted`."""
    for section in server.of_kind("proxy"):
        for d in section.body:
            words = " ".join(d.args).lower().split()
            if d.key == "require" and words != ["all", "granted"]:
                return True
            if d.key == "deny" or (d.key in ("requireany", "requireall") and d.block):
                return True
    return False


@rule("MPL606", "apache-mod-security-on-matrix", "warning", servers=["apache"])
def mod_security_on_matrix(config):
    """## What it does
    Flags ModSecurity (`SecRuleEngine On`) in effect for routes that proxy Matrix traffic.

    ## Why is this bad?
    The generic ModSecurity rule sets block ordinary Matrix traffic: JSON bodies with
    encrypted payloads, `PUT` and `DELETE` requests, and long random access tokens and
    transaction IDs. Messages then fail to send with 403 and federation transactions are
    rejected at random. The Synapse docs say mod_security2 is incompatible and should be
    disabled for the Matrix virtual hosts (`SecRuleEngine Off`).

    ## Example
    ```apache
    <VirtualHost *:443>
        SSLEngine on
        ServerName matrix.example.org
        SecRuleEngine On
        AllowEncodedSlashes NoDecode
        ProxyPreserveHost On
        RequestHeader set X-Forwarded-Proto https
        ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    </VirtualHost>
    ```

    ## Use instead
    ```apache
    <VirtualHost *:443>
        SSLEngine on
        ServerName matrix.example.org
        <IfModule security2_module>
            SecRuleEngine Off
        </IfModule>
        AllowEncodedSlashes NoDecode
        ProxyPreserveHost On
        RequestHeader set X-Forwarded-Proto https
        ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    </VirtualHost>
    ```
    """
    seen = set()
    for site, route in _matrix_proxy_routes(config):
        engine = _last_written(site, route, "secruleengine")
        if engine is None or not engine.args or engine.args[0].lower() != "on":
            continue
        # Written for the whole server: point at the virtual host it reaches, where the fix goes.
        own = _written_in(site.facts["apache_server"], engine) or site.span is None
        span = engine.span if own else site.span
        if span in seen:
            continue
        seen.add(span)
        where = "" if own else f" (`SecRuleEngine On` at {engine.span.path}:{engine.span.line})"
        yield Finding(f"ModSecurity is on for Matrix traffic{where}: its rule sets block encrypted JSON bodies, "
                      f"PUT/DELETE and long tokens (messages fail with 403); set `SecRuleEngine Off` for the "
                      f"Matrix routes", span)


def _written_in(server, d) -> bool:
    if server.directive is None:
        return True
    return any(x is d for x in server.body) or any(x is d for s in server.sections for x in s.body)


@rule("MPL607", "apache-rewrite-proxies-matrix", "error", servers=["apache"])
def rewrite_proxies_matrix(config):
    """## What it does
    Flags a `RewriteRule … [P]` that proxies Matrix paths.

    ## Why is this bad?
    mod_rewrite matches and substitutes the decoded path, and the proxied URL is then
    canonicalised. There is no `nocanon` for it, and `[NE]` or `[B]` do not restore the
    original bytes. `%40`, `%3A` and `//` change, and `[NE]` can turn a decoded space into a 403.
    Federation signatures and encoded IDs then break, as with a `ProxyPass` without `nocanon`.
    Use `ProxyPass … nocanon` for Matrix paths; keep rewrites for redirects.

    ## Example
    ```apache
    <VirtualHost *:443>
        SSLEngine on
        ServerName matrix.example.org
        AllowEncodedSlashes NoDecode
        ProxyPreserveHost On
        RequestHeader set X-Forwarded-Proto https
        RewriteEngine On
        RewriteRule ^/_matrix/(.*)$ http://127.0.0.1:8008/_matrix/$1 [P,L]
    </VirtualHost>
    ```

    ## Use instead
    ```apache
    <VirtualHost *:443>
        SSLEngine on
        ServerName matrix.example.org
        AllowEncodedSlashes NoDecode
        ProxyPreserveHost On
        RequestHeader set X-Forwarded-Proto https
        ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    </VirtualHost>
    ```
    """
    seen = set()
    for site, route in _matrix_proxy_routes(config):
        proxy = route.facts.get("apache_proxy")
        if proxy is None or proxy.kind != "rewrite":
            continue
        span = proxy.directive.span
        if span not in seen:
            seen.add(span)
            yield Finding("`RewriteRule … [P]` proxies Matrix paths from the decoded path (there is no `nocanon` "
                          "for it): federation signatures and encoded IDs break; use `ProxyPass … nocanon`", span)

