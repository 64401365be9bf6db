"""HAProxy-only rules: what HAProxy 2.x does differently from the other servers.

They read the shared model (built by linter/haproxy/build.py) and the facts it keeps for HAProxy.
The behaviour they rely on was checked against HAProxy 2.6 (Debian 12), see
tests/real/test_rules_haproxy.py. Rewrites of the request URI are reported by MPL201
(uri-canonicalised) and `Access-Control-Allow-Origin` appended beside the homeserver's own by
MPL106 (cors-duplicate-origin); both read the model, so they need no HAProxy twin here.
"""
from __future__ import annotations

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


@rule("MPL803", "haproxy-forwarded-for-appended", "warning", servers=["haproxy"])
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


# Keywords HAProxy 2.x refuses at startup, with what replaces them (messages of HAProxy 2.6).
REMOVED = {
    "reqadd": ("2.1", "http-request add-header"), "reqrep": ("2.1", "http-request replace-path / replace-header"),
    "reqirep": ("2.1", "http-request replace-header"), "reqdel": ("2.1", "http-request del-header"),
    "reqidel": ("2.1", "http-request del-header"), "reqdeny": ("2.1", "http-request deny"),
    "reqideny": ("2.1", "http-request deny"), "reqallow": ("2.1", "http-request allow"),
    "reqiallow": ("2.1", "http-request allow"), "reqpass": ("2.1", None), "reqipass": ("2.1", None),
    "reqtarpit": ("2.1", "http-request tarpit"), "reqitarpit": ("2.1", "http-request tarpit"),
    "reqsetbe": ("2.1", "use_backend"), "reqisetbe": ("2.1", "use_backend"),
    "rspadd": ("2.1", "http-response add-header"), "rsprep": ("2.1", "http-response replace-header"),
    "rspirep": ("2.1", "http-response replace-header"), "rspdel": ("2.1", "http-response del-header"),
    "rspidel": ("2.1", "http-response del-header"), "rspdeny": ("2.1", "http-response deny"),
    "rspideny": ("2.1", "http-response deny"), "block": ("2.1", "http-request deny"),
    "clitimeout": ("2.1", "timeout client"), "srvtimeout": ("2.1", "timeout server"),
    "contimeout": ("2.1", "timeout connect"), "redispatch": ("2.1", "option redispatch"),
    "monitor-net": (None, "http-request return status 200 if { src <network> }"),
    "nbproc": ("2.5", "threads (nbthread), used automatically"),
}
REMOVED_OPTIONS = {"forceclose": ("2.0", "option httpclose"), "http-tunnel": ("2.1", None),
                   "http_proxy": ("2.5", None)}


@rule("MPL805", "haproxy-removed-keyword", "error", servers=["haproxy"])
def removed_keyword(config):
    """## What it does
    Flags keywords that HAProxy 2.x no longer accepts: `reqadd`, `reqrep`, `reqirep`, `reqdel`,
    `rspadd`, `rsprep`, `rspdel` and the rest of the `req*`/`rsp*` family, `block`,
    `clitimeout`/`srvtimeout`/`contimeout`, `redispatch`, `monitor-net`, `nbproc`, and
    `option forceclose|http-tunnel|http_proxy`.

    ## Why is this bad?
    HAProxy 2.1 and later refuse to start with them ("not supported anymore since HAProxy
    2.1"), so a reload after an upgrade fails and the proxy stays down. Older Matrix guides
    still show them, for example `reqadd X-Forwarded-Proto:\\ https` or `rspadd` for CORS on
    the well-known files. The linter does not model what they did. This rule assumes
    HAProxy 2.6 (Debian 12) and flags what that version rejects.

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
    for d in walk(config.tree.directives):
        if d.extra.get("section"):
            continue
        found = REMOVED.get(d.key)
        name = d.name
        if d.key == "option" and d.args:
            found = REMOVED_OPTIONS.get(d.args[0].lower())
            name = f"option {d.args[0]}"
        if found is None:
            continue
        version, instead = found
        fix = f"; use `{instead}` instead" if instead else "; remove it"
        since = f"since HAProxy {version}" if version else "by HAProxy 2.6"
        yield Finding(f"`{name}` is not supported {since}: HAProxy refuses to start{fix}", d.span)


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
