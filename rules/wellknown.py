"""Well-known delegation rules: `/.well-known/matrix/server` and `/client` answered by the proxy.

The body is checked when the proxy answers inline (`return 200 '...'`, `respond`, `http-request
return`) or serves a file that can be read from the audited tree.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
from typing import Optional
from urllib.parse import urlsplit

from linter.matrix import wellknown_route
from linter.model import WELL_KNOWN_CLIENT, WELL_KNOWN_SERVER
from linter.predict import outcomes
from linter.rule import Finding, rule
from linter.select import Request

_HOSTNAME = re.compile(r"^(?=.{1,255}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$")


def _documents(config, path):
    """(site, route, span, parsed JSON or None, error or None) for each site answering `path`."""
    seen = set()
    for site in config.sites:
        route = wellknown_route(site, path)
        if route is None or route.fallback or route.action.kind not in ("respond", "static"):
            continue    # a fallback is the server's default handling, not a document (Apache's 404)
        body, span = _body(config, route, path)
        if body is None or span in seen:
            continue
        seen.add(span)
        # Server variables stand for a host name: Caddy's `{$ENV}`/`{env.X}`/`{http.request.host}`
        # placeholders first (their braces would otherwise be left behind), then nginx's `$var`.
        # A file that is a template (Jinja/Helm/Go `{{ x }}`, YunoHost `__DOMAIN__`, a docs
        # `<your-domain>`) is filled in before it is served: its placeholders stand for a host
        # (a port after `:`), and a template whose logic hides the JSON is not judged at all.
        text = body
        template = _TEMPLATE.search(text) is not None
        if template:
            text = _TEMPLATE.sub("example.org", re.sub(r":" + _TEMPLATE.pattern, ":443", text))
        text = re.sub(r"\{\$?[A-Za-z_][\w.\-]*(?::[^{}]*)?\}", "example.org", text)
        text = re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", "example.org", text)
        try:
            doc = json.loads(text)
        except ValueError as e:
            # Only template logic (`{{ }}`, `{% %}`) can hide the JSON; a placeholder stands for a
            # value, so a document still broken with them filled in is broken.
            if not (template and re.search(r"\{\{|\{%", body)):
                yield site, route, span, None, str(e)
            continue
        yield site, route, span, doc, None


# `<your-domain>`, `<server_name>`: a docs placeholder has a `-` or `_` (an HTML tag has none).
_TEMPLATE = re.compile(r"(?:\{\{.*?\}\}|\{%.*?%\}|__[A-Z][A-Z0-9_]*__|<[a-z][a-z0-9.]*[-_][a-z0-9_.-]*>"
                       r"|@[A-Z][A-Z0-9_]*@)")


def _body(config, route, path):
    action = route.action
    if action.kind == "respond":
        if action.body is None or action.status != 200:
            return None, None
        return action.body, action.span
    if action.root is None or "$" in action.root:
        return None, None
    rel = path[len(route.match.pattern):] if action.alias and route.match.kind == "prefix" else path
    target = _find_file(config, action.root.rstrip("/") + "/" + rel.lstrip("/"))
    if target is None:
        return None, None
    from linter.inputs import Budget, read_config
    from linter.syntax import ConfigError

    try:
        # The document a site serves publicly; read like a config file (regular files only, bounded).
        return read_config(target, Budget()), action.span
    except ConfigError:
        return None, None


PATH_MAX = 4096     # Linux: a longer path names no file


def _find_file(config, path: str) -> Optional[str]:
    """The file behind `path`: in the copied tree first (--prefix or the config's directory, as
    for includes), then on this machine."""
    if len(path) >= PATH_MAX:
        return None     # and its suffixes below would cost a path join and a stat each
    bases = [b for b in (config.options.get("prefix"), os.path.dirname(config.tree.root)) if b]
    if not os.path.isabs(path):
        # nginx resolves a relative root/alias against its prefix; offline, the config's own dir.
        for base in bases:
            if os.path.isfile(os.path.join(base, path)):
                return os.path.join(base, path)
    parts = path.strip("/").split("/")
    for base in bases:
        for i in range(len(parts)):
            candidate = os.path.join(base, *parts[i:])
            if os.path.isfile(candidate):
                return candidate
    if os.path.isabs(path) and os.path.isfile(path):
        return path
    return None


@rule("MPL301", "wellknown-invalid-json", "error")
def wellknown_invalid_json(config):
    """## What it does
    Flags a `/.well-known/matrix/server` or `/client` document served by the proxy that is
    not a valid JSON object.

    ## Why is this bad?
    Servers and clients parse the body as JSON. A stray quote, a trailing comma or single
    quotes make delegation fail. Remote servers then fall back to `server_name:8448` and cache
    the error for up to an hour. Clients show "homeserver not found".

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        location = /.well-known/matrix/server {
            default_type application/json;
            return 200 "{'m.server': 'matrix.example.org:443'}";
        }
    }
    ```

    ## Use instead
    ```nginx
    server {
        listen 443 ssl;
        location = /.well-known/matrix/server {
            default_type application/json;
            return 200 '{"m.server": "matrix.example.org:443"}';
        }
    }
    ```
    """
    for path in (WELL_KNOWN_SERVER, WELL_KNOWN_CLIENT):
        for site, route, span, doc, error in _documents(config, path):
            if error is not None and route.facts.get("apache_error_page"):
                yield Finding(f"{path} is answered with Apache's HTML error page for status "
                              f"{route.action.status}, not a JSON document: mod_rewrite's `[R={route.action.status}]` "
                              f"sends an error document; serve a file (`Alias`) or set `ErrorDocument "
                              f"{route.action.status}` to the JSON", span)
            elif error is not None:
                yield Finding(f"{path} is not valid JSON: {error}", span)
            elif not isinstance(doc, dict):
                yield Finding(f"{path} must be a JSON object, not {type(doc).__name__}", span)


def server_name_problem(value) -> Optional[str]:
    """Why `value` is not a valid `m.server` (hostname, IPv4 or [IPv6], optional :port)."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if "://" in value:
        return "must not have a scheme"
    if "/" in value:
        return "must not have a path"
    host, port = value, None
    m = re.match(r"^(\[[^\]]*\])(?::(.*))?$", value)
    if m:
        host, port = m.group(1), m.group(2)
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return "has an invalid IPv6 literal"
    else:
        if value.count(":") > 1:
            return "IPv6 literals must be in brackets"
        host, _, port = value.partition(":")
        port = port if ":" in value else None
        if not _HOSTNAME.match(host):
            return f"has an invalid host name `{host}`"
    if port is not None and not (port.isdigit() and 0 < int(port) <= 65535):
        return f"has an invalid port `{port}`"
    return None


@rule("MPL302", "wellknown-server-invalid", "error")
def wellknown_server_invalid(config):
    """## What it does
    Flags a `/.well-known/matrix/server` document whose `m.server` is missing or not
    `hostname[:port]` (no scheme, no path, port 1-65535, IPv6 in brackets).

    ## Why is this bad?
    Remote homeservers ignore an invalid delegation and try `server_name:8448` instead. They
    cache that failure, so federation with the server silently stops.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        location = /.well-known/matrix/server {
            default_type application/json;
            return 200 '{"m.server": "https://matrix.example.org"}';
        }
    }
    ```

    ## Use instead
    ```nginx
    server {
        listen 443 ssl;
        location = /.well-known/matrix/server {
            default_type application/json;
            return 200 '{"m.server": "matrix.example.org:443"}';
        }
    }
    ```
    """
    for site, route, span, doc, error in _documents(config, WELL_KNOWN_SERVER):
        if not isinstance(doc, dict):
            continue
        if "m.server" not in doc:
            yield Finding("/.well-known/matrix/server has no `m.server`", span)
            continue
        problem = server_name_problem(doc["m.server"])
        if problem:
            yield Finding(f"`m.server` {doc['m.server']!r} {problem}: remote servers ignore this delegation",
                          span)


@rule("MPL303", "wellknown-client-invalid", "error")
def wellknown_client_invalid(config):
    """## What it does
    Flags a `/.well-known/matrix/client` document without `m.homeserver.base_url`, or whose
    base URL is not an `https://` URL of the homeserver's root.

    ## Why is this bad?
    Clients stop discovery with "Invalid base_url for m.homeserver" when it is missing or not
    a URL. An `http://` URL is blocked as mixed content by web clients. A base URL that
    already ends in `/_matrix` makes clients request `/_matrix/_matrix/client/versions`.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        location = /.well-known/matrix/client {
            default_type application/json;
            add_header Access-Control-Allow-Origin * always;
            return 200 '{"m.homeserver": {"base_url": "http://matrix.example.org/_matrix"}}';
        }
    }
    ```

    ## Use instead
    ```nginx
    server {
        listen 443 ssl;
        location = /.well-known/matrix/client {
            default_type application/json;
            add_header Access-Control-Allow-Origin * always;
            return 200 '{"m.homeserver": {"base_url": "https://matrix.example.org"}}';
        }
    }
    ```
    """
    for site, route, span, doc, error in _documents(config, WELL_KNOWN_CLIENT):
        if not isinstance(doc, dict):
            continue
        hs = doc.get("m.homeserver")
        base = hs.get("base_url") if isinstance(hs, dict) else None
        if not isinstance(base, str) or not base:
            yield Finding("/.well-known/matrix/client has no `m.homeserver.base_url`", span)
            continue
        try:
            url = urlsplit(base)
            url.port    # raises for a bad port or an unbalanced IPv6 bracket, as clients would refuse it
        except ValueError as why:
            yield Finding(f"`m.homeserver.base_url` {base!r} is not a valid URL ({why}): clients cannot use it", span)
            continue
        if url.scheme != "https" or not url.netloc:
            yield Finding(f"`m.homeserver.base_url` {base!r} must be an https:// URL "
                          f"(web clients block plain http)", span)
        elif "/_matrix" in url.path:
            yield Finding(f"`m.homeserver.base_url` {base!r} must not contain `/_matrix`: clients add it "
                          f"themselves", span)


_DEFAULT_TYPE_HINT = {
    "nginx": "the http block's default_type, text/plain unless set; add `default_type application/json` here",
    "apache": "extensionless files get none; add `ForceType application/json` or `Header set Content-Type`",
    "caddy": "add `header Content-Type application/json`",
    "haproxy": "add `content-type application/json` to the return",
}


_SECOND_TYPE_HINT = {
    "nginx": "use default_type instead of adding a second one",
    "apache": "set it once, with `ForceType` or `Header set Content-Type` (which replaces it)",
    "caddy": "set it once with `header Content-Type` (which replaces it)",
    "haproxy": "set it once (`http-response set-header`, or the return's `content-type`)",
}


def _unreached(route, name: str) -> str:
    """Why a header written for the route is not on its own answer (Apache's onsuccess table)."""
    if route.action.kind != "respond" or "apache_locations" not in route.facts:
        return ""
    for op in route.headers:
        if op.key == name.lower() and op.on_proxied and not op.on_generated and op.span is not None:
            return (f" (`{op.source or op.name}` at line {op.span.line} does not reach answers Apache makes "
                    f"itself; only `Header always` does)")
    return ""


def _ok_outcome(route, path):
    request = Request("GET", "https", "localhost", 443, path)
    return outcomes(route, request)[0]


@rule("MPL304", "wellknown-content-type", "warning")
def wellknown_content_type(config):
    """## What it does
    Flags a well-known document that the proxy serves without exactly one
    `Content-Type: application/json`.

    ## Why is this bad?
    Extensionless files go out as `application/octet-stream` or `text/plain`, which is
    nginx's default for `return`. Element X and other strict clients then fail discovery
    (`MISSING_MATRIX_RTC_FOCUS`), and browsers download the file instead of parsing it. An
    `add_header Content-Type` on top of `default_type` sends two Content-Type headers.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        location = /.well-known/matrix/server {
            return 200 '{"m.server": "matrix.example.org:443"}';
        }
    }
    ```

    ## Use instead
    ```nginx
    server {
        listen 443 ssl;
        location = /.well-known/matrix/server {
            default_type application/json;
            return 200 '{"m.server": "matrix.example.org:443"}';
        }
    }
    ```
    """
    for path in (WELL_KNOWN_SERVER, WELL_KNOWN_CLIENT):
        seen = set()
        for site in config.sites:
            route = wellknown_route(site, path)
            if route is None or route.fallback or route.action.kind not in ("respond", "static"):
                continue
            if route.action.kind == "respond" and route.action.status != 200:
                continue
            span = route.action.span or route.span
            if span in seen:
                continue
            seen.add(span)
            values = _ok_outcome(route, path).values("Content-Type")
            types = [v.split(";")[0].strip().lower() for v in values]
            if types == ["application/json"]:
                continue
            if not values and route.action.content_type is None and route.action.kind in ("respond", "static"):
                yield Finding(f"{path} gets a default content type this file does not set "
                              f"({_DEFAULT_TYPE_HINT.get(config.server, 'set application/json explicitly')})",
                              span, severity="info", unless=route.unknowns)
            elif len(values) > 1:
                yield Finding(f"{path} is sent with {len(values)} Content-Type headers ({', '.join(values)}): "
                              f"{_SECOND_TYPE_HINT.get(config.server, 'set it once')}", span)
            else:
                yield Finding(f"{path} is sent as `{values[0] if values else 'no content type'}`, "
                              f"not application/json" + _unreached(route, "Content-Type"), span)


@rule("MPL305", "wellknown-client-cors", "error")
def wellknown_client_cors(config):
    """## What it does
    Flags a `/.well-known/matrix/client` answered by the proxy without exactly one
    `Access-Control-Allow-Origin: *`.

    ## Why is this bad?
    Web clients (Element Web, Cinny, Hydrogen) fetch the client well-known cross-origin during
    login. Without the header the browser blocks it and the user cannot sign in with just
    their Matrix ID. A specific origin works for only one client.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        location = /.well-known/matrix/client {
            default_type application/json;
            return 200 '{"m.homeserver": {"base_url": "https://matrix.example.org"}}';
        }
    }
    ```

    ## Use instead
    ```nginx
    server {
        listen 443 ssl;
        location = /.well-known/matrix/client {
            default_type application/json;
            add_header Access-Control-Allow-Origin * always;
            return 200 '{"m.homeserver": {"base_url": "https://matrix.example.org"}}';
        }
    }
    ```
    """
    seen = set()
    for site in config.sites:
        route = wellknown_route(site, WELL_KNOWN_CLIENT)
        if route is None or route.fallback or route.action.kind not in ("respond", "static"):
            continue
        span = route.action.span or route.span
        if span in seen:
            continue
        seen.add(span)
        values = _ok_outcome(route, WELL_KNOWN_CLIENT).values("Access-Control-Allow-Origin")
        if values == ["*"]:
            continue
        if not values:
            yield Finding("/.well-known/matrix/client is served without Access-Control-Allow-Origin: web "
                          "clients cannot discover the homeserver" + _unreached(route, "Access-Control-Allow-Origin"),
                          span, unless=route.unknowns)
        else:
            yield Finding(f"/.well-known/matrix/client is served with Access-Control-Allow-Origin "
                          f"{', '.join(values)}: it must be exactly `*`", span)
