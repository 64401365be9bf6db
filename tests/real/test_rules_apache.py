"""Each Apache rule that claims something about httpd's behaviour, shown on the real Apache httpd,
plus the cross-server rules whose Apache reasons differ from nginx's.

For every such rule: the config it flags misbehaves the way its docs say, and the config its
"Use instead" suggests behaves. The linter's verdict on both is asserted too, so a rule and
reality cannot drift apart. (MPL606, mod_security, is not shown: Debian's apache2 package does
not ship mod_security2, and the harness installs nothing else.)
"""
from __future__ import annotations

from pathlib import Path

from linter.engine import front_end, run_rules
from linter.matrix import annotate
from linter.rule import load_rules

RULES = {r.code: r for r in load_rules(plugins=False)}
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "apache"
PREFLIGHT = [("Origin", "https://app.element.io"), ("Access-Control-Request-Method", "PUT")]
GOOD_VHOST = """<VirtualHost *:443>
    SSLEngine on
    ServerName matrix.example.org
    AllowEncodedSlashes NoDecode
    ProxyPreserveHost On
    RequestHeader set X-Forwarded-Proto expr=%{REQUEST_SCHEME}
    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
</VirtualHost>
"""


def flagged(code: str, text: str, tmp_path) -> bool:
    path = tmp_path / f"{code}.conf"
    path.write_text(text)
    parse, build = front_end("apache")
    config = build.build(parse.load(str(path)), {})
    annotate(config)
    return bool(list(run_rules(config, [RULES[code]])))


def test_mpl601_without_nocanon_the_homeserver_gets_a_rebuilt_path(apache, fake_homeserver, tmp_path):
    bad = GOOD_VHOST.replace("/_matrix nocanon", "/_matrix")
    target = "/_matrix/federation/v1/invite/%21room%3Aexample.org/%24ev?x=%2F"
    apache(bad).request("GET", target)
    assert fake_homeserver.last().target == b"/_matrix/federation/v1/invite/!room:example.org/$ev?x=%2F"
    apache(GOOD_VHOST).request("GET", target)
    assert fake_homeserver.last().target == target.encode()
    assert flagged("MPL601", bad, tmp_path) and not flagged("MPL601", GOOD_VHOST, tmp_path)
    assert flagged("MPL201", bad, tmp_path) and not flagged("MPL201", GOOD_VHOST, tmp_path)


def test_mpl602_encoded_slash_is_a_404_unless_encoded_slashes_are_allowed(apache, fake_homeserver, tmp_path):
    target = "/_matrix/client/v3/directory/room/%23a%2Fb%3Aexample.org"
    off = GOOD_VHOST.replace("    AllowEncodedSlashes NoDecode\n", "")
    assert apache(off).request("GET", target).status == 404
    assert fake_homeserver.requests == []
    # The main server's setting does not reach the virtual host.
    inherited = "AllowEncodedSlashes NoDecode\n" + off
    assert apache(inherited).request("GET", target).status == 404
    assert fake_homeserver.requests == []
    # With nocanon, `On` passes the raw target too (only `Off` refuses it).
    for text in (GOOD_VHOST, GOOD_VHOST.replace("NoDecode", "On")):
        apache(text).request("GET", target)
        assert fake_homeserver.last().target == target.encode()
    assert flagged("MPL602", off, tmp_path) and flagged("MPL602", inherited, tmp_path)
    assert not flagged("MPL602", GOOD_VHOST, tmp_path)
    assert not flagged("MPL602", GOOD_VHOST.replace("NoDecode", "On"), tmp_path)


def test_mpl603_without_preserve_host_synapse_sees_the_backend_address(apache, fake_homeserver, tmp_path):
    bad = GOOD_VHOST.replace("    ProxyPreserveHost On\n", "")
    apache(bad).request("GET", "/_matrix/client/versions", host="matrix.example.org")
    assert fake_homeserver.last().header("Host").startswith("127.0.0.1:")
    apache(GOOD_VHOST).request("GET", "/_matrix/client/versions", host="matrix.example.org")
    assert fake_homeserver.last().header("Host") == "matrix.example.org"
    assert flagged("MPL603", bad, tmp_path) and not flagged("MPL603", GOOD_VHOST, tmp_path)
    assert flagged("MPL403", bad, tmp_path) and not flagged("MPL403", GOOD_VHOST, tmp_path)


def test_mpl604_mod_proxy_adds_forwarded_for_never_forwarded_proto(apache, fake_homeserver, tmp_path):
    bad = GOOD_VHOST.replace("    RequestHeader set X-Forwarded-Proto expr=%{REQUEST_SCHEME}\n", "")
    apache(bad).request("GET", "/_matrix/client/versions", headers=[("X-Forwarded-For", "203.0.113.9")])
    seen = fake_homeserver.last()
    assert seen.header("X-Forwarded-Proto") is None
    assert seen.header("X-Forwarded-For") == "203.0.113.9, 127.0.0.1"    # appended, client value first
    apache(GOOD_VHOST).request("GET", "/_matrix/client/versions")
    assert fake_homeserver.last().header("X-Forwarded-Proto") == "https"
    assert flagged("MPL604", bad, tmp_path) and not flagged("MPL604", GOOD_VHOST, tmp_path)
    assert flagged("MPL402", bad, tmp_path) and not flagged("MPL402", GOOD_VHOST, tmp_path)


def test_mpl401_proxy_add_headers_off_drops_forwarded_for(apache, fake_homeserver, tmp_path):
    bad = GOOD_VHOST.replace("    ProxyPass", "    ProxyAddHeaders Off\n    ProxyPass")
    apache(bad).request("GET", "/_matrix/client/versions")
    assert fake_homeserver.last().header("X-Forwarded-For") is None
    assert flagged("MPL401", bad, tmp_path) and not flagged("MPL401", GOOD_VHOST, tmp_path)


def test_mpl605_proxy_requests_on_relays_any_url(apache, fake_homeserver, tmp_path):
    bad = GOOD_VHOST.replace("    ProxyPass", "    ProxyRequests On\n    ProxyPass").replace(
        "SSLEngine on", "SSLEngine off")
    good = bad.replace("ProxyRequests On", "ProxyRequests Off")
    request = (f"GET http://{fake_homeserver.authority}/internal/secret HTTP/1.1\r\n"
               f"Host: {fake_homeserver.authority}\r\nConnection: close\r\n\r\n").encode()
    apache(bad).send_raw(request)
    assert fake_homeserver.last().path == b"/internal/secret"          # relayed for a stranger
    fake_homeserver.clear()
    apache(good).send_raw(request)
    assert fake_homeserver.requests == []
    assert flagged("MPL605", bad, tmp_path) and not flagged("MPL605", good, tmp_path)


def test_mpl607_rewrite_proxy_rebuilds_the_path(apache, fake_homeserver, tmp_path):
    bad = GOOD_VHOST.replace("    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon",
                             "    RewriteEngine On\n"
                             "    RewriteRule ^/_matrix/(.*)$ http://127.0.0.1:8008/_matrix/$1 [P,L]")
    target = "/_matrix//federation/v1/event/%24abc%40x"
    apache(bad).request("GET", target)
    assert fake_homeserver.last().target == b"/_matrix/federation/v1/event/$abc@x"
    apache(GOOD_VHOST).request("GET", target)
    assert fake_homeserver.last().target == target.encode()
    assert flagged("MPL607", bad, tmp_path) and not flagged("MPL607", GOOD_VHOST, tmp_path)


def test_mpl101_header_set_is_missing_from_the_503(apache, down_upstream, tmp_path):
    bad = GOOD_VHOST.replace("    ProxyPass", '    Header set Access-Control-Allow-Origin "*"\n    ProxyPass')
    good = bad.replace('    Header set', '    Header onsuccess unset Access-Control-Allow-Origin\n    Header always set')
    for text, values in ((bad, []), (good, ["*"])):
        r = apache(text, upstream=down_upstream).request("GET", "/_matrix/client/versions")
        assert r.status == 503
        assert r.header_values("Access-Control-Allow-Origin") == values
    assert flagged("MPL101", bad, tmp_path) and not flagged("MPL101", good, tmp_path)


def test_mpl106_header_always_set_writes_a_second_origin(apache, tmp_path):
    bad = GOOD_VHOST.replace("    ProxyPass", '    Header always set Access-Control-Allow-Origin "*"\n    ProxyPass')
    good = bad.replace('    Header always', '    Header onsuccess unset Access-Control-Allow-Origin\n    Header always')
    assert apache(bad).request("GET", "/_matrix/client/versions").header_values("Access-Control-Allow-Origin") == \
        ["*", "*"]
    assert apache(good).request("GET", "/_matrix/client/versions").header_values("Access-Control-Allow-Origin") == \
        ["*"]
    assert flagged("MPL106", bad, tmp_path) and not flagged("MPL106", good, tmp_path)


def test_mpl102_preflight_answered_by_a_rewrite_lacks_cors(apache, fake_homeserver, tmp_path):
    bad = GOOD_VHOST.replace("    ProxyPass", "    RewriteEngine On\n    RewriteCond %{REQUEST_METHOD} OPTIONS\n"
                                             "    RewriteRule ^/_matrix/ - [R=204,L]\n    ProxyPass")
    r = apache(bad).request("OPTIONS", "/_matrix/client/versions", headers=PREFLIGHT)
    assert r.status == 204 and r.header_values("Access-Control-Allow-Origin") == []
    assert not fake_homeserver.requests
    r = apache(GOOD_VHOST).request("OPTIONS", "/_matrix/client/versions", headers=PREFLIGHT)
    assert r.status == 204 and r.header_values("Access-Control-Allow-Methods")     # Synapse answers it
    assert flagged("MPL102", bad, tmp_path) and not flagged("MPL102", GOOD_VHOST, tmp_path)


def test_mpl304_a_file_without_extension_has_no_content_type(apache, tmp_path):
    # A directory the server's unprivileged user can read (pytest's tmp_path is private to root).
    served = FIXTURES / "next-line" / "srv" / "matrix-wellknown" / ".well-known" / "matrix"
    bad = GOOD_VHOST.replace("    ProxyPass", f"    Alias /.well-known/matrix/server {served}/server\n"
                                             f"    <Directory {served}>\n        Require all granted\n"
                                             f"    </Directory>\n    ProxyPass")
    good = bad.replace("    ProxyPass", "    <Location /.well-known/matrix/server>\n"
                                        "        ForceType application/json\n    </Location>\n    ProxyPass")
    r = apache(bad).request("GET", "/.well-known/matrix/server")
    assert r.status == 200 and r.header_values("Content-Type") == []
    r = apache(good).request("GET", "/.well-known/matrix/server")
    assert r.status == 200 and r.header_values("Content-Type") == ["application/json"]
    assert flagged("MPL304", bad, tmp_path) and not flagged("MPL304", good, tmp_path)


def test_mpl301_304_305_rewrite_r200_answers_with_apaches_error_page(apache, fake_homeserver, tmp_path):
    """The delegation guide's `Header set …` plus `RewriteRule .* - [R=200,L]`: Apache sends its
    HTML error page with status 200, none of the `Header set` lines; ErrorDocument 200 and `Header
    always` make it the JSON document with its type and CORS."""
    bad = (FIXTURES / "wellknown-rewrite-error-page.bad.conf").read_text()
    good = (FIXTURES / "wellknown-rewrite-error-page.good.conf").read_text()
    origin = [("Origin", "https://app.element.io")]
    for path in ("/.well-known/matrix/client", "/.well-known/matrix/server"):
        r = apache(bad).request("GET", path, headers=origin)
        assert r.status == 200 and r.header_values("Content-Type") == ["text/html; charset=iso-8859-1"]
        assert r.header_values("Access-Control-Allow-Origin") == []
        assert r.body.startswith(b"<!DOCTYPE HTML")
    r = apache(good).request("GET", "/.well-known/matrix/client", headers=origin)
    assert r.status == 200 and r.header_values("Content-Type") == ["application/json"]
    assert r.header_values("Access-Control-Allow-Origin") == ["*"]
    assert r.json() == {"m.homeserver": {"base_url": "https://matrix.example.org"}}
    r = apache(good).request("GET", "/.well-known/matrix/server")
    assert r.header_values("Content-Type") == ["application/json"] and r.json() == {"m.server": "matrix.example.org:443"}
    assert fake_homeserver.requests == []
    for code in ("MPL301", "MPL304", "MPL305"):
        assert flagged(code, bad, tmp_path) and not flagged(code, good, tmp_path), code


def test_default_handling_of_a_static_only_vhost(apache, tmp_path):
    """A vhost that proxies nothing: OPTIONS is 200 with `Allow` (core's default handling), not
    a 404, and what nothing serves is Apache's 404 page; the model's fallback says the same."""
    from linter.apache.routing import select_request
    from linter.predict import outcomes
    from linter.select import Request

    text = "<VirtualHost *:80>\n    ServerName example.org\n</VirtualHost>\n"
    path = tmp_path / "static.conf"
    path.write_text(text)
    parse, build = front_end("apache")
    config = build.build(parse.load(str(path)), {})
    proxy = apache(text)
    for method, status in (("OPTIONS", 200), ("GET", 404), ("POST", 404), ("PUT", 405)):
        request = Request(method, "http", "example.org", 80, "/.well-known/matrix/client")
        route, _ = select_request(config.sites[0], request)
        (predicted,) = outcomes(route, request)
        r = proxy.request(method, "/.well-known/matrix/client")
        assert r.status == status == predicted.status, method
        assert r.header_values("Content-Type") == predicted.values("Content-Type"), method
        assert bool(r.header_values("Allow")) == bool(predicted.values("Allow")) == (status in (200, 405)), method
