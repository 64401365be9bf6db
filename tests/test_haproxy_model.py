"""The HAProxy model builder (linter/haproxy/build.py) on small hand-written configs.

Expectations come from HAProxy 2.6's documented and observed behaviour (see the real-server tests
for the observations), written by hand: sites per frontend and host, routes in HAProxy's rule
order, which response rules reach which responses, what the upstream receives.
"""
from __future__ import annotations

import textwrap

import pytest

from linter.haproxy.build import build
from linter.haproxy.parse import parse_string
from linter.haproxy.routing import select_route
from linter.matrix import annotate
from linter.predict import outcomes
from linter.select import Request, select

DEFAULTS = """
defaults
    mode http
    timeout client 60s
    timeout server 180s
"""


def model(text: str, *, defaults: bool = True, path: str = "haproxy.cfg"):
    text = textwrap.dedent(text).lstrip("\n")
    if defaults:
        text = DEFAULTS.lstrip("\n") + text
    tree = parse_string(text, path)
    assert not tree.errors, tree.errors
    config = build(tree, {})
    annotate(config)
    return config


def site_named(config, name):
    return next(s for s in config.sites if name in s.names)


def default_site(config, port):
    return next(s for s in config.sites if not s.names and any(l.port == port for l in s.listens))


def route_for(site, method, path):
    route, unknowns = select_route(site, method, path)
    assert not unknowns, unknowns
    return route


SYNAPSE_LIKE = """
frontend https
    bind *:443,[::]:443 ssl crt /etc/ssl/haproxy/ strict-sni alpn h2,http/1.1
    http-request set-header X-Forwarded-Proto https if { ssl_fc }
    http-request set-header X-Forwarded-Proto http if !{ ssl_fc }
    http-request set-header X-Forwarded-For %[src]
    acl matrix-host hdr(host) -i matrix.example.com matrix.example.com:443
    acl matrix-path path_beg /_matrix
    acl matrix-path path_beg /_synapse/client
    use_backend matrix if matrix-host matrix-path

frontend matrix-federation
    bind *:8448 ssl crt /etc/ssl/haproxy/synapse.pem
    default_backend matrix

backend matrix
    server matrix 127.0.0.1:8008
"""


def test_one_site_per_host_the_frontend_routes_on_plus_one_for_other_hosts():
    config = model(SYNAPSE_LIKE)
    assert [(s.names, sorted({l.port for l in s.listens})) for s in config.sites] == [
        (["matrix.example.com"], [443]), ([], [443]), ([], [8448])]
    matrix = site_named(config, "matrix.example.com")
    assert [(l.address, l.port, l.tls, l.default) for l in matrix.listens] == [
        (None, 443, True, False), ("[::]", 443, True, False)]
    assert all(l.default for l in default_site(config, 443).listens)
    # Each line of the path ACL is its own route of one group; both proxy to the backend.
    assert [(r.match.kind, r.match.pattern, r.action.kind, r.action.upstream) for r in matrix.routes] == [
        ("prefix", "/_matrix", "proxy", "matrix"), ("prefix", "/_synapse/client", "proxy", "matrix")]
    assert matrix.routes[0].group == matrix.routes[1].group
    assert matrix.routes[0].span.line == 13 and matrix.routes[0].action.span.line == 19
    # Another host on 443 is answered by nobody: HAProxy's 503 (the site's fallback).
    assert default_site(config, 443).routes == []
    request = Request.from_url("GET", "https://other.example.org/_matrix/client/versions")
    route = select(config, request).route
    assert route.fallback and (route.action.status, route.action.content_type) == (503, "text/html")


def test_what_the_homeserver_receives():
    config = model(SYNAPSE_LIKE)
    route = route_for(site_named(config, "matrix.example.com"), "GET", "/_matrix/client/versions")
    # Every bind is TLS, so `ssl_fc` holds and only the first X-Forwarded-Proto rule applies.
    assert route.action.request_headers == {"host": "%[req.hdr(host)]", "x-forwarded-proto": "https",
                                            "x-forwarded-for": "%[src]"}
    assert route.action.uri == "original"
    assert route.facts["xff_appended_after_client"] is None
    fed = route_for(default_site(config, 8448), "GET", "/_synapse/admin/v1/users")
    assert fed.action.kind == "proxy" and fed.match.kind == "any"
    assert "x-forwarded-for" not in fed.action.request_headers


def test_routes_follow_haproxys_rule_order():
    config = model("""
        frontend fe
            bind :443 ssl crt /x.pem
            acl wk_server path /.well-known/matrix/server
            http-request return status 200 content-type application/json string '{"m.server": "m.example.org:443"}' if wk_server
            http-request deny deny_status 404 if { path_beg /_synapse/admin }
            use_backend wellknown if { path /.well-known/matrix/client }
            use_backend synapse if { path_beg /_matrix }
            default_backend web

        backend wellknown
            http-request return status 200 content-type application/json string '{}'

        backend synapse
            http-request return status 204 if METH_OPTIONS
            server s 127.0.0.1:8008

        backend web
            server w 127.0.0.1:8080
        """)
    (site,) = config.sites
    got = [(r.match.kind, r.match.pattern, r.action.kind, r.action.status or r.action.upstream) for r in site.routes]
    assert got == [
        ("exact", "/.well-known/matrix/server", "respond", 200),
        ("prefix", "/_synapse/admin", "respond", 404),
        ("exact", "/.well-known/matrix/client", "respond", 200),    # the backend answers, never proxies
        ("prefix", "/_matrix", "respond", 204),                       # the backend's OPTIONS rule first
        ("prefix", "/_matrix", "proxy", "synapse"),
        ("any", "", "proxy", "web"),
    ]
    assert route_for(site, "OPTIONS", "/_matrix/client/versions") is site.routes[3]
    assert route_for(site, "GET", "/_matrix/client/versions") is site.routes[4]
    assert route_for(site, "GET", "/_synapse/admin/v1/users") is site.routes[1]
    assert route_for(site, "GET", "/index.html") is site.routes[5]
    assert site.routes[3].condition.methods == frozenset({"OPTIONS"})
    assert site.routes[1].access_restricted
    deny = outcomes(site.routes[1], Request("GET", "https", "x", 443, "/_synapse/admin"))[0]
    assert (deny.status, deny.values("Content-Type")) == (404, ["text/html"])


def test_method_acls_and_undecidable_conditions():
    config = model("""
        frontend fe
            bind :80
            acl matrix path_beg /_matrix
            http-request return status 405 if !METH_GET matrix { path_beg /_matrix/static }
            use_backend internal if matrix { src 10.0.0.0/8 }
            use_backend synapse if matrix
        backend internal
            server i 127.0.0.1:9000
        backend synapse
            server s 127.0.0.1:8008
        """)
    (site,) = config.sites
    first = site.routes[0]
    assert first.condition.methods == frozenset({"POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"})
    # Two path ACLs ANDed: one regex route that needs both.
    assert first.match.kind == "regex"
    assert first.match.matches("/_matrix/static/x") and not first.match.matches("/_matrix/client")
    # `src` is not something the model can know: the route is skipped and the condition reported.
    route, unknowns = select_route(site, "GET", "/_matrix/client/versions")
    assert route.action.upstream == "synapse"
    assert unknowns == ["if matrix { src 10.0.0.0/8 }"]
    assert site.routes[1].condition.methods is None


@pytest.mark.parametrize("acl, kind, pattern, case_sensitive", [
    ("path /.well-known/matrix/client", "exact", "/.well-known/matrix/client", True),
    ("path_beg -i /_matrix", "prefix", "/_matrix", False),
    ("path -i -m beg /_matrix", "prefix", "/_matrix", False),
    ("path_reg ^/_matrix/client/v3/(sync|events)$", "regex", "^/_matrix/client/v3/(sync|events)$", True),
])
def test_path_acls_become_matches(acl, kind, pattern, case_sensitive):
    config = model(f"""
        frontend fe
            bind :80
            acl p {acl}
            use_backend b if p
        backend b
            server s 127.0.0.1:8008
        """)
    match = config.sites[0].routes[0].match
    assert (match.kind, match.pattern, match.case_sensitive) == (kind, pattern, case_sensitive)
    assert match.text == f"p: {acl}"


def test_path_end_and_dir_are_regexes_that_match_like_haproxy():
    config = model("""
        frontend fe
            bind :80
            use_backend b if { path_end /sync } || { path_dir media }
        backend b
            server s 127.0.0.1:8008
        """)
    end, dir_ = config.sites[0].routes
    assert end.match.matches("/_matrix/client/v3/sync") and not end.match.matches("/sync/x")
    assert dir_.match.matches("/_matrix/media/v3/x") and not dir_.match.matches("/_matrix/mediax")


RESPONSE_RULES = """
frontend fe
    bind :80
    http-response set-header X-Fe-Response 1
    http-after-response add-header X-Fe-After 1
    use_backend wellknown if { path /.well-known/matrix/client }
    use_backend synapse if { path_beg /_matrix }

backend wellknown
    http-response set-header Access-Control-Allow-Origin "*"
    http-after-response set-header X-Be-After 1
    http-request return status 200 content-type application/json string '{}' hdr X-Own "a b"

backend synapse
    http-response set-header X-Be-Response 1
    http-after-response del-header X-Powered-By
    server s 127.0.0.1:8008
"""


def test_response_rules_in_haproxys_order_with_their_reach():
    config = model(RESPONSE_RULES)
    (site,) = config.sites
    proxied = route_for(site, "GET", "/_matrix/client/versions")
    assert [(op.name, op.mode, op.on_proxied, op.on_generated) for op in proxied.headers] == [
        ("X-Be-Response", "set", True, False),      # backend http-response, then frontend's
        ("X-Fe-Response", "set", True, False),
        ("X-Powered-By", "remove", True, True),     # then http-after-response: backend, frontend
        ("X-Fe-After", "add", True, True),
    ]
    returned = route_for(site, "GET", "/.well-known/matrix/client")
    assert [(op.name, op.on_generated) for op in returned.headers] == [
        ("X-Own", True), ("Access-Control-Allow-Origin", False), ("X-Fe-Response", False),
        ("X-Be-After", True), ("X-Fe-After", True)]
    out = outcomes(returned, Request("GET", "http", "x", 80, "/.well-known/matrix/client"))[0]
    assert [(h.name, h.value) for h in out.headers] == [
        ("Content-Type", "application/json"), ("X-Own", "a b"), ("X-Be-After", "1"), ("X-Fe-After", "1")]
    down = outcomes(proxied, Request("GET", "http", "x", 80, "/_matrix/x"), upstream_down=True)[0]
    assert down.status == 503
    assert [(h.name, h.value) for h in down.headers] == [("Content-Type", "text/html"), ("X-Fe-After", "1")]
    assert config.sites[0].headers[0].name == "X-Fe-After"


def test_response_rules_cannot_test_the_request_path_but_a_variable_can():
    config = model("""
        frontend fe
            bind :80
            http-request set-var(txn.matrix) bool(true) if { path_beg /_matrix }
            http-after-response set-header X-Never 1 if { path_beg /_matrix }
            http-after-response set-header X-Always 1 unless { path_beg /_matrix }
            http-after-response set-header X-Matrix 1 if { var(txn.matrix) -m bool }
            http-after-response set-header X-Get 1 if METH_GET
            use_backend b if { path_beg /_matrix } || { path /health }
        backend b
            server s 127.0.0.1:8008
        """)
    (site,) = config.sites
    matrix = route_for(site, "GET", "/_matrix/client/versions")
    health = route_for(site, "GET", "/health")
    assert [(op.name, op.condition) for op in matrix.headers] == [
        ("X-Always", None), ("X-Matrix", None), ("X-Get", "if METH_GET")]
    assert [op.name for op in health.headers] == ["X-Always", "X-Get"]


def test_a_status_condition_becomes_statuses():
    config = model("""
        frontend fe
            bind :80
            http-after-response set-header X-Error 1 if { status ge 500 }
            http-response set-header X-Ok 1 if { status 200:299 } || { status 304 }
            default_backend b
        backend b
            server s 127.0.0.1:8008
        """)
    error, ok = config.sites[0].routes[0].headers[::-1]
    assert error.name == "X-Error" and error.statuses == frozenset(range(500, 600)) and error.condition is None
    assert ok.statuses == frozenset(range(200, 300)) | {304}


def test_captured_and_stored_request_headers_are_request_headers_in_values():
    config = model("""
        frontend fe
            bind :80
            capture request header Origin len 128
            http-request set-var(txn.host) req.hdr(host)
            http-after-response set-header Access-Control-Allow-Origin %[capture.req.hdr(0)]
            http-after-response set-header X-Host %[var(txn.host)]
            default_backend b
        backend b
            server s 127.0.0.1:8008
        """)
    acao, host = config.sites[0].routes[0].headers
    assert (acao.value, host.value) == ("$http_origin", "$http_host")


@pytest.mark.parametrize("lines, sent, appender_line, forwarded_for, span_line", [
    # option forwardfor appends after the client's X-Forwarded-For (line 7 is the option).
    (["option forwardfor"], "%[src]", 7, "append", 7),
    (["option forwardfor if-none"], "%[src]", 7, "append", 7),
    (["http-request set-header X-Forwarded-For %[src]"], "%[src]", None, "replace", 7),
    (["http-request set-header X-Forwarded-For %[src]", "option forwardfor"], "%[src], %[src]", None, "replace", 8),
    (["http-request del-header X-Forwarded-For", "option forwardfor"], "%[src]", None, "replace", 8),
    (["http-request add-header X-Forwarded-For %[src]"], "%[src]", 7, "append", 7),
    (["http-request del-header X-Forwarded-For", "http-request add-header X-Forwarded-For %[src]"], "%[src]", None,
     "replace", 8),
    # a value that copies the client's header keeps what the client wrote first
    (["http-request set-header X-Forwarded-For \"%[req.hdr(x-forwarded-for)], %[src]\""],
     "%[req.hdr(x-forwarded-for)], %[src]", 7, "append", 7),
    # set on one condition only: other requests get none from HAProxy (unknown)
    (["http-request set-header X-Forwarded-For %[src] if { hdr(x-custom) -m found }"], "%[src]", None, None, 7),
    # another header name: nothing in X-Forwarded-For; the span is the default_backend line
    (["option forwardfor header X-Real-IP"], None, None, "absent", 8),
    ([], None, None, "absent", 7),
])
def test_x_forwarded_for(lines, sent, appender_line, forwarded_for, span_line):
    body = "".join("    " + line + "\n" for line in lines)
    config = model(f"frontend fe\n    bind :80\n{body}    default_backend b\nbackend b\n    server s 127.0.0.1:8008\n")
    route = config.sites[0].routes[0]
    assert route.action.request_headers.get("x-forwarded-for") == sent
    appender = route.facts["xff_appended_after_client"]
    assert (appender.span.line if appender else None) == appender_line
    assert route.action.forwarded_for == forwarded_for
    assert route.action.forwarded_for_span.line == span_line


def test_forwardfor_from_defaults_and_backend():
    config = model("""
        defaults
            mode http
            option forwardfor
        frontend fe
            bind :80
            use_backend a if { path_beg /a }
            default_backend b
        backend a
            option forwardfor if-none
            server s 127.0.0.1:8008
        backend b
            server s 127.0.0.1:8008
        """, defaults=False)
    a, b = config.sites[0].routes
    assert a.facts["forwardfor"].span.line == 9      # the backend's own option wins
    assert b.facts["forwardfor"].span.line == 3      # inherited from defaults


def test_uri_rewrites_make_the_upstream_uri_normalized():
    config = model("""
        frontend fe
            bind :80
            http-request set-header X-Forwarded-For %[src]
            use_backend media if { path_beg /_matrix/media }
            use_backend synapse if { path_beg /_matrix }
        backend media
            http-request replace-path /_matrix/media/(.*) /_matrix/media/\\1
            server m 127.0.0.1:8008
        backend synapse
            server s 127.0.0.1:8008
        """)
    media, synapse = config.sites[0].routes
    assert (media.action.uri, media.action.uri_span.line) == ("normalized", 11)
    assert "replace-path" in media.action.uri_reason
    assert synapse.action.uri == "original"


def test_timeouts_are_inherited_from_defaults():
    config = model("""
        defaults
            mode http
            timeout client 1m
            timeout server 30s
        frontend fe
            bind :80
            use_backend slow if { path_beg /_matrix/client }
            default_backend b
        backend slow
            timeout server 3m
            server s 127.0.0.1:8008
        backend b
            server s 127.0.0.1:8008
        """, defaults=False)
    slow, b = config.sites[0].routes
    assert (slow.facts["timeout_server"].value, slow.facts["timeout_server"].directive.span.line) == (180_000, 10)
    assert (b.facts["timeout_server"].value, b.facts["timeout_server"].directive.span.line) == (30_000, 4)
    assert b.facts["timeout_client"].value == 60_000


def test_mode_tcp_forwards_bytes_and_a_fragment_is_read_as_http():
    tcp = model("""
        global
            daemon
        defaults
            timeout client 1m
        frontend fe
            bind :443
            option forwardfor
            http-request set-header X-Forwarded-Proto https
            use_backend synapse if { path_beg /_matrix }
            use_backend synapse if { src 10.0.0.0/8 }
            default_backend b
        backend synapse
            server s 127.0.0.1:8008
        backend b
            server s 127.0.0.1:8443
        """, defaults=False)
    site, = tcp.sites
    assert (site.facts["mode"], site.facts["mode_known"]) == ("tcp", "default")
    # the HTTP lines HAProxy ignores in TCP mode
    assert [d.span.line for d in site.facts["ignored_http"]] == [7, 8]
    assert any("TCP mode" in n and "ignored" in n for n in tcp.notes)
    # the path test never matches when the connection opens (no inspect-delay): no route for it;
    # the source-address test stays undecided
    src, default = site.routes
    assert (src.span.line, default.span.line) == (10, 11)
    assert src.condition.text and default.condition is None
    for route in (src, default):
        action = route.action
        assert (action.kind, action.uri, action.forwarded_for) == ("proxy", "original", "absent")
        assert action.request_headers == {"host": "%[req.hdr(host)]"} and route.headers == []
        assert action.span.line == 5 and route.facts["upstream_down_status"] is None
    # undecided source address: the search goes on to the default backend and says so
    route, unknowns = select_route(site, "GET", "/_matrix/client/versions")
    assert (route, unknowns) == (default, ["if { src 10.0.0.0/8 }"])
    # no backend for the connection: HAProxy closes it without an answer
    fallback, = site.fallback
    assert fallback.fallback and fallback.action.kind == "respond" and fallback.action.status is None
    fragment = model("frontend fe\n    bind :80\n    default_backend b\nbackend b\n    server s 127.0.0.1:8008\n",
                     defaults=False)
    assert fragment.sites[0].routes[0].action.kind == "proxy"
    assert fragment.sites[0].facts["mode_known"] == "assumed"
    assert any("mode http" in note for note in fragment.notes)


def test_tcp_with_inspect_delay_reads_the_request_and_explicit_mode_tcp_is_set():
    config = model("""
        global
            daemon
        defaults
            mode tcp
        frontend fe
            bind :80
            tcp-request inspect-delay 5s
            use_backend synapse if { path_beg /_matrix }
            default_backend web
        backend synapse
            server s 127.0.0.1:8008
        backend web
            server s 127.0.0.1:8080
        """, defaults=False)
    site, = config.sites
    assert site.facts["mode_known"] == "set"
    assert route_for(site, "GET", "/_matrix/client/versions").action.upstream == "synapse"
    assert route_for(site, "GET", "/").action.upstream == "web"


def test_a_tcp_frontend_with_an_http_backend_is_upgraded_to_http():
    config = model("""
        global
            daemon
        frontend fe
            bind :80
            http-request set-header X-Forwarded-For %[src]
            default_backend synapse
        backend synapse
            mode http
            server s 127.0.0.1:8008
        """, defaults=False)
    site, = config.sites
    assert site.facts["mode_known"] == "upgraded"
    assert site.routes[0].action.forwarded_for == "replace"


def test_a_listen_section_proxies_to_its_own_servers():
    config = model("""
        listen matrix
            bind 127.0.0.1:8448
            http-request set-header X-Forwarded-For %[src]
            server s 127.0.0.1:8008
        """)
    (site,) = config.sites
    assert not site.public
    (route,) = site.routes
    assert (route.action.kind, route.action.upstream, route.match.kind) == ("proxy", "matrix", "any")
    assert route.action.request_headers["x-forwarded-for"] == "%[src]"


def test_ssl_fc_splits_a_frontend_with_tls_and_plain_binds():
    config = model("""
        frontend fe
            bind :80
            bind :443 ssl crt /x.pem
            http-request redirect scheme https code 301 unless { ssl_fc }
            default_backend b
        backend b
            server s 127.0.0.1:8008
        """)
    plain, tls = config.sites
    assert [(l.port, l.tls) for l in plain.listens] == [(80, False)]
    assert [(r.action.kind, r.action.status) for r in plain.routes] == [("redirect", 301)]
    assert [r.action.kind for r in tls.routes] == ["proxy"]


def test_allow_ends_the_http_request_rules_for_what_it_matches():
    config = model("""
        frontend fe
            bind :80
            http-request allow if { path_beg /_matrix }
            http-request deny
            default_backend b
        backend b
            server s 127.0.0.1:8008
        """)
    (site,) = config.sites
    assert route_for(site, "GET", "/_matrix/client/versions").action.kind == "proxy"
    assert route_for(site, "GET", "/admin").action.status == 403


def test_a_deny_the_model_cannot_decide_restricts_the_routes_after_it():
    config = model("""
        frontend fe
            bind :443 ssl crt /x.pem
            http-request deny if { path_beg /_synapse/admin } !{ src 10.0.0.0/8 }
            default_backend b
        backend b
            server s 127.0.0.1:8008
        """)
    deny, proxy = config.sites[0].routes
    assert proxy.access_restricted and deny.access_restricted


def test_errorfile_content_type(tmp_path):
    (tmp_path / "503.http").write_text("HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n\r\n{}")
    config = model(f"""
        frontend fe
            bind :80
            default_backend b
        backend b
            errorfile 503 {tmp_path}/503.http
            server s 127.0.0.1:8008
        """)
    assert config.sites[0].routes[0].facts["error_content_type"] == "application/json"
    missing = model("""
        frontend fe
            bind :80
            default_backend b
        backend b
            errorfile 503 /nonexistent/503.http
            server s 127.0.0.1:8008
        """)
    assert missing.sites[0].routes[0].facts["error_content_type"] is None


def test_each_hdr_of_a_return_has_its_own_span():
    config = model("""
        frontend fe
            bind :80
            http-request return status 204 hdr A 1 hdr B "2 3"
        """)
    a, b = config.sites[0].routes[0].headers
    assert (a.name, a.span.column, a.span.end_column) == ("A", 36, 43)
    assert (b.name, b.value, b.span.column, b.span.end_column) == ("B", "2 3", 44, 55)


def test_binds():
    config = model("""
        frontend fe
            bind :::8448 v4v6 ssl crt /x.pem
            bind unix@/run/haproxy/matrix.sock
            bind 127.0.0.1:8008,ipv4@0.0.0.0:80
            default_backend b
        backend b
            server s 127.0.0.1:8008
        """)
    assert [(l.address, l.port, l.tls, l.public) for l in config.sites[0].listens] == [
        ("::", 8448, True, True), ("unix:unix@/run/haproxy/matrix.sock", None, False, False),
        ("127.0.0.1", 8008, False, False), ("0.0.0.0", 80, False, True)]


def test_default_backend_and_error_pages_from_defaults():
    config = model("""
        defaults
            mode http
            default_backend synapse
            errorloc 503 https://status.example.org/
        frontend fe
            bind :80
        backend synapse
            http-error status 504 content-type application/json string '{"errcode": "M_UNKNOWN"}'
            server s 127.0.0.1:8008
        """, defaults=False)
    (route,) = config.sites[0].routes
    assert (route.action.upstream, route.span.line) == ("synapse", 3)
    # errorloc answers a redirect instead of HAProxy's 503 page.
    assert (route.facts["upstream_down_status"], route.facts["error_content_type"]) == (302, None)
    from linter.haproxy.sections import error_content_type
    assert error_content_type(504, [config.sites and _backend(config)], ".") == "application/json"


def _backend(config):
    from linter.haproxy.sections import read

    return read(config.tree)[1]["synapse"]


# -- version-gated rules (MPL805, MPL808) and the TCP-mode rule (MPL807) on the model -----------

def _lint(text: str, tmp_path, version=None, name="haproxy.cfg") -> list:
    from linter.engine import lint

    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    report = lint([str(path)], server="haproxy", haproxy_version=version)
    assert not report.errors, report.errors
    return [(f.rule.code, f.span.line) for f in report.findings if f.rule.code in ("MPL805", "MPL807", "MPL808")]


REMOVED_LINES = """
global
    nbproc 2
    master-worker
    stats bind-process 1
defaults
    mode http
    option http-use-htx
    option forceclose
    grace 10s
    timeout client 60s
    timeout server 180s
    timeout connect 5s
frontend fe
    bind :80 process 1
    bind-process 1
    monitor-net 10.0.0.0/8
    reqadd X-Forwarded-Proto:\\ https
    use_backend synapse if { path_beg /_matrix /_synapse/client }
backend synapse
    dispatch 127.0.0.1:8008
    server s 127.0.0.1:8008
"""


@pytest.mark.parametrize("version, lines", [
    # the req* family goes in 2.1, monitor-net in 2.3, nbproc/grace/the options in 2.5,
    # bind-process and `bind ... process` in 2.7, dispatch and a bare master-worker in 3.5
    ((2, 0), []),
    ((2, 2), [17]),
    ((2, 4), [16, 17]),
    (None, [2, 7, 8, 9, 16, 17]),                 # 2.6, the default
    ((2, 6, 12), [2, 7, 8, 9, 16, 17]),
    ((2, 8), [2, 4, 7, 8, 9, 14, 15, 16, 17]),
    ((3, 5), [2, 3, 4, 7, 8, 9, 14, 15, 16, 17, 20]),
])
def test_mpl805_flags_what_the_target_version_refuses(tmp_path, version, lines):
    found = _lint(REMOVED_LINES, tmp_path, version)
    assert sorted(line for code, line in found if code == "MPL805") == lines


NORMALIZE = """
{global_}defaults
    mode http
    timeout client 60s
    timeout server 180s
    timeout connect 5s
frontend fe
    bind :80
    http-request normalize-uri path-merge-slashes
    use_backend synapse if {{ path_beg /_matrix /_synapse/client }}
backend synapse
    server s 127.0.0.1:8008
"""


def test_mpl808_normalize_uri_needs_expose_experimental_directives(tmp_path):
    bare = NORMALIZE.format(global_="global\n    log stderr local0\n")
    exposed = NORMALIZE.format(global_="global\n    expose-experimental-directives\n")
    assert _lint(bare, tmp_path) == [("MPL808", 10)]
    assert _lint(exposed, tmp_path) == []
    assert _lint(exposed, tmp_path, (3, 2)) == []
    # before 2.4 there is no normalize-uri at all: exposing does not help
    assert _lint(exposed, tmp_path, (2, 2)) == [("MPL808", 10)]
    # a global section after the frontend comes too late (HAProxy reads the file in order)
    late = NORMALIZE.format(global_="") + "global\n    expose-experimental-directives\n"
    assert _lint(late, tmp_path) == [("MPL808", 8)]


def test_mpl808_without_a_global_section_depends_on_it(tmp_path):
    from linter.engine import lint

    path = tmp_path / "matrix.cfg"
    path.write_text(NORMALIZE.format(global_="").lstrip("\n"))
    finding, = [f for f in lint([str(path)], server="haproxy").findings if f.rule.code == "MPL808"]
    assert finding.severity == "info"
    assert "unless the configuration that includes" in finding.message


def test_mpl807_implicit_tcp_mode_with_a_homeserver_behind(tmp_path):
    tcp = """
        global
            daemon
        defaults
            timeout client 60s
            timeout server 180s
            timeout connect 5s
        frontend fe
            bind :8448
            default_backend synapse
        backend synapse
            server synapse 127.0.0.1:8008
        """
    assert _lint(tcp, tmp_path) == [("MPL807", 7)]
    # `mode tcp` on purpose, nothing HTTP in it (TLS passthrough to the homeserver): not flagged
    assert _lint(tcp.replace("timeout client", "mode tcp\n            timeout client"), tmp_path) == []
    # `mode tcp` with HTTP lines that HAProxy ignores: flagged
    explicit = tcp.replace("timeout client", "mode tcp\n            timeout client").replace(
        "bind :8448", "bind :8448\n            http-request set-header X-Forwarded-For %[src]")
    assert _lint(explicit, tmp_path) == [("MPL807", 8)]
    # a fragment: its mode may be set where the linter cannot see: never asserted TCP
    fragment = "frontend fe\n    bind :8448\n    default_backend synapse\nbackend synapse\n    server synapse 127.0.0.1:8008\n"
    assert _lint(fragment, tmp_path, name="matrix.cfg") == []
