"""nginx-only rules: they read nginx's configuration levels, not just the shared model."""
from __future__ import annotations

from linter.nginx.levels import ADD_HEADER_INHERIT_SINCE
from linter.rule import Finding, rule
from linter.syntax import walk


def _where(span, here) -> str:
    if span is None:
        return "?"
    if span.path == here.path:
        return f"line {span.line}"
    return f"{span.path}:{span.line}"


@rule("MPL501", "nginx-add-header-inheritance-drop", "warning", servers=["nginx"])
def add_header_inheritance_drop(config):
    """## What it does
    Flags an nginx level (`server`, `location`, or `if` inside a location) whose own
    `add_header` silently drops the `add_header`s it would otherwise inherit. It says which
    headers are lost and where they were set.

    ## Why is this bad?
    nginx inherits `add_header` from the enclosing level only if the current level has none.
    One `add_header Cache-Control ...` in a location removes the server's CORS headers, HSTS
    and the like from that location, with no warning. The well-known locations of many Matrix
    guides do exactly this. Repeat the headers, move them into an included snippet used at
    every level, or (nginx 1.29.3+) use `add_header_inherit merge;`.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        add_header Strict-Transport-Security "max-age=31536000" always;
        location = /.well-known/matrix/client {
            default_type application/json;
            add_header Access-Control-Allow-Origin * always;
            return 200 '{"m.homeserver": {"base_url": "https://matrix.example.org"}}';
        }
    }
    ```

    ## Use instead
    ```nginx
    server {
        listen 443 ssl;
        add_header Strict-Transport-Security "max-age=31536000" always;
        location = /.well-known/matrix/client {
            default_type application/json;
            add_header Strict-Transport-Security "max-age=31536000" always;
            add_header Access-Control-Allow-Origin * always;
            return 200 '{"m.homeserver": {"base_url": "https://matrix.example.org"}}';
        }
    }
    ```
    """
    seen = set()
    levels = []
    for site in config.sites:
        if "dropped_headers" in site.facts:
            levels.append(site.facts["dropped_headers"])
        for route in site.routes:
            if route.dropped_headers:
                levels.append((route.dropped_headers, route.facts.get("dropped_at")))
    for dropped, at in levels:
        if at is None or at in seen:
            continue
        seen.add(at)
        names = ", ".join(f"{op.name} ({_where(op.span, at)})" for op in dropped)
        yield Finding(f"this add_header stops nginx from inheriting {len(dropped)} header(s) from the "
                      f"enclosing level: {names}", at)


@rule("MPL502", "nginx-add-header-inherit-unsupported", "error", servers=["nginx"])
def add_header_inherit_unsupported(config):
    """## What it does
    Flags `add_header_inherit` when the target nginx (`--nginx-version`) is older than 1.29.3,
    which introduced it.

    ## Why is this bad?
    Older nginx refuses to start with an unknown directive. The headers it was meant to merge
    are not inherited either, so the linter models this level with nginx's standard
    inheritance.

    ## Example
    ```nginx
    # matrix-proxy-lint --nginx-version 1.26.0
    server {
        add_header_inherit merge;
        location /_matrix {
            proxy_pass http://127.0.0.1:8008;
        }
    }
    ```

    ## Use instead
    ```nginx
    # matrix-proxy-lint --nginx-version 1.26.0
    server {
        location /_matrix {
            proxy_pass http://127.0.0.1:8008;
        }
    }
    ```
    """
    version = config.options.get("nginx_version")
    if version is None or tuple(version) >= ADD_HEADER_INHERIT_SINCE:
        return
    shown = ".".join(str(v) for v in version)
    for d in walk(config.tree.directives):
        if d.key == "add_header_inherit":
            yield Finding(f"add_header_inherit needs nginx 1.29.3 or later (target: {shown}): nginx refuses "
                          f"to start", d.span)
