"""Apache httpd semantics in the model. Each expectation is what httpd 2.4.71 did when it was
measured (tests/real/test_model_apache.py holds the model against it on every fixture)."""
import pytest

from linter.apache.build import build
from linter.apache.parse import parse_string
from linter.apache.routing import refusal, select_request
from linter.apache.upstream import upstream_target
from linter.apache.uri import Refused, alias_match, canonicalise, request_uri
from linter.engine import lint
from linter.matrix import annotate
from linter.predict import outcomes
from linter.select import Request, select, select_route


def model(text):
    tree = parse_string(text, "/cfg/test.conf")
    assert not tree.errors, tree.errors
    config = build(tree, {})
    annotate(config)
    return config


def vhost(body, address="*:443"):
    return f"<VirtualHost {address}>\n    ServerName matrix.example.org\n{body}\n</VirtualHost>\n"


def pick(config, path, method="GET", site=0):
    route, unknowns = select_route(config.sites[site], method, path)
    return route


def target(route, raw, slashes=None):
    return upstream_target(route.facts["apache_proxy"], raw, slashes or route.facts["encoded_slashes"])


# -- which handler answers ---------------------------------------------------------------

def test_proxypass_lines_first_match_wins_and_match_whole_segments():
    config = model(vhost("""
    ProxyPass / http://127.0.0.1:81/ nocanon
    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon"""))
    assert pick(config, "/_matrix/client/versions").action.upstream == "http://127.0.0.1:81"
    config = model(vhost("    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon"))
    assert pick(config, "/_matrix").action.kind == "proxy"
    other = pick(config, "/_matrixfoo")          # no handler: core's default handling, a 404
    assert other.fallback and (other.action.kind, other.action.status) == ("respond", 404)


def test_proxypass_in_the_last_matching_location_beats_server_lines_and_exclusions():
    config = model(vhost("""
    ProxyPassMatch ^/_matrix/identity !
    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    <Location /_matrix/identity>
        ProxyPass http://127.0.0.1:8090/_matrix/identity
    </Location>
    <Location /_matrix/identity/v2>
        ProxyPass http://127.0.0.1:8091/_matrix/identity/v2
    </Location>"""))
    assert pick(config, "/_matrix/identity/api").action.upstream == "http://127.0.0.1:8090"
    assert pick(config, "/_matrix/identity/v2/terms").action.upstream == "http://127.0.0.1:8091"
    assert pick(config, "/_matrix/client/versions").action.upstream == "http://127.0.0.1:8008"


def test_exclusion_then_alias_for_the_well_known():
    config = model(vhost("""
    ProxyPassMatch ^/.well-known/matrix/client !
    ProxyPass / http://127.0.0.1:81/ nocanon
    Alias /.well-known/matrix/client /srv/wk/client"""))
    route = pick(config, "/.well-known/matrix/client")
    assert (route.action.kind, route.action.root, route.action.alias) == ("static", "/srv/wk/client", True)
    assert route.action.content_type == ""          # no extension: Apache sends no Content-Type


def test_rewrite_rule_runs_before_proxypass_and_redirect_after_it():
    config = model(vhost("""
    RewriteEngine On
    RewriteRule ^/_matrix/(.*)$ http://127.0.0.1:8009/_matrix/$1 [P]
    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    Redirect /_synapse https://example.org/
    ProxyPass /_synapse http://127.0.0.1:8008/_synapse nocanon
    Redirect /old https://example.org/new"""))
    assert pick(config, "/_matrix/x").action.upstream == "http://127.0.0.1:8009"
    assert pick(config, "/_synapse/client/x").action.kind == "proxy"
    old = pick(config, "/old/page")
    assert (old.action.kind, old.action.status, old.action.location) == ("redirect", 302, "https://example.org/new")


def test_redirect_inside_a_location_replaces_proxying():
    config = model(vhost("""
    ProxyPass / http://127.0.0.1:8008/
    <Location /r>
        Redirect permanent https://example.org/
    </Location>"""))
    route = pick(config, "/r/x")
    assert (route.action.kind, route.action.status) == ("redirect", 301)


def test_main_server_proxypass_lines_come_before_the_virtual_hosts():
    config = model("ProxyPass /_matrix http://127.0.0.1:9000/_matrix\n" + vhost(
        "    ProxyPass /_matrix/client http://127.0.0.1:8008/_matrix/client nocanon"))
    assert pick(config, "/_matrix/client/versions").action.upstream == "http://127.0.0.1:9000"


def test_require_all_denied_is_a_403_and_require_ip_restricts():
    config = model(vhost("""
    ProxyPass / http://127.0.0.1:8008/ nocanon
    <Location /_synapse/admin>
        Require all denied
    </Location>
    <Location /_synapse/metrics>
        Require ip 10.0.0.0/8
    </Location>"""))
    admin = pick(config, "/_synapse/admin/v1/users")
    assert (admin.action.kind, admin.action.status, admin.access_restricted) == ("respond", 403, True)
    metrics = pick(config, "/_synapse/metrics")
    assert (metrics.action.kind, metrics.access_restricted) == ("proxy", True)
    assert pick(config, "/_matrix/x").access_restricted is False


def test_rewrite_cond_on_the_method_is_a_condition_others_are_unknown():
    config = model(vhost("""
    RewriteEngine On
    RewriteCond %{REQUEST_METHOD} OPTIONS
    RewriteRule ^/_matrix/ - [R=204,L]
    RewriteCond %{HTTP:Upgrade} websocket [NC]
    RewriteRule ^/_matrix/(.*)$ ws://127.0.0.1:8008/_matrix/$1 [P,L]
    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon"""))
    site = config.sites[0]
    route, unknowns = select_route(site, "OPTIONS", "/_matrix/client/versions")
    assert (route.action.kind, route.action.status, route.action.content_type) == ("respond", 204, None)
    assert route.condition.methods == frozenset({"OPTIONS"})
    route, unknowns = select_route(site, "GET", "/_matrix/client/versions")
    assert route.action.upstream == "http://127.0.0.1:8008"
    assert unknowns == ["RewriteCond %{HTTP:Upgrade} websocket"]
    # With the whole request, the header condition is decided.
    upgrade = Request("GET", "https", "matrix.example.org", 443, "/_matrix/x", [("Upgrade", "websocket")])
    assert select_request(site, upgrade)[0].action.upstream == "ws://127.0.0.1:8008"
    plain = Request("GET", "https", "matrix.example.org", 443, "/_matrix/x")
    assert select_request(site, plain) == (pick(config, "/_matrix/x"), [])


# -- sites ---------------------------------------------------------------------------------

def test_virtual_hosts_become_sites_with_names_ports_and_tls():
    config = model("""
<VirtualHost *:443 [::]:443>
    SSLEngine on
    ServerName Matrix.Example.org:443
    ServerAlias *.example.net
    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
</VirtualHost>
<VirtualHost _default_:80>
    Redirect permanent / https://matrix.example.org/
</VirtualHost>""")
    tls, plain = config.sites
    assert tls.names == ["matrix.example.org", "*.example.net"]
    assert [(l.port, l.address, l.tls) for l in tls.listens] == [(443, None, True), (443, "[::]", True)]
    assert [(l.port, l.tls, l.default) for l in plain.listens] == [(80, False, True)]
    request = Request("GET", "https", "a.example.net", 443, "/_matrix/x")
    assert select(config, request).site is tls


def test_a_snippet_without_virtual_host_is_the_main_server():
    config = model("""
AllowEncodedSlashes NoDecode
<Location /_matrix>
    ProxyPreserveHost on
    ProxyPass http://127.0.0.1:8008/_matrix nocanon
</Location>""")
    (site,) = config.sites
    assert site.facts["snippet"] is True
    route = pick(config, "/_matrix/client/versions")
    assert route.action.uri == "original"
    assert route.action.request_headers["host"] == "$host"


# -- mod_headers ---------------------------------------------------------------------------

def ops(route):
    return [(op.name, op.value, op.mode, op.on_proxied, op.on_generated, op.statuses is None) for op in route.headers]


def test_onsuccess_acts_on_the_upstream_table_always_writes_beside_it():
    config = model(vhost("""
    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    Header set X-Frame-Options DENY
    Header always set Access-Control-Allow-Origin "*"
    Header onsuccess unset Server"""))
    route = pick(config, "/_matrix/x")
    assert ops(route) == [
        ("X-Frame-Options", "DENY", "set", True, False, True),
        ("Server", None, "remove", True, False, True),
        ("Access-Control-Allow-Origin", "*", "add", True, True, True),
    ]
    request = Request("GET", "https", "matrix.example.org", 443, "/_matrix/client/versions")
    ok, error, down = outcomes(route, request)
    assert ok.values("Access-Control-Allow-Origin") == ["*", "*"]       # the homeserver's and Apache's
    assert error.values("X-Frame-Options") == ["DENY"]                   # relayed 500: onsuccess applies
    assert (down.status, down.values("X-Frame-Options"), down.values("Access-Control-Allow-Origin")) == \
        (503, [], ["*"])


def test_the_always_table_is_folded_set_replaces_unset_removes_append_joins():
    config = model(vhost("""
    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    Header always set X-A one
    Header always set X-A two
    Header always set X-B b
    Header always unset X-B
    Header always append X-C c1
    Header always append X-C c2
    <Location /_matrix>
        Header always add X-A three
    </Location>"""))
    route = pick(config, "/_matrix/x")
    assert [(op.name, op.value, op.mode) for op in route.headers] == [
        ("X-A", "two", "add"), ("X-C", "c1, c2", "add"), ("X-A", "three", "add")]


def test_conditions_are_kept_not_guessed():
    config = model(vhost("""
    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    Header always set X-Env yes env=HTTPS
    Header set X-Expr yes "expr=%{REQUEST_METHOD} == 'GET'"
    <If "%{HTTP_HOST} == 'a'">
        Header always set X-If yes
    </If>"""))
    route = pick(config, "/_matrix/x")
    assert {op.name: op.condition for op in route.headers} == {
        "X-Env": "env=HTTPS", "X-Expr": "expr=%{REQUEST_METHOD} == 'GET'",
        "X-If": "<If %{HTTP_HOST} == 'a'>"}


def test_files_keep_onsuccess_headers_only_when_served():
    config = model(vhost("""
    Alias /.well-known/matrix/client /srv/wk/client.json
    <Location /.well-known/matrix/client>
        Header set Access-Control-Allow-Origin "*"
    </Location>"""))
    route = pick(config, "/.well-known/matrix/client")
    assert route.action.content_type == "application/json"
    (op,) = route.headers
    assert (op.mode, op.on_generated, sorted(op.statuses)) == ("set", True, [200, 206, 304])


def test_content_type_set_replaces_the_one_content_type_even_on_errors():
    config = model(vhost("""
    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    Header always set Content-Type "application/json" """))
    route = pick(config, "/_matrix/x")
    request = Request("GET", "https", "matrix.example.org", 443, "/_matrix/x")
    down = outcomes(route, request, upstream_down=True)[0]
    assert down.values("Content-Type") == ["application/json"]


def test_request_origin_reflection_becomes_http_origin():
    config = model(vhost("""
    SetEnvIf Origin "(.*)" ORIGIN=$1
    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    Header always set X-One "expr=%{req:Origin}"
    Header always set X-Two "%{ORIGIN}e"
    Header always set X-Three "%{Origin}i" """))
    route = pick(config, "/_matrix/x")
    assert [op.value for op in route.headers] == ["$http_origin", "$http_origin", "%{Origin}i"]


# -- mod_proxy: URIs and forwarding --------------------------------------------------------

def test_request_uri_and_canonicalisation():
    assert request_uri("/_matrix//client/%2e%2e/v3/%40a%3Ab") == "/_matrix/v3/@a:b"
    with pytest.raises(Refused) as off:
        request_uri("/_matrix/a%2Fb")
    assert off.value.status == 404
    assert request_uri("/_matrix/a%2Fb", "on") == "/_matrix/a/b"
    assert request_uri("/_matrix/a%2fb", "nodecode") == "/_matrix/a%2fb"
    assert canonicalise("/_matrix/@a:b/x y/%/?#", "off") == "/_matrix/@a:b/x%20y/%25/%3F%23"
    with pytest.raises(Refused):
        canonicalise("/_matrix/c%d", "nodecode")
    assert alias_match("/_matrix//client", "/_matrix/") == 10
    assert alias_match("/_matrixfoo", "/_matrix") == 0


def test_nocanon_passes_the_raw_target_and_canon_rebuilds_it():
    config = model(vhost("""
    AllowEncodedSlashes NoDecode
    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    ProxyPass /_synapse http://127.0.0.1:8008/_synapse"""))
    raw = "/_matrix//client/v3/rooms/%21r%3Ax/state?x=%2F"
    matrix = pick(config, "/_matrix/client")
    assert (matrix.action.uri, target(matrix, raw)) == ("original", raw)
    synapse = pick(config, "/_synapse/client")
    assert synapse.action.uri == "normalized"
    assert "nocanon" in synapse.action.uri_reason
    assert target(synapse, "/_synapse//client/%40a%2Fb/./x?y=%2F") == "/_synapse/client/@a%2Fb/x?y=%2F"


def test_nocanon_is_ignored_when_the_raw_target_matches_the_prefix_differently():
    config = model(vhost("    ProxyPass /_matrix/ http://127.0.0.1:8008/_matrix/ nocanon"))
    route = pick(config, "/_matrix/client")
    assert target(route, "/_matrix//client/%40a", "nodecode") == "/_matrix/client/@a"
    assert target(route, "/_matrix/client/%40a", "nodecode") == "/_matrix/client/%40a"


def test_a_target_without_path_glues_the_rest_to_the_port():
    config = model(vhost("    ProxyPass / http://127.0.0.1:81 nocanon"))
    site = config.sites[0]
    route = pick(config, "/_matrix/x")
    request = Request("GET", "https", "matrix.example.org", 443, "/_matrix/x")
    assert refusal(site, request, route).status == 500
    assert refusal(site, Request("GET", "https", "matrix.example.org", 443, "/"), route) is None


def test_proxypassmatch_and_rewrite_captures():
    config = model(vhost("""
    AllowEncodedSlashes NoDecode
    ProxyPassMatch ^(/_matrix/.*)$ http://127.0.0.1:8008$1 nocanon
    RewriteEngine On
    RewriteRule ^/_synapse/(.*)$ http://127.0.0.1:8008/_synapse/$1 [P]"""))
    matrix = pick(config, "/_matrix/x")
    assert matrix.action.uri == "original"
    assert target(matrix, "/_matrix/a%40b//c?d=%2F") == "/_matrix/a%40b//c?d=%2F"
    synapse = pick(config, "/_synapse/client/x")
    assert synapse.action.uri == "normalized"
    assert target(synapse, "/_synapse/client/%40a%2Fb?x=1") == "/_synapse/client/@a%2Fb?x=1"


def test_forwarding_headers_mod_proxy_adds_and_what_the_config_changes():
    config = model(vhost("""
    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    ProxyPass /_synapse http://127.0.0.1:8008/_synapse nocanon
    RequestHeader set X-Forwarded-Proto https
    RequestHeader unset X-Forwarded-Proto env=NEVER
    <Location /_synapse>
        ProxyPreserveHost On
        ProxyAddHeaders Off
    </Location>"""))
    matrix = pick(config, "/_matrix/x").action.request_headers
    assert sorted(matrix) == ["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-server"]
    synapse = pick(config, "/_synapse/x").action.request_headers
    assert sorted(synapse) == ["host", "x-forwarded-proto"]


def test_allow_encoded_slashes_of_the_main_server_is_not_inherited():
    config = model("AllowEncodedSlashes NoDecode\n" + vhost(
        "    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon"))
    site = config.sites[0]
    request = Request("GET", "https", "matrix.example.org", 443, "/_matrix/a%2Fb")
    route = pick(config, "/_matrix/a/b")
    assert route.facts["encoded_slashes"] == "off"
    assert refusal(site, request, route).status == 404


def test_proxied_bodies_have_no_limit_and_the_upstream_down_is_a_503():
    config = model(vhost("""
    LimitRequestBody 1024
    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon"""))
    route = pick(config, "/_matrix/media/v3/upload", "POST")
    assert route.max_body_size is None
    request = Request("GET", "https", "matrix.example.org", 443, "/_matrix/x")
    down = outcomes(route, request, upstream_down=True)[0]
    assert (down.status, down.values("Content-Type")) == (503, ["text/html; charset=iso-8859-1"])


# -- the Synapse docs' example -------------------------------------------------------------

def test_synapse_docs_example_is_clean():
    """The docs' 8448 virtual host has no ProxyPreserveHost. Federation does not use Host, so
    MPL603 and MPL403 both stay quiet there: the example is clean."""
    from corpus import rows

    (row,) = [r for r in rows(server="apache")
              if r["local_path"].endswith("element-hq__synapse/docs__reverse_proxy.md__block04.conf")]
    report = lint([row["abspath"]], server="apache")
    assert report.errors == []
    # Issue 11: mod_proxy's default X-Forwarded-For keeps the client's value (MPL406, its own rule
    # and fixtures); everything else in the docs' example is clean.
    assert [(f.rule.code, f.span.line) for f in report.findings if f.rule.code != "MPL406"] == []


def test_directory_sections_decide_access_to_files_not_to_proxied_requests():
    config = model("""
<Directory />
    Require all denied
</Directory>
<Directory /srv/wk/>
    Require all granted
</Directory>
""" + vhost("""
    Alias /.well-known/matrix/server /srv/wk/server
    Alias /.well-known/matrix/client /srv/other/client
    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon"""))
    assert pick(config, "/.well-known/matrix/server").action.kind == "static"
    denied = pick(config, "/.well-known/matrix/client").action
    assert (denied.kind, denied.status) == ("respond", 403)
    assert pick(config, "/_matrix/x").access_restricted is False


def test_a_passthrough_rewrite_with_l_stops_rewriting_but_not_proxypass():
    config = model(vhost("""
    RewriteEngine On
    RewriteRule ^/_matrix - [L]
    RewriteRule ^/_matrix/(.*)$ http://127.0.0.1:8009/_matrix/$1 [P]
    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon"""))
    assert pick(config, "/_matrix/client/versions").action.upstream == "http://127.0.0.1:8008"


# -- X-Forwarded-For (Action.forwarded_for); the real server: tests/real/test_model_apache.py --

def forwarded(body):
    config = model(vhost(body))
    action = pick(config, "/_matrix/client/versions").action
    assert action.kind == "proxy"
    return action.forwarded_for, action.forwarded_for_span.line if action.forwarded_for_span else None


PASS = "    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon"


def test_mod_proxy_appends_to_the_clients_forwarded_for_by_default():
    assert forwarded(PASS) == ("append", 3)                       # the ProxyPass
    assert forwarded("    RewriteEngine On\n    RewriteRule ^/_matrix/(.*) http://127.0.0.1:8008/_matrix/$1 [P]") \
        == ("append", 4)                                           # the RewriteRule [P]
    assert forwarded("    RequestHeader append X-Forwarded-For 192.0.2.1\n" + PASS) == ("append", 4)
    assert forwarded("    RequestHeader set X-Other 1\n" + PASS) == ("append", 4)


def test_request_header_that_drops_the_clients_value_replaces_it():
    # RequestHeader (early or not) runs before mod_proxy, which then appends the client address.
    assert forwarded("    RequestHeader set X-Forwarded-For %{REMOTE_ADDR}s\n" + PASS) == ("replace", 3)
    assert forwarded("    RequestHeader set X-Forwarded-For %{REMOTE_ADDR}s early\n" + PASS) == ("replace", 3)
    assert forwarded("    RequestHeader set X-Forwarded-For expr=%{REMOTE_ADDR}\n" + PASS) == ("replace", 3)
    assert forwarded("    RequestHeader unset X-Forwarded-For\n" + PASS) == ("replace", 3)
    assert forwarded("    <Location /_matrix>\n        RequestHeader unset X-Forwarded-For\n    </Location>\n"
                     + PASS) == ("replace", 4)
    # unset, then the client's value cannot come back
    assert forwarded("    RequestHeader unset X-Forwarded-For\n    RequestHeader setifempty X-Forwarded-For "
                     "%{REMOTE_ADDR}s\n" + PASS) == ("replace", 4)


def test_proxy_add_headers_off_leaves_what_request_header_leaves():
    assert forwarded("    ProxyAddHeaders Off\n" + PASS) == ("absent", 3)
    assert forwarded("    ProxyAddHeaders Off\n    RequestHeader unset X-Forwarded-For\n" + PASS) == ("absent", 4)
    assert forwarded("    ProxyAddHeaders Off\n    RequestHeader set X-Forwarded-For %{REMOTE_ADDR}s\n" + PASS) \
        == ("replace", 4)
    assert forwarded("    ProxyAddHeaders Off\n    RequestHeader append X-Forwarded-For 192.0.2.1\n" + PASS) \
        == ("append", 4)
    # a <Proxy> section's setting applies to its URLs
    assert forwarded("    <Proxy http://127.0.0.1:8008/*>\n        ProxyAddHeaders Off\n    </Proxy>\n" + PASS)[0] \
        == "absent"


def test_forwarded_for_the_model_cannot_tell_is_unknown():
    assert forwarded("    RequestHeader set X-Forwarded-For %{REMOTE_ADDR}s env=trusted\n" + PASS)[0] is None
    assert forwarded("    RequestHeader set X-Forwarded-For 192.0.2.1\n" + PASS)[0] is None
    assert forwarded("    RequestHeader edit X-Forwarded-For ^[^,]*, \"\"\n" + PASS)[0] is None
    # mod_remoteip takes the client address from the header it names
    assert forwarded("    RemoteIPHeader X-Forwarded-For\n" + PASS) == (None, 3)


# -- core's default handling (Site.fallback) ------------------------------------------------

def test_site_fallback_is_cores_default_handling_by_method():
    config = model(vhost("    Header always set X-Always 1\n    Header set X-Onsuccess 1\n" + PASS))
    site = config.sites[0]
    shape = [(r.condition.methods if r.condition else None, r.action.status, r.action.content_type)
             for r in site.fallback]
    html = "text/html; charset=iso-8859-1"
    assert shape[0] == (frozenset({"OPTIONS"}), 200, None)
    assert shape[1] == (frozenset({"TRACE"}), 200, "message/http")
    assert shape[2] == (frozenset({"GET", "HEAD", "POST"}), 404, html)
    assert shape[3] == (frozenset({"CONNECT"}), 400, html)
    assert shape[4][1:] == (405, html) and {"PUT", "DELETE", "PATCH", "PROPFIND"} <= shape[4][0]
    assert shape[5] == (None, 501, html)
    assert all(r.fallback and r.span == site.span for r in site.fallback)
    assert not any(r.fallback for r in site.routes)
    request = Request("OPTIONS", "https", "matrix.example.org", 443, "/elsewhere")
    route = select(config, request).route
    assert route.fallback and route.facts["apache_default_handler"] == "options"
    (options,) = outcomes(route, request)
    assert options.status == 200 and options.values("Allow") == ["GET,POST,OPTIONS,HEAD,TRACE"]
    assert options.values("X-Onsuccess") == ["1"] and options.values("X-Always") == ["1"]
    (missing,) = outcomes(pick(config, "/elsewhere"), Request("GET", "https", "matrix.example.org", 443, "/elsewhere"))
    assert (missing.status, missing.values("Content-Type")) == (404, [html])
    assert missing.values("X-Always") == ["1"] and missing.values("X-Onsuccess") == []


def test_fallback_inside_a_location_keeps_its_headers_and_a_document_root_is_no_fallback():
    config = model(vhost("    <Location /_matrix/media>\n        Header always set X-Media 1\n    </Location>\n"
                         + PASS.replace("/_matrix ", "/_matrix/client ").replace("/_matrix nocanon",
                                                                                  "/_matrix/client nocanon")))
    route = pick(config, "/_matrix/media/v3/config")
    assert route.fallback and route.action.status == 404 and "<Location /_matrix/media>" in route.match.text
    assert [op.value for op in route.headers if op.key == "x-media"] == ["1"]
    assert pick(config, "/_matrix/media/v3/config", "OPTIONS").action.status == 200
    static = model(vhost("    DocumentRoot /var/www/html\n" + PASS))
    route = pick(static, "/index.html")
    assert route.action.kind == "static" and not route.fallback


def test_fallback_depends_on_unseen_includes():
    config = model(vhost("    Include /etc/apache2/not-here.conf\n" + PASS))
    site = config.sites[0]
    assert all(any("not-here" in u.what for u in r.unknowns) for r in site.fallback)
    assert any("not-here" in u.what for u in pick(config, "/elsewhere").unknowns)


# -- Apache's own answers: error pages, [R=200], ErrorDocument, denied paths ------------------

def test_rewrite_r200_is_apaches_error_page_that_only_header_always_reaches():
    config = model(vhost("""
    <Location /.well-known/matrix/client>
        Header set Access-Control-Allow-Origin "*"
        Header always set X-Always 1
        RewriteEngine On
        RewriteRule .* - [R=200,L]
    </Location>"""))
    route = pick(config, "/.well-known/matrix/client")
    action = route.action
    assert (action.kind, action.status, action.content_type) == ("respond", 200, "text/html; charset=iso-8859-1")
    assert action.body.startswith("<!DOCTYPE HTML") and route.facts["apache_error_page"]
    assert "<Location /.well-known/matrix/client>" in route.match.text     # written for the well-known
    (answer,) = outcomes(route, Request("GET", "https", "matrix.example.org", 443, "/.well-known/matrix/client"))
    assert answer.values("Access-Control-Allow-Origin") == [] and answer.values("X-Always") == ["1"]


def test_error_document_text_is_the_body_and_keeps_apaches_type():
    config = model(vhost("""
    <Location /.well-known/matrix/server>
        ErrorDocument 200 '{"m.server": "matrix.example.org:443"}'
        RewriteEngine On
        RewriteRule .* - [R=200,L]
    </Location>
    ErrorDocument 404 /errors/404.html"""))
    route = pick(config, "/.well-known/matrix/server")
    assert route.action.body == '{"m.server": "matrix.example.org:443"}'
    assert route.action.content_type == "text/html; charset=iso-8859-1" and not route.facts["apache_error_page"]
    missing = pick(config, "/elsewhere")                 # a local page: what it serves is unknown
    assert missing.action.status == 404 and missing.action.body is None and missing.action.content_type is None


def test_location_denied_answers_403_for_the_matrix_paths_it_covers():
    """`<Location "/"> Require all denied` with only the client API opened: the media and federation
    paths are a configured 403 route (not the fallback), which cross-server rules can select."""
    config = model(vhost("""
    <Location "/">
        Require all denied
    </Location>
    <Location "/_matrix/client/">
        Require all granted
        ProxyPass http://127.0.0.1:8008/_matrix/client/ nocanon
    </Location>"""))
    for path in ("/_matrix/media/v3/download/example.org/abc", "/_matrix/federation/v1/version"):
        for method in ("GET", "OPTIONS"):
            route = pick(config, path, method)
            assert (route.action.kind, route.action.status) == ("respond", 403), (path, method)
            assert route.access_restricted and not route.fallback
            assert route.action.span.line == 5                    # the Require all denied
            assert route.match.text == "<Location />"
            assert route.action.content_type == "text/html; charset=iso-8859-1"
            assert route in config.sites[0].routes
    assert pick(config, "/_matrix/client/versions").action.kind == "proxy"


def test_refusals_carry_apaches_error_page_type():
    config = model(vhost(PASS))
    site = config.sites[0]
    request = Request("GET", "https", "matrix.example.org", 443, "/_matrix/client/v3/a%2Fb")
    refused = refusal(site, request, select_request(site, request)[0])
    assert (refused.status, refused.content_type) == (404, "text/html; charset=iso-8859-1")
