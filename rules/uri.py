"""Request-URI rules: the homeserver must receive the URI exactly as the client sent it."""
from __future__ import annotations

from linter.rule import Finding, rule


@rule("MPL201", "uri-canonicalised", "error")
def uri_canonicalised(config):
    """## What it does
    Flags a route that proxies Matrix API paths (`/_matrix`, `/_synapse`) but does not pass the
    request URI through untouched.

    With nginx this is a `proxy_pass` with a URI part (even a single `/`), a `proxy_pass` built
    from `$uri` or regex captures, or a `rewrite` before `proxy_pass`. `$request_uri` and a bare
    `http://host:port` are safe.

    ## Why is this bad?
    The proxy then decodes and normalises the URI: `%2F` becomes `/`, `//` is merged, `%40`
    becomes `@`. Federation requests are signed over the exact URI, so remote servers get
    `401 Invalid signature`. Room aliases and event IDs containing encoded characters return
    404. The Synapse reverse-proxy docs say: no URI part, not even a single `/`.

    ## Example
    ```nginx
    server {
        listen 8448 ssl;
        location /_matrix {
            proxy_pass http://127.0.0.1:8008/;
        }
    }
    ```

    ## Use instead
    ```nginx
    server {
        listen 8448 ssl;
        location /_matrix {
            proxy_pass http://127.0.0.1:8008;
        }
    }
    ```
    """
    seen = set()
    for site in config.sites:
        for route in site.routes:
            action = route.action
            if action.kind != "proxy" or action.uri == "original" or not route.serves_matrix():
                continue
            span = action.uri_span or action.span or route.span
            if span in seen:
                continue
            seen.add(span)
            yield Finding(f"{action.uri_reason}; federation signatures and IDs containing `%2F` break "
                          f"(pass the URI through untouched)", span)
