"""Routing: routes no request reaches, and Matrix paths the proxy never hands to the homeserver.

Every rule here asks the model's own route selection (`linter.select.select_route`, the server's
policy) which route answers a probe request, and claims something only when the answer is sure:
a selection that depends on a condition the model cannot decide gives no finding.
"""
from __future__ import annotations

import re
from typing import Optional

from linter.matrix import ADMIN_PROBE, CLIENT_PROBES, FEDERATION_PROBES, UPLOAD_PROBES
from linter.model import WELL_KNOWN_CLIENT, WELL_KNOWN_SERVER, Route, Site
from linter.predict import upstream_is_homeserver
from linter.rule import Finding, rule
from linter.select import fallback_route, select_route

# Probe requests per Matrix path family (GET: what a client or server surely sends).
FAMILIES = (
    ("client", "/_matrix/client/", "/_matrix/client/versions"),
    ("media", "/_matrix/media/", "/_matrix/media/v3/download/example.org/abcdefgh"),
    ("federation", "/_matrix/federation/", "/_matrix/federation/v1/version"),
)
# The Matrix requests linter.matrix probes with, plus a media download and the well-knowns.
MATRIX_PROBES = tuple(dict.fromkeys(
    [path for _, path in CLIENT_PROBES + FEDERATION_PROBES + UPLOAD_PROBES + (ADMIN_PROBE,)]
    + [FAMILIES[1][2], WELL_KNOWN_SERVER, WELL_KNOWN_CLIENT, "/"]))
SYNAPSE_CLIENT_PROBE = "/_synapse/client/password_reset/email/submit_token"
FEDERATION_PORT = 8448


# ---------------------------------------------------------------------------------------------
# MPL901


def _where(span) -> str:
    return f"{span.path}:{span.line}" if span is not None else "(unknown position)"


def _literal_prefix(pattern: str) -> Optional[str]:
    """The literal path a regex starts with (`^/_matrix/client` -> `/_matrix/client`)."""
    m = re.match(r"\^?((?:[\w/.\-@!:~]|\\[./\-])+)", pattern)
    return m.group(1).replace("\\", "") if m else None


def _own_probes(match) -> list:
    """Paths made from a match's own pattern: requests that would reach the route if nothing took
    them first. Empty when the pattern does not say which paths it is written for (a regex that
    is not anchored, starts with a group, has alternatives, or repeats the end of its literal part)."""
    if match.kind in ("exact", "prefix") and match.pattern.startswith("/"):
        return list(dict.fromkeys([match.pattern, match.pattern.rstrip("/") + "/x", match.pattern + "x"]))
    if match.kind == "regex" and match.pattern.startswith("^") and "|" not in match.pattern:
        literal = _literal_prefix(match.pattern)
        m = re.match(r"\^?((?:[\w/.\-@!:~]|\\[./\-])+)(.?)", match.pattern)
        if literal and literal.startswith("/") and m.group(2) not in ("?", "*", "+", "{"):
            return list(dict.fromkeys([literal, literal.rstrip("/") + "/x"]))
    if match.kind == "any":
        return ["/"]
    return []


def _taken(site: Site, candidate_matches, is_candidate, own: list):
    """The route that surely takes every request the candidate would match, as far as the
    candidate's own probe paths (and the Matrix probes it matches) show; None when one reaches
    the candidate, is undecided, or the candidate's own paths do not match it."""
    own = [p for p in own if candidate_matches(p)]
    if not own:
        return None
    taker = None
    for path in dict.fromkeys(own + [p for p in MATRIX_PROBES if candidate_matches(p)]):
        route, unknowns = select_route(site, "GET", path)
        if unknowns or route is None or is_candidate(route):
            return None
        if route.phase == "server":
            return None          # nginx's server-level return: the config answers everything on purpose
        taker = taker or route
    return taker


def _describe(route: Route) -> str:
    action = route.action
    if action.kind == "respond":
        what = f"answer {action.status}" if action.status else "answer"
    elif action.kind == "proxy":
        what = f"proxy to {action.upstream}" if action.upstream else "proxy"
    elif action.kind == "redirect":
        what = f"redirect {action.status or ''}".rstrip()
    else:
        what = action.kind
    return f"`{route.match}` ({what}, {_where(route.span)})"


def _nginx_unreachable(site: Site):
    top = [r for r in site.routes if r.phase == "location" and r.condition is None and r.parent is None]
    regexes = [r for r in top if r.match.kind == "regex"]
    noregex = [r for r in top if r.match.kind == "prefix" and r.facts.get("noregex")]
    for route in top:
        # An exact location always wins; a prefix location loses only to a regex; a regex only to
        # an earlier regex or a `^~` prefix. Only candidates with such a rival are asked about.
        if route.match.kind == "prefix":
            rivals = regexes
        elif route.match.kind == "regex":
            rivals = regexes[:regexes.index(route)] + noregex
        else:
            continue
        own = _own_probes(route.match)
        if not own or not any(r.match.matches(own[0]) for r in rivals):
            continue
        group = route.group
        taker = _taken(site, route.match.matches, lambda r: r.group == group, own)
        if taker is not None:
            how = ("nginx tries regex locations in file order and the first match wins over the "
                   "longest prefix" if taker.match.kind == "regex" else "nginx picks it first")
            yield route.span, f"location `{route.match}`", taker, how


def _apache_unreachable(site: Site):
    model = site.facts.get("apache_model")
    if model is None:
        return
    handlers = {id(r.facts.get("apache_handler")) for r in site.routes}
    candidates = [p for p in list(model.proxies) + list(model.location_rules.values())
                  if not p.excludes and p.kind in ("prefix", "regex")]
    done: set = set()
    for proxy in candidates:
        if id(proxy) in handlers or id(proxy) in done:
            continue
        done.add(id(proxy))
        taker = _taken(site, proxy.matches, lambda r, p=proxy: r.facts.get("apache_handler") is p
                       or r.facts.get("apache_proxy") is p, _own_probes(proxy.match))
        if taker is not None and not _websocket_pair(taker.facts.get("apache_proxy"), proxy):
            yield (proxy.directive.span, f"`{proxy.match}`", taker,
                   "mod_proxy uses the first ProxyPass that matches, in the order written")


def _websocket_pair(first, second) -> bool:
    """`ProxyPass / ws://b/` then `ProxyPass / http://b/` (mod_proxy_wstunnel's documented
    pairing): whether the second line still serves requests depends on the httpd version and
    `ProxyWebsocketFallbackToProxyHttp`, which the model does not decide."""
    if first is None or first.pattern != second.pattern:
        return False
    return any(p.url.lower().startswith(("ws://", "wss://")) for p in (first, second))


def _caddy_answers(handler) -> bool:
    from linter.caddy.evaluate import ANSWERS

    if handler.kind == "reverse_proxy" and handler.data.get("forward_auth"):
        return False
    if handler.kind == "file_server" and handler.data.get("pass_thru"):
        return False
    return handler.kind in ANSWERS


def _caddy_handlers(routes: list):
    """Every answering handler in these routes, at any depth."""
    for r in routes:
        for h in r.handlers:
            if h.kind == "subroute":
                yield from _caddy_handlers(h.routes or [])
            elif _caddy_answers(h):
                yield h


def _caddy_unreachable(site: Site):
    """A top-level route with no matcher whose handlers answer before anything can branch: every
    request that reaches it ends there, so every answering handler after it is dead."""
    chain = site.facts.get("chain") or []
    answering = {id(r.facts.get("terminal")) for r in site.routes}
    groups_seen: set = set()
    for index, croute in enumerate(chain):
        in_seen_group = bool(croute.group) and croute.group in groups_seen
        if croute.group:
            groups_seen.add(croute.group)
        if croute.matchers or in_seen_group:
            continue
        blocker = None
        for h in croute.handlers:
            if _caddy_answers(h):
                blocker = h
                break
            if h.kind in ("subroute", "invoke", "authentication", "intercept", "reverse_proxy"):
                break                    # may answer some requests itself: not sure any more
        if blocker is None:
            continue
        owner = next((r for r in site.routes if r.facts.get("terminal") is blocker), None)
        if owner is None:
            return
        rest = croute.handlers[croute.handlers.index(blocker) + 1:]
        dead = []
        for h in rest:
            if h.kind == "subroute":
                dead += _caddy_handlers(h.routes or [])
            elif _caddy_answers(h):
                dead.append(h)
        dead += _caddy_handlers(chain[index + 1:])
        for h in dict.fromkeys(dead):
            if id(h) in answering:
                continue
            # The model's selection agrees: the request the handler's own directive names goes
            # elsewhere, with nothing undecided on the way.
            route, unknowns = select_route(site, "GET", _caddy_probe(h))
            if route is None or unknowns or route.facts.get("terminal") is h:
                continue
            # An unseen import in the global options could reorder the directives (`order`).
            yield (h.span, f"`{h.directive.name}`", owner,
                   "by Caddy's directive order it runs first and has no matcher", site.unknowns)
        return


def _caddy_probe(handler) -> str:
    for arg in handler.directive.args[:1]:
        if arg.startswith("/"):
            return arg.replace("*", "x")
    return "/_matrix/client/versions"


def _haproxy_unreachable(config):
    """Route-making lines of a frontend after an unconditional final rule (deny, return,
    redirect, ...): HAProxy runs every `http-request` rule before `use_backend`, so none of them
    is ever used. Such lines are not in the model (nothing reaches them): they come from the
    frontend's own section. A frontend split into several sites (one per host or port) counts
    only when every one of its sites ends that way."""
    from linter.haproxy import actions, sections

    by_frontend: dict = {}
    for site in config.sites:
        if site.selection == "haproxy":
            by_frontend.setdefault((site.span, site.facts.get("frontend")), []).append(site)
    blocked = [(key, sites) for key, sites in by_frontend.items() if all(_haproxy_takes_all(s) for s in sites)]
    if not blocked:
        return
    fronts = {(f.span, f.name): f for f in sections.read(config.tree)[0]}
    for key, siblings in blocked:
        fe = fronts.get(key)
        if fe is None:
            continue
        last = siblings[0].routes[-1]
        blocker = last.span
        rules = fe.rules("http-request")
        final = next((d for d in rules if d.span == blocker), None)
        if final is not None and "ignore-empty" in (w.lower() for w in actions.words(final)):
            continue            # a redirect to an empty location is skipped: not every request
        kept = {r.span for s in siblings for r in s.routes}
        lines = []
        for d in rules:
            verb = (actions.words(d) or [""])[0].lower()
            if verb in actions.FINAL_REQUEST_ACTIONS and (d.span.path, d.span.line) > (blocker.path, blocker.line):
                lines.append(d)
        lines += fe.lines("redirect") + fe.lines("use_backend") + fe.lines("default_backend")
        for d in lines:
            if d.span in kept or d.span == blocker:
                continue
            yield (d.span, f"`{d.name}`", last,
                   "HAProxy runs the `http-request` rules before `redirect` and `use_backend`, and this "
                   "one takes every request")


def _haproxy_takes_all(site: Site) -> bool:
    from linter.haproxy.conditions import evaluate
    from linter.haproxy.routing import site_context

    if not site.routes:
        return False
    last = site.routes[-1]
    return last.facts.get("haproxy_answered_by") == "frontend" and \
        evaluate(last.facts["haproxy_test"], site_context(site)) is True


# The nginx case: ../shared/research/matrix-pitfalls.md, row route.nginx-regex-shadows-prefix.
@rule("MPL901", "route-unreachable", "warning")
def route_unreachable(config):
    """## What it does
    Flags a configured route that no request can reach, because a route the server tries
    earlier takes every request it would match. Examples: a Caddy `respond 403` without a
    matcher (Caddy's directive order runs `respond` before `reverse_proxy`), an HAProxy
    `http-request deny` without a condition (HAProxy runs it before any `use_backend`), an
    Apache `ProxyPass /` written before `ProxyPass /_matrix`, and an nginx prefix location
    that a regex location matching the same paths overrides. A server-level nginx `return`
    is not flagged: answering everything there is a deliberate choice.

    ## Why is this bad?
    The proxy never sends these requests where the configuration seems to send them. When the
    dead route is the homeserver's, every Matrix request is refused or goes elsewhere: clients
    say the homeserver is unreachable and federation stops. When the dead route was meant for
    a worker or the authentication service (legacy login under MAS), the requests silently
    go to the wrong place instead.

    ## Example
    ```caddy
    matrix.example.org {
        respond 403
        reverse_proxy /_matrix/* localhost:8008
    }
    ```

    ## Use instead
    ```caddy
    matrix.example.org {
        handle /_matrix/* {
            reverse_proxy localhost:8008
        }
        handle {
            respond 403
        }
    }
    ```
    """
    seen: set = set()
    per_site = []
    for site in config.sites:
        if site.selection == "nginx":
            per_site.append(_nginx_unreachable(site))
        elif site.selection == "apache":
            per_site.append(_apache_unreachable(site))
        elif site.selection == "caddy":
            per_site.append(_caddy_unreachable(site))
    per_site.append(_haproxy_unreachable(config))
    for found in per_site:
        for span, what, taker, how, *unseen in found:
            if span is None or span in seen:
                continue
            seen.add(span)
            yield Finding(f"{what} is never used: {_describe(taker)} takes every request it would match "
                          f"first ({how})", span, unless=tuple(unseen[0]) if unseen else ())


# ---------------------------------------------------------------------------------------------
# MPL902


def _synapse_evidence(config) -> Optional[str]:
    """Why the homeserver is Synapse, from what the configuration shows; None when it does not."""
    for site in config.sites:
        for route in site.routes:
            if route.action.kind != "proxy":
                continue
            upstream = (route.action.upstream or "").lower()
            if "synapse" in upstream:
                return f"the upstream `{route.action.upstream}` ({_where(route.action.span)})"
            if route.match.kind in ("exact", "prefix") and route.match.pattern.startswith("/_synapse/") \
                    and upstream_is_homeserver(route):
                return f"`{route.match}` is proxied to the homeserver ({_where(route.span)})"
    return None


def _proxies_client_api(site: Site) -> Optional[Route]:
    route, unknowns = select_route(site, "GET", "/_matrix/client/versions")
    if route is not None and not unknowns and upstream_is_homeserver(route):
        return route
    return None


# ../shared/research/matrix-pitfalls.md, row route.synapse-client-prefix-missing (Synapse
# docs/upgrade.md v1.21 and v1.27, docs/reverse_proxy.md L13-15).
@rule("MPL902", "synapse-client-not-proxied", "warning")
def synapse_client_not_proxied(config):
    """## What it does
    Flags a Synapse deployment whose proxy hands the Matrix client API (`/_matrix/client`) to
    the homeserver on no site that also proxies `/_synapse/client`. The homeserver counts as
    Synapse when an upstream is named after it or a `/_synapse/...` path is proxied to it.

    ## Why is this bad?
    Synapse serves its browser pages under `/_synapse/client` (since v1.21): the password-reset
    link in the e-mail (`/_synapse/client/password_reset/email/submit_token`), the SSO and OIDC
    callbacks and the identity-provider picker, the terms-of-service consent page, and QR-code
    login (`/_synapse/client/rendezvous`). Without the route they answer 404: password reset,
    "Continue with SSO" and consent all break, while chat itself keeps working, so nobody
    notices until a user needs them. Synapse's upgrade notes for v1.21 ("Forwarding
    `/_synapse/client` through your reverse proxy") and its reverse-proxy guide ask for it.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        server_name matrix.example.org;
        location /_matrix {
            proxy_pass http://synapse:8008;
        }
    }
    ```

    ## Use instead
    ```nginx
    server {
        listen 443 ssl;
        server_name matrix.example.org;
        location ~ ^(/_matrix|/_synapse/client) {
            proxy_pass http://synapse:8008;
        }
    }
    ```
    """
    evidence = _synapse_evidence(config)
    if evidence is None:
        return
    client_sites = []
    for site in config.sites:
        route = _proxies_client_api(site)
        if route is None:
            continue
        target, unknowns = select_route(site, "GET", SYNAPSE_CLIENT_PROBE)
        if unknowns:
            return                           # undecided: not sure it is missing
        if target is not None and target.action.kind == "proxy":
            return                           # proxied somewhere (to Synapse, or MAS): not ours to judge
        client_sites.append((site, route, target or fallback_route(site, "GET")))
    public = [c for c in client_sites
              if not c[0].listens or any(l.port != FEDERATION_PORT for l in c[0].listens)]
    seen: set = set()
    for site, route, target in public or client_sites:
        span = route.span or route.action.span
        if span in seen:
            continue
        seen.add(span)
        yield Finding(f"the homeserver is Synapse ({evidence}) and the client API is proxied here, but "
                      f"`/_synapse/client` is not proxied by any site{_gets(target)}: password reset, "
                      f"SSO and consent pages break", span,
                      unless=tuple(site.unknowns) + tuple(route.unknowns) + tuple(config.unknowns))


def _gets(route: Optional[Route]) -> str:
    """What the request gets instead, for the message."""
    if route is None:
        return ""
    action = route.action
    where = "the server's default handling" if route.fallback else f"`{route.match}` ({_where(route.span)})"
    if action.kind == "static":
        return f" (here {where} looks for a file)"
    if action.kind == "redirect":
        return f" (here {where} redirects it)"
    status = f" {action.status}" if action.status else ""
    return f" (here {where} answers it{status})"


# ---------------------------------------------------------------------------------------------
# MPL903


def _blocks(route: Optional[Route]) -> Optional[int]:
    """The status when the proxy itself refuses the request here (403/404), else None."""
    if route is None or route.fallback:
        return None
    if route.action.kind == "respond" and route.action.status in (403, 404):
        return route.action.status
    return None


def _serves_federation(site: Site) -> bool:
    if any(l.port == FEDERATION_PORT for l in site.listens):
        return True
    route, unknowns = select_route(site, "GET", "/_matrix/key/v2/server")
    return route is not None and not unknowns and upstream_is_homeserver(route)


@rule("MPL903", "matrix-path-blocked", "warning")
def matrix_path_blocked(config):
    """## What it does
    Flags a Matrix path family that clients or servers need (`/_matrix/client/`,
    `/_matrix/media/`, and `/_matrix/federation/` on a site that serves federation) when the
    proxy itself answers it with 403 or 404, while a sibling family on the same site is proxied
    to the homeserver. A typical case is Apache's `<Location "/"> Require all denied` with only
    `/_matrix/client/` opened and proxied.

    ## Why is this bad?
    The homeserver never sees these requests. With media blocked, images, avatars and file
    uploads fail (older clients and every server fetching your media still use
    `/_matrix/media/`); with federation blocked, other servers cannot reach yours; with the
    client API blocked, no client can log in. The families proxied next to it show the
    deployment means to serve Matrix here, so the block is an oversight.

    ## Example
    ```apache
    <VirtualHost *:443>
        ServerName matrix.example.org
        AllowEncodedSlashes NoDecode
        ProxyPreserveHost On
        RequestHeader set X-Forwarded-Proto "https"
        RequestHeader unset X-Forwarded-For
        <Location "/">
            Require all denied
        </Location>
        <Location "/_matrix/client/">
            Require all granted
            ProxyPass http://127.0.0.1:8008/_matrix/client/ nocanon
        </Location>
    </VirtualHost>
    ```

    ## Use instead
    ```apache
    <VirtualHost *:443>
        ServerName matrix.example.org
        AllowEncodedSlashes NoDecode
        ProxyPreserveHost On
        RequestHeader set X-Forwarded-Proto "https"
        RequestHeader unset X-Forwarded-For
        <Location "/">
            Require all denied
        </Location>
        <Location "/_matrix/">
            Require all granted
            ProxyPass http://127.0.0.1:8008/_matrix/ nocanon
        </Location>
    </VirtualHost>
    ```
    """
    seen: set = set()
    for site in config.sites:
        chosen = {}
        for name, prefix, probe in FAMILIES:
            route, unknowns = select_route(site, "GET", probe)
            chosen[name] = None if unknowns else route
        proxied = [name for name, route in chosen.items()
                   if route is not None and upstream_is_homeserver(route)]
        if not proxied:
            continue
        for name, prefix, probe in FAMILIES:
            route = chosen[name]
            status = _blocks(route)
            if status is None or (name == "federation" and not _serves_federation(site)):
                continue
            key = (route.action.span or route.span, name)
            if key in seen:
                continue
            seen.add(key)
            sibling = next(n for n in proxied if n != name)
            yield Finding(f"`{prefix}` is answered {status} by the proxy itself (`{route.match}`) while "
                          f"`/_matrix/{sibling}/` is proxied to the homeserver on this site: "
                          f"{_CONSEQUENCE[name]}", route.action.span or route.span)


_CONSEQUENCE = {
    "client": "no client can log in or sync",
    "media": "images, avatars and uploads fail",
    "federation": "other servers cannot reach this one",
}
