"""HAProxy-only rules: what HAProxy 2.x does differently from the other servers.

They read the shared model (built by linter/haproxy/build.py) and the facts it keeps for HAProxy.
The behaviour they rely on was checked against HAProxy 2.6 (Debian 12), see
tests/real/test_rules_haproxy.py. Rewrites of the request URI are reported by MPL201
(uri-canonicalised) and `Access-Control-Allow-Origin` appended beside the homeserver's own by
MPL106 (cors-duplicate-origin); both read the model, so they need no HAProxy twin here.
"""
from __future__ import annotations

from typing import Optional

from linter.matrix import ACAO, is_cors, site_serves_matrix
from linter.predict import outcomes, upstream_is_homeserver
from linter.rule import Finding, rule
from linter.select import Request, select_route
from linter.syntax import walk

SYNC_PROBE = ("GET", "/_matrix/client/v3/sync")
LONG_POLL_MS = 30_000          # clients ask /sync to wait 30 s for new events (matrix-js-sdk pollTimeout)
COMFORTABLE_MS = 60_000
_DUPLICATE_BREAKS = (ACAO, "access-control-allow-credentials")


def _line(span) -> str:
    return f"line {span.line}" if span is not None else "?"


@rule("MPL801", "haproxy-cors-on-generated-response", "error", servers=["haproxy"], supersedes={"MPL101": "line"})
def cors_on_generated_response(config):
    """## What it does
    Flags an `Access-Control-*` header set with `http-response` on a route whose response
    HAProxy makes itself (`http-request return`, `http-request redirect`, `deny`, `auth`).

    ## Why is this bad?
    `http-response` rules run only on responses that come from a server. HAProxy never applies
    them to its own responses, so the header is never sent on that route. An inline
    `/.well-known/matrix/client` or a preflight answered with `http-request return` then has
    no CORS headers, and web clients cannot discover the homeserver or call it. Only
    `http-after-response` rules (HAProxy 2.2+) reach HAProxy's own responses. Response rules
    cannot test the request's path either (HAProxy warns that such an ACL "will never match"),
    so put the answer in a backend of its own, as the Synapse documentation does. This is an
    error because the header is certainly missing, not just on some statuses.

    ## Example
    ```haproxy
    frontend https
        bind :443 ssl crt /etc/haproxy/certs/
        use_backend wellknown if { path /.well-known/matrix/client }

    backend wellknown
        http-response set-header Access-Control-Allow-Origin "*"
        http-request return status 200 content-type application/json string '{"m.homeserver": {"base_url": "https://matrix.example.org"}}'
    ```

    ## Use instead
    ```haproxy
    frontend https
        bind :443 ssl crt /etc/haproxy/certs/
        use_backend wellknown if { path /.well-known/matrix/client }

    backend wellknown
        http-after-response set-header Access-Control-Allow-Origin "*"
        http-request return status 200 content-type application/json string '{"m.homeserver": {"base_url": "https://matrix.example.org"}}'
    ```
    """
    seen = set()
    for site in config.sites:
        for route in site.routes:
            if route.action.kind not in ("respond", "redirect") or route.action.status is None:
                continue
            for op in route.headers:
                if op.on_generated or not is_cors(op.name) or op.mode == "remove" or op.span in seen:
                    continue
                seen.add(op.span)
                verb = "`http-request return`" if route.action.kind == "respond" else "the redirect"
                yield Finding(f"`{op.name}` is set by an http-response rule, which HAProxy never applies to "
                              f"responses it makes itself: {verb} at {_line(route.action.span)} goes out "
                              f"without it; use `http-after-response`", op.span)


@rule("MPL802", "haproxy-cors-header-added-twice", "error", servers=["haproxy"])
def cors_header_added_twice(config):
    """## What it does
    Flags an `add-header` that makes HAProxy send `Access-Control-Allow-Origin` (or
    `-Allow-Credentials`) a second time on top of a value HAProxy already put there: the `hdr`
    of an `http-request return`, a `set-header`, or another `add-header` in the frontend or the
    backend.

    ## Why is this bad?
    `add-header` appends a header line and never replaces one. Browsers reject a response with
    two `Access-Control-Allow-Origin` values (`*, *`), so web clients fail on that route. This
    usually happens when the same header is added both in the backend and in the frontend, or
    by both `http-response` and `http-after-response`. (Appending beside the homeserver's own
    value is MPL106.) Use `set-header`, which replaces.

    ## Example
    ```haproxy
    frontend https
        bind :443 ssl crt /etc/haproxy/certs/
        acl wk_client path /.well-known/matrix/client
        http-after-response add-header Access-Control-Allow-Origin "*"
        use_backend wellknown if wk_client

    backend wellknown
        http-after-response add-header Access-Control-Allow-Origin "*"
        http-request return status 200 content-type application/json string '{"m.homeserver": {"base_url": "https://matrix.example.org"}}'
    ```

    ## Use instead
    ```haproxy
    frontend https
        bind :443 ssl crt /etc/haproxy/certs/
        acl wk_client path /.well-known/matrix/client
        use_backend wellknown if wk_client

    backend wellknown
        http-after-response set-header Access-Control-Allow-Origin "*"
        http-request return status 200 content-type application/json string '{"m.homeserver": {"base_url": "https://matrix.example.org"}}'
    ```
    """
    seen = set()
    for site in config.sites:
        for route in site.routes:
            path = route.match.pattern if route.match.kind in ("exact", "prefix") else "/_matrix/client/versions"
            request = Request("GET", "https", site.names[0] if site.names else "localhost", 443, path or "/",
                              [("Origin", "https://app.element.io")])
            for out in outcomes(route, request):
                for name in _DUPLICATE_BREAKS:
                    own = [h for h in out.headers if h.name.lower() == name and not h.from_upstream]
                    if len(own) < 2 or own[-1].span is None or own[-1].span in seen:
                        continue
                    seen.add(own[-1].span)
                    first = own[0].span
                    yield Finding(f"this add-header sends `{own[-1].name}` a second time on top of the value set "
                                  f"at {_line(first)} ({out.when} response, status {out.status}): browsers reject "
                                  f"two values; use set-header, or set it in one place", own[-1].span)


def _proxied_matrix_routes(config):
    seen = set()
    for site in config.sites:
        for route in site.routes:
            if upstream_is_homeserver(route) and route.serves_matrix() and id(route) not in seen:
                seen.add(id(route))
                yield site, route


@rule("MPL803", "haproxy-forwarded-for-appended", "warning", servers=["haproxy"], supersedes={"MPL406": "line"})
def forwarded_for_appended(config):
    """## What it does
    Flags `option forwardfor` (or `http-request add-header X-Forwarded-For`) on Matrix traffic
    when the `X-Forwarded-For` header the client sent is not removed first.

    ## Why is this bad?
    `option forwardfor` appends the client's address after any `X-Forwarded-For` already in the
    request (`if-none` keeps the client's header as it is). Synapse takes the left-most value
    as the client's IP, which is the one the client wrote. Anyone can then pick their IP and
    get around login and registration rate limits and IP-based checks. Device "last seen" and
    audit logs also show a forged address. Replace the header instead. It is a warning, not an
    error: federation and clients keep working, but the client IP cannot be trusted.

    ## Example
    ```haproxy
    frontend https
        bind :443 ssl crt /etc/haproxy/certs/
        option forwardfor
        http-request set-header X-Forwarded-Proto https
        use_backend synapse if { path_beg /_matrix }

    backend synapse
        server synapse 127.0.0.1:8008
    ```

    ## Use instead
    ```haproxy
    frontend https
        bind :443 ssl crt /etc/haproxy/certs/
        http-request set-header X-Forwarded-For %[src]
        http-request set-header X-Forwarded-Proto https
        use_backend synapse if { path_beg /_matrix }

    backend synapse
        server synapse 127.0.0.1:8008
    ```
    """
    seen = set()
    for site, route in _proxied_matrix_routes(config):
        d = route.facts.get("xff_appended_after_client")
        if d is None or d.span in seen:
            continue
        seen.add(d.span)
        if d.key == "option":
            how = ("`option forwardfor if-none` passes on the client's own X-Forwarded-For whenever it sent one"
                   if "if-none" in d.args else
                   "`option forwardfor` appends the client address after the X-Forwarded-For the client sent")
        elif (d.args[:1] or [""])[0].lower() == "set-header":
            how = "`http-request set-header X-Forwarded-For` copies the X-Forwarded-For the client sent"
        else:
            how = "`http-request add-header X-Forwarded-For` appends after the X-Forwarded-For the client sent"
        yield Finding(f"{how}: Synapse trusts the left-most value, so clients can spoof their IP; use "
                      f"`http-request set-header X-Forwarded-For %[src]` (or del-header before it)", d.span,
                      unless=route.unknowns)


@rule("MPL804", "haproxy-timeout-server-too-short", "warning", servers=["haproxy"])
def timeout_server_too_short(config):
    """## What it does
    Flags a `timeout server` below 60 seconds on the backend that serves Matrix `/sync`.

    ## Why is this bad?
    Clients ask `/sync` to wait up to 30 seconds for new events, and the homeserver holds the
    request that long before it answers. HAProxy answers 504 when the server stays silent
    longer than `timeout server`. Element then shows "connection lost" and syncs again, or
    loses its place. Initial syncs and room joins take longer still. Below 35 seconds the
    long poll itself is cut (a warning); between 35 and 60 seconds there is little margin
    (info). `timeout client` does not cut a request that is waiting for the server's answer
    (checked with HAProxy 2.6), so it is not flagged.

    ## Example
    ```haproxy
    defaults
        mode http
        timeout connect 5s
        timeout client 30s
        timeout server 30s

    frontend https
        bind :443 ssl crt /etc/haproxy/certs/
        http-request set-header X-Forwarded-For %[src]
        use_backend synapse if { path_beg /_matrix }

    backend synapse
        server synapse 127.0.0.1:8008
    ```

    ## Use instead
    ```haproxy
    defaults
        mode http
        timeout connect 5s
        timeout client 30s
        timeout server 30s

    frontend https
        bind :443 ssl crt /etc/haproxy/certs/
        http-request set-header X-Forwarded-For %[src]
        use_backend synapse if { path_beg /_matrix }

    backend synapse
        timeout server 180s
        server synapse 127.0.0.1:8008
    ```
    """
    seen = set()
    method, path = SYNC_PROBE
    for site in config.sites:
        if not site_serves_matrix(site):
            continue
        route, _ = select_route(site, method, path)
        if route is None or route.action.kind != "proxy":
            continue
        setting = route.facts.get("timeout_server")
        if setting is None or setting.directive is None or setting.value >= COMFORTABLE_MS:
            continue
        d = setting.directive
        if d.span in seen:
            continue
        seen.add(d.span)
        seconds = f"{setting.value / 1000:g} s"
        if setting.value <= LONG_POLL_MS + 5_000:
            yield Finding(f"`timeout server {d.args[1]}` ({seconds}) cuts /sync long-polls, which wait 30 s for "
                          f"events: clients get 504 and lose the connection; use 60s or more", d.span)
        else:
            yield Finding(f"`timeout server {d.args[1]}` ({seconds}) leaves little room beyond the 30 s /sync "
                          f"long-poll for slow initial syncs and joins; 60s or more is safer", d.span,
                          severity="info")


DEFAULT_VERSION = (2, 6)         # Debian 12's HAProxy: what the rules assume without --haproxy-version


def target_version(config) -> tuple:
    """The HAProxy version the configuration is for: `--haproxy-version` as (major, minor), else 2.6."""
    version = config.options.get("haproxy_version")
    return tuple(version)[:2] if version else DEFAULT_VERSION


def _v(version: tuple) -> str:
    return ".".join(str(n) for n in version)


# Keywords HAProxy refuses at startup: keyword -> (first version that refuses it, what replaces it).
# From HAProxy's own parser and CHANGELOG (src/cfgparse-listen.c, cfgparse-global.c, proxy.c):
# the req*/rsp* family, `block`, `cliexp`/`srvexp`, the old timeouts and `redispatch` were
# removed in 2.1; `monitor-net`, `mode health` and global `debug` in 2.3; `grace`, `nbproc`,
# `tune.chksize` and the options below in 2.5 (`option http-use-htx` was ignored in 2.1-2.4 and
# is an unknown option since 2.5; `forceclose`/`http-tunnel` only warned before 2.5); `bind-process`
# and `bind ... process` in 2.7; `dispatch`, `transparent`, `option transparent` and a bare global
# `master-worker` in 3.5. Checked with HAProxy 2.6 (tests/real/test_rules_haproxy.py).
_HEADER_RULES = {
    "add": "http-request add-header", "rep": "http-request replace-path / replace-header",
    "del": "http-request del-header", "deny": "http-request deny", "allow": "http-request allow",
    "pass": None, "tarpit": "http-request tarpit",
}
_RESPONSE_RULES = {"add": "http-response add-header", "rep": "http-response replace-header",
                   "del": "http-response del-header", "deny": "http-response deny"}
REMOVED = {
    **{f"req{i}{verb}": ((2, 1), instead) for verb, instead in _HEADER_RULES.items() for i in ("", "i")
       if f"{i}{verb}" != "iadd"},
    **{f"rsp{i}{verb}": ((2, 1), instead) for verb, instead in _RESPONSE_RULES.items() for i in ("", "i")
       if f"{i}{verb}" != "iadd"},
    "reqsetbe": ((1, 6), "use_backend"), "reqisetbe": ((1, 6), "use_backend"),
    "appsession": ((1, 6), "cookie-based persistence (`cookie`)"),
    "block": ((2, 1), "http-request deny"),
    "cliexp": ((2, 1), "http-request replace-path / replace-uri"),
    "srvexp": ((2, 1), "http-response replace-header"),
    "clitimeout": ((2, 1), "timeout client"), "srvtimeout": ((2, 1), "timeout server"),
    "contimeout": ((2, 1), "timeout connect"), "redispatch": ((2, 1), "option redispatch"),
    "monitor-net": ((2, 3), "http-request return status 200 if { src <network> }"),
    "grace": ((2, 5), None),
    "bind-process": ((2, 7), None),
    "dispatch": ((3, 5), "a server with that address"),
    "transparent": ((3, 5), "a server with address 0.0.0.0"),
}
REMOVED_GLOBAL = {
    "nbproc": ((2, 5), "threads (nbthread), used automatically"),
    "debug": ((2, 3), "the `-d` command-line option"),
    "tune.chksize": ((2, 5), None),
}
REMOVED_OPTIONS = {
    "forceclose": ((2, 5), "option httpclose"), "http-tunnel": ((2, 5), None),
    "http_proxy": ((2, 5), "http-request set-dst / set-uri"), "http-use-htx": ((2, 5), None),
    "transparent": ((3, 5), "a server with address 0.0.0.0"),
}


def removed_keyword_of(d, section: str) -> Optional[tuple]:
    """(name as shown, first version refusing it, replacement or None) for a line HAProxy refuses
    in some version, else None. `section` is the kind of section the line is in."""
    key, args = d.key, d.args
    if section == "global":
        if key in REMOVED_GLOBAL:
            return (d.name,) + REMOVED_GLOBAL[key]
        if key == "master-worker" and not args:
            return ("master-worker", (3, 5), "the `-W` or `-Ws` command-line option")
        if key == "stats" and args[:1] == ["bind-process"]:
            return ("stats bind-process", (2, 7), None)
        return None
    if key == "option" and args and args[0].lower() in REMOVED_OPTIONS:
        return (f"option {args[0]}",) + REMOVED_OPTIONS[args[0].lower()]
    if key == "no" and args[:1] == ["option"] and len(args) > 1 and args[1].lower() in REMOVED_OPTIONS:
        return (f"no option {args[1]}",) + REMOVED_OPTIONS[args[1].lower()]
    if key == "mode" and args[:1] == ["health"]:
        return ("mode health", (2, 3), "http-request return status 200")
    if key == "bind" and "process" in args[1:]:
        return ("process on a bind line", (2, 7), "thread")
    if key in REMOVED:
        return (d.name,) + REMOVED[key]
    return None


@rule("MPL805", "haproxy-removed-keyword", "error", servers=["haproxy"])
def removed_keyword(config):
    """## What it does
    Flags keywords that the target HAProxy version no longer accepts: `reqadd`, `reqrep`,
    `rspadd` and the rest of the `req*`/`rsp*` family, `block`, `clitimeout`/`srvtimeout`/
    `contimeout` and `redispatch` (removed in 2.1); `monitor-net`, `mode health` and global
    `debug` (2.3); `grace`, `nbproc`, `tune.chksize` and `option forceclose|http-tunnel|
    http_proxy|http-use-htx` (2.5); `bind-process` and `process` on `bind` lines (2.7);
    `dispatch`, `transparent` and a bare `master-worker` (3.5).

    ## Why is this bad?
    HAProxy refuses to start with them ("not supported anymore since HAProxy 2.1", "unknown
    option 'http-use-htx'"), so a reload after an upgrade fails and the proxy stays down. Older
    Matrix guides still show them, for example `reqadd X-Forwarded-Proto:\\ https` or `rspadd`
    for CORS on the well-known files. The linter does not model what they did. The rule checks
    against HAProxy 2.6 (Debian 12) unless `--haproxy-version` names another version, and
    flags only what that version refuses.

    ## Example
    ```haproxy
    frontend https
        bind :443 ssl crt /etc/haproxy/certs/
        reqadd X-Forwarded-Proto:\\ https
        default_backend synapse

    backend synapse
        server synapse 127.0.0.1:8008
    ```

    ## Use instead
    ```haproxy
    frontend https
        bind :443 ssl crt /etc/haproxy/certs/
        http-request set-header X-Forwarded-Proto https
        default_backend synapse

    backend synapse
        server synapse 127.0.0.1:8008
    ```
    """
    target = target_version(config)
    for section in config.tree.directives:
        if not section.extra.get("section"):
            continue
        for d in walk(section.block or []):
            found = removed_keyword_of(d, section.key)
            if found is None:
                continue
            name, since, instead = found
            if target < since:
                continue
            fix = f"; use `{instead}` instead" if instead else "; remove it"
            yield Finding(f"`{name}` was removed in HAProxy {_v(since)}: HAProxy {_v(target)} refuses to "
                          f"start{fix}", d.span)


@rule("MPL807", "haproxy-tcp-mode-matrix", "warning", servers=["haproxy"],
      supersedes={"MPL401": "line", "MPL402": "line", "MPL406": "line"})
def tcp_mode_matrix(config):
    """## What it does
    Flags a frontend or listen section that carries Matrix traffic in TCP mode because neither it
    nor its `defaults` section says `mode http` (or that says `mode tcp` but has HTTP rules).

    ## Why is this bad?
    HAProxy's default mode is TCP. There it forwards the connection's bytes as they are and
    ignores the section's `http-request`, `http-response` and `http-after-response` rules and
    `option forwardfor` (`haproxy -c` only warns that they "require HTTP mode"). The homeserver
    then gets no `X-Forwarded-For` and no `X-Forwarded-Proto`: every client has HAProxy's
    address, so rate limits hit all users at once and IP-based checks and logs are wrong. The
    header and CORS rules written for Matrix never run, and a `use_backend` that tests the path
    or Host never matches. This is often a `defaults` section copied without `mode http`. A
    section whose `mode` could be set in a file the linter does not see is not flagged.

    ## Example
    ```haproxy
    defaults
        timeout connect 5s
        timeout client 60s
        timeout server 180s

    frontend https
        bind :443 ssl crt /etc/haproxy/certs/
        option forwardfor
        default_backend synapse

    backend synapse
        server synapse 127.0.0.1:8008
    ```

    ## Use instead
    ```haproxy
    defaults
        mode http
        timeout connect 5s
        timeout client 60s
        timeout server 180s

    frontend https
        bind :443 ssl crt /etc/haproxy/certs/
        http-request set-header X-Forwarded-For %[src]
        default_backend synapse

    backend synapse
        server synapse 127.0.0.1:8008
    ```
    """
    seen = set()
    for site in config.sites:
        if site.facts.get("mode") != "tcp" or site.span in seen:
            continue
        ignored = site.facts.get("ignored_http") or []
        if site.facts.get("mode_known") != "default" and not ignored:
            continue        # `mode tcp` on purpose (TLS passthrough): nothing HTTP was meant here
        matrix = [r for r in site.routes if _homeserver_behind(r)]
        if not matrix:
            continue
        seen.add(site.span)
        section = f"{site.span and _kind(config, site)} `{site.facts.get('frontend')}`"
        why = ("no `mode http` in it nor in its defaults, and HAProxy's default is TCP"
               if site.facts.get("mode_known") == "default" else "`mode tcp`")
        lines = f"; the {len(ignored)} HTTP line(s) here are ignored" if ignored else ""
        unknowns = [u for r in matrix for u in r.unknowns]
        yield Finding(f"{section} forwards Matrix traffic in TCP mode ({why}): the homeserver gets no "
                      f"X-Forwarded-For or X-Forwarded-Proto, so every client has HAProxy's address{lines}; "
                      f"add `mode http`", site.span, unless=unknowns)


def _homeserver_behind(route) -> bool:
    """The TCP route's backend is a homeserver by evidence of its own. "Port 8080 and Matrix
    requests reach it" is no evidence here: in TCP mode every request reaches the backend."""
    from linter.matrix import homeserver

    found = homeserver(route)
    return found.yes and any(not e.startswith("port 8080") for e in found.evidence)


def _kind(config, site) -> str:
    for d in config.tree.directives:
        if d.span == site.span:
            return d.key
    return "frontend"


# Directives HAProxy accepts only after `expose-experimental-directives` in the global section:
# (keyword, action) -> first version that has it. `http-request normalize-uri` came in 2.4 and is
# still experimental in 3.x (src/http_act.c: KWF_EXPERIMENTAL); HAProxy 2.6 says "'normalize-uri'
# action is experimental, must be allowed via a global 'expose-experimental-directives'".
EXPERIMENTAL = {("http-request", "normalize-uri"): (2, 4)}


@rule("MPL808", "haproxy-experimental-directive", "error", servers=["haproxy"])
def experimental_directive(config):
    """## What it does
    Flags `http-request normalize-uri` when the global section does not say
    `expose-experimental-directives` before it, or when the target HAProxy is older than 2.4,
    which does not have it.

    ## Why is this bad?
    `normalize-uri` is an experimental action in every HAProxy version that has it (2.4 to
    3.x). Without `expose-experimental-directives`, `haproxy -c` reports "'normalize-uri' action
    is experimental" and HAProxy refuses to start, so a reload takes the Matrix proxy down.
    Matrix does not need it anyway: it changes the URI the homeserver receives, which breaks
    federation request signatures (MPL201). Remove the line. The rule checks HAProxy 2.6 unless
    `--haproxy-version` names another version. When the global section is not in the files
    read, the finding depends on it.

    ## Example
    ```haproxy
    frontend https
        bind :443 ssl crt /etc/haproxy/certs/
        http-request normalize-uri path-merge-slashes
        default_backend synapse

    backend synapse
        server synapse 127.0.0.1:8008
    ```

    ## Use instead
    ```haproxy
    frontend https
        bind :443 ssl crt /etc/haproxy/certs/
        default_backend synapse

    backend synapse
        server synapse 127.0.0.1:8008
    ```
    """
    from linter.haproxy.actions import words
    from linter.model import Unknown

    target = target_version(config)
    exposed_at = None           # index of the first section whose lines follow the expose line
    has_global = False
    sections = [d for d in config.tree.directives if d.extra.get("section")]
    for index, section in enumerate(sections):
        if section.key == "global":
            has_global = True
            if exposed_at is None and any(d.key == "expose-experimental-directives" for d in section.block or []):
                exposed_at = index
    unseen = [] if has_global else (config.unknowns or [Unknown.including_context(config.tree.root)])
    for index, section in enumerate(sections):
        if section.key not in ("frontend", "backend", "listen", "defaults"):
            continue
        for d in walk(section.block or []):
            action = (words(d)[:1] or [""])[0].lower()
            since = EXPERIMENTAL.get((d.key, action))
            if since is None:
                continue
            if target < since:
                yield Finding(f"`{d.name} {action}` does not exist before HAProxy {_v(since)}: HAProxy "
                              f"{_v(target)} refuses to start; remove it", d.span)
            elif exposed_at is None or exposed_at > index:
                yield Finding(f"`{d.name} {action}` is experimental: without `expose-experimental-directives` in "
                              f"the global section before it, HAProxy {_v(target)} refuses to start; remove it "
                              f"(it also changes the URI the homeserver receives)", d.span, unless=unseen)


def _proxies(config):
    from linter.haproxy.sections import read

    fronts, backs = read(config.tree)
    return list({id(p): p for p in fronts + list(backs.values())}.values())


@rule("MPL806", "haproxy-response-rule-tests-request", "warning", servers=["haproxy"])
def response_rule_tests_request(config):
    """## What it does
    Flags an `http-response` or `http-after-response` rule whose condition tests the request's
    path, URL or headers (`path_beg /_matrix`, `hdr(host)`, `req.hdr(origin)`).

    ## Why is this bad?
    By the time response rules run, HAProxy no longer has the request line and headers. An ACL
    on them never matches there (HAProxy 2.6 only warns "acl ... will never match"). A rule
    meant to add CORS headers to the Matrix paths or the client well-known is then never
    applied (`if`), or applied to everything (`unless`). Web clients then lose the header and
    cannot discover the homeserver. Keep what the response rule needs in a variable while
    the request is processed (`http-request set-var(txn.matrix) bool(true) if { path_beg
    /_matrix }`) and test the variable, or answer from a backend of its own. The request
    method (`METH_GET`) stays available and is not flagged.

    ## Example
    ```haproxy
    frontend https
        bind :443 ssl crt /etc/haproxy/certs/
        acl wk_client path /.well-known/matrix/client
        http-after-response set-header Access-Control-Allow-Origin "*" if wk_client
        http-request return status 200 content-type application/json string '{"m.homeserver": {"base_url": "https://matrix.example.org"}}' if wk_client
    ```

    ## Use instead
    ```haproxy
    frontend https
        bind :443 ssl crt /etc/haproxy/certs/
        acl wk_client path /.well-known/matrix/client
        http-request set-var(txn.wk_client) bool(true) if wk_client
        http-after-response set-header Access-Control-Allow-Origin "*" if { var(txn.wk_client) -m bool }
        http-request return status 200 content-type application/json string '{"m.homeserver": {"base_url": "https://matrix.example.org"}}' if wk_client
    ```
    """
    from linter.haproxy.conditions import collect_variables, condition_expr, terms

    proxies = _proxies(config)
    variables = collect_variables([(d, p.acls) for p in proxies for d in p.rules("http-request")])
    for proxy in proxies:
        for d in proxy.lines("http-response", "http-after-response"):
            cond = d.extra.get("condition")
            if cond is None:
                continue
            for group in cond:
                found = None
                for term in group:
                    expr = condition_expr(_single(cond, term), proxy.acls, variables)
                    blind = [t for t in terms(expr) if t.request_only]
                    if blind:
                        found = (term, blind[0])
                        break
                if found is None:
                    continue
                term, blind = found
                effect = "never applies" if cond.keyword == "if" and not term.negated else "may always apply"
                what = f"`{blind.text}`" + (f" (ACL `{term.acl}`)" if isinstance(term.acl, str) else "")
                yield Finding(f"{what} tests the request, which HAProxy cannot see in {d.name} rules: the ACL "
                              f"never matches, so this rule {effect}; keep the answer in `http-request "
                              f"set-var(txn.x)` and test `var(txn.x)`", term.span)
                break


def _single(condition, term):
    """A one-term condition (`if <term>`) with the original's shape, to resolve one ACL alone."""
    from linter.haproxy.acl import Condition

    return Condition([[type(term)(False, term.acl, term.span)]], "if", condition.index, condition.span)
