"""Each nginx rule that claims something about server behaviour, shown on the real nginx.

For every such rule: the config it flags misbehaves the way its docs say, and the config its
"Use instead" suggests behaves. The linter's verdict on both is asserted too, so a rule and
reality cannot drift apart.
"""
from __future__ import annotations

import pytest

from linter.engine import front_end, run_rules
from linter.matrix import annotate
from linter.rule import load_rules

RULES = {r.code: r for r in load_rules(plugins=False)}
PREFLIGHT = [("Origin", "https://app.element.io"), ("Access-Control-Request-Method", "PUT")]


def flagged(code: str, text: str, tmp_path) -> bool:
    path = tmp_path / f"{code}.conf"
    path.write_text(text)
    parse, build = front_end("nginx")
    config = build.build(parse.load(str(path)), {})
    annotate(config)
    return bool(list(run_rules(config, [RULES[code]])))


def server(body: str, listen="443 ssl") -> str:
    return f"server {{\n    listen {listen};\n    server_name matrix.example.org;\n{body}\n}}\n"


PROXY = """        proxy_pass http://127.0.0.1:8008;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header X-Forwarded-Proto $scheme;"""


def test_mpl101_header_without_always_is_missing_from_the_502(nginx, down_upstream, tmp_path):
    bad = server("    location /_matrix {\n        proxy_hide_header Access-Control-Allow-Origin;\n"
                 "        add_header Access-Control-Allow-Origin *;\n" + PROXY + "\n    }")
    good = bad.replace("Access-Control-Allow-Origin *;", "Access-Control-Allow-Origin * always;")
    for text, has_it in ((bad, False), (good, True)):
        r = nginx(text, upstream=down_upstream).request("GET", "/_matrix/client/versions")
        assert r.status == 502
        assert (r.header_values("Access-Control-Allow-Origin") == ["*"]) is has_it
    assert flagged("MPL101", bad, tmp_path) and not flagged("MPL101", good, tmp_path)


def test_mpl501_location_add_header_drops_the_servers_headers(nginx, tmp_path):
    bad = server('    add_header Strict-Transport-Security "max-age=1" always;\n'
                 "    location = /.well-known/matrix/client {\n        default_type application/json;\n"
                 "        add_header Access-Control-Allow-Origin * always;\n"
                 "        return 200 '{\"m.homeserver\": {\"base_url\": \"https://matrix.example.org\"}}';\n    }")
    good = bad.replace("        add_header Access-Control-Allow-Origin * always;\n",
                       "        add_header Access-Control-Allow-Origin * always;\n"
                       '        add_header Strict-Transport-Security "max-age=1" always;\n')
    assert nginx(bad).request("GET", "/.well-known/matrix/client").header_values("Strict-Transport-Security") == []
    assert nginx(good).request("GET", "/.well-known/matrix/client").header_values("Strict-Transport-Security") == ["max-age=1"]
    assert flagged("MPL501", bad, tmp_path) and not flagged("MPL501", good, tmp_path)


def test_mpl102_preflight_answered_by_nginx_lacks_cors(nginx, fake_homeserver, tmp_path):
    bad = server("    location /_matrix {\n        if ($request_method = OPTIONS) {\n"
                 "            add_header Access-Control-Allow-Origin *;\n            return 204;\n        }\n"
                 + PROXY + "\n    }")
    good = server("    location /_matrix {\n" + PROXY + "\n    }")
    r = nginx(bad).request("OPTIONS", "/_matrix/client/versions", headers=PREFLIGHT)
    assert r.status == 204 and r.header_values("Access-Control-Allow-Methods") == []
    assert not fake_homeserver.requests
    r = nginx(good).request("OPTIONS", "/_matrix/client/versions", headers=PREFLIGHT)
    assert r.status == 204 and r.header_values("Access-Control-Allow-Methods")   # Synapse answers it
    assert flagged("MPL102", bad, tmp_path) and not flagged("MPL102", good, tmp_path)


def test_mpl106_appended_origin_doubles_the_homeservers(nginx, tmp_path):
    bad = server("    location /_matrix {\n        add_header Access-Control-Allow-Origin * always;\n" + PROXY + "\n    }")
    good = bad.replace("        add_header", "        proxy_hide_header Access-Control-Allow-Origin;\n        add_header")
    assert nginx(bad).request("GET", "/_matrix/client/versions").header_values("Access-Control-Allow-Origin") == ["*", "*"]
    assert nginx(good).request("GET", "/_matrix/client/versions").header_values("Access-Control-Allow-Origin") == ["*"]
    assert flagged("MPL106", bad, tmp_path) and not flagged("MPL106", good, tmp_path)


@pytest.mark.parametrize("proxy_pass", ["http://127.0.0.1:8008/", "http://127.0.0.1:8008/_matrix",
                                        "http://127.0.0.1:8008$uri"])
def test_mpl201_uri_part_or_uri_variable_decodes_what_synapse_signs(nginx, fake_homeserver, proxy_pass, tmp_path):
    location = "/" if proxy_pass.endswith(":8008/") else "/_matrix"
    bad = server(f"    location {location} {{\n" + PROXY.replace("http://127.0.0.1:8008;", f"{proxy_pass};") + "\n    }")
    good = server(f"    location {location} {{\n" + PROXY + "\n    }")
    target = "/_matrix/federation/v1/event/%24abc%2Fdef?x=%2F"
    nginx(bad).request("GET", target)
    decoded = b"/_matrix/federation/v1/event/$abc/def"
    # With a variable the URI is passed "as is": $uri has no query string, so it is lost too.
    assert fake_homeserver.last().target == (decoded if "$uri" in proxy_pass else decoded + b"?x=%2F")
    nginx(good).request("GET", target)
    assert fake_homeserver.last().target == target.encode()
    assert flagged("MPL201", bad, tmp_path) and not flagged("MPL201", good, tmp_path)


def test_mpl304_return_body_gets_the_default_type_and_add_header_doubles_it(nginx, tmp_path):
    plain = ("http {\n" + server("    location = /.well-known/matrix/server {\n"
                                 "        return 200 '{\"m.server\": \"matrix.example.org:443\"}';\n    }") + "}\n")
    doubled = plain.replace("        return", "        add_header Content-Type application/json;\n        return")
    good = plain.replace("        return", "        default_type application/json;\n        return")
    assert nginx(plain).request("GET", "/.well-known/matrix/server").header_values("Content-Type") == ["text/plain"]
    assert nginx(doubled).request("GET", "/.well-known/matrix/server").header_values("Content-Type") == \
        ["text/plain", "application/json"]
    assert nginx(good).request("GET", "/.well-known/matrix/server").header_values("Content-Type") == ["application/json"]
    assert flagged("MPL304", plain, tmp_path) and flagged("MPL304", doubled, tmp_path)
    assert not flagged("MPL304", good, tmp_path)


def test_mpl305_client_wellknown_without_origin_header(nginx, tmp_path):
    bad = server("    location = /.well-known/matrix/client {\n        default_type application/json;\n"
                 "        return 200 '{\"m.homeserver\": {\"base_url\": \"https://matrix.example.org\"}}';\n    }")
    good = bad.replace("        return", "        add_header Access-Control-Allow-Origin * always;\n        return")
    assert nginx(bad).request("GET", "/.well-known/matrix/client").header_values("Access-Control-Allow-Origin") == []
    assert nginx(good).request("GET", "/.well-known/matrix/client").header_values("Access-Control-Allow-Origin") == ["*"]
    assert flagged("MPL305", bad, tmp_path) and not flagged("MPL305", good, tmp_path)


def test_mpl404_default_body_limit_refuses_a_2m_upload(nginx, fake_homeserver, tmp_path):
    bad = "http {\n" + server("    location /_matrix {\n" + PROXY + "\n    }") + "}\n"
    good = bad.replace("        proxy_pass", "        client_max_body_size 50M;\n        proxy_pass")
    body = b"x" * (2 * 1024 * 1024)
    r = nginx(bad).request("POST", "/_matrix/media/v3/upload", body=body)
    assert r.status == 413 and not fake_homeserver.requests
    # A body this size is buffered to a temp file; the harness's temp dirs belong to root, so only
    # the Content-Length check is asserted for the fixed config: it no longer answers 413.
    assert nginx(good).request("POST", "/_matrix/media/v3/upload", body=body).status != 413
    assert flagged("MPL404", bad, tmp_path) and not flagged("MPL404", good, tmp_path)


def test_mpl401_403_what_the_homeserver_receives(nginx, fake_homeserver, tmp_path):
    bad = server("    location /_matrix {\n        proxy_pass http://127.0.0.1:8008;\n    }")
    good = server("    location /_matrix {\n" + PROXY + "\n    }")
    nginx(bad).request("GET", "/_matrix/client/versions", host="matrix.example.org")
    seen = fake_homeserver.last()
    assert seen.header("X-Forwarded-For") is None and seen.header("X-Forwarded-Proto") is None
    assert seen.header("Host") != "matrix.example.org"
    nginx(good).request("GET", "/_matrix/client/versions", host="matrix.example.org")
    seen = fake_homeserver.last()
    assert seen.header("X-Forwarded-For") == "127.0.0.1" and seen.header("X-Forwarded-Proto") == "https"
    assert seen.header("Host") == "matrix.example.org"
    for code in ("MPL401", "MPL402", "MPL403"):
        assert flagged(code, bad, tmp_path) and not flagged(code, good, tmp_path)


def test_mpl405_admin_api_reaches_synapse_through_a_catch_all(nginx, fake_homeserver, tmp_path):
    bad = server("    location / {\n" + PROXY + "\n    }")
    good = server("    location ~ ^(/_matrix|/_synapse/client) {\n" + PROXY + "\n    }")
    nginx(bad).request("GET", "/_synapse/admin/v1/users/@a:example.org")
    assert fake_homeserver.requests_to(b"/_synapse/admin")
    fake_homeserver.clear()
    nginx(good).request("GET", "/_synapse/admin/v1/users/@a:example.org")
    assert not fake_homeserver.requests
    assert flagged("MPL405", bad, tmp_path) and not flagged("MPL405", good, tmp_path)


def test_mpl406_appended_forwarded_for_puts_the_clients_forgery_first(nginx, fake_homeserver, tmp_path):
    """Synapse takes the left-most X-Forwarded-For value: with `$proxy_add_x_forwarded_for` that is
    whatever the client wrote; with `$remote_addr` it is the client's real address."""
    good = server("    location /_matrix {\n" + PROXY + "\n        client_max_body_size 50M;\n    }")
    bad = good.replace("X-Forwarded-For $remote_addr", "X-Forwarded-For $proxy_add_x_forwarded_for")
    spoof = [("X-Forwarded-For", "6.6.6.6")]
    nginx(bad).request("GET", "/_matrix/client/versions", headers=spoof)
    assert [v.strip() for v in fake_homeserver.last().header("X-Forwarded-For").split(",")] == ["6.6.6.6", "127.0.0.1"]
    nginx(good).request("GET", "/_matrix/client/versions", headers=spoof)
    assert fake_homeserver.last().header("X-Forwarded-For") == "127.0.0.1"
    assert flagged("MPL406", bad, tmp_path) and not flagged("MPL406", good, tmp_path)


def test_mpl405_catch_all_to_another_application_is_not_the_admin_api(nginx, fake_homeserver, down_upstream, tmp_path):
    """`location /` next to the Matrix locations, proxying to some other application: the admin API
    does not reach the homeserver, and the linter does not claim it does."""
    other = server("    location /_matrix {\n" + PROXY + "\n    }\n"
                   "    location / {\n        proxy_pass http://web:3000;\n    }")
    homeserver_too = other.replace("http://web:3000", "http://127.0.0.1:8008")
    proxy = nginx(other, upstream={"127.0.0.1:8008": fake_homeserver, "web:3000": down_upstream})
    assert proxy.request("GET", "/_synapse/admin/v1/users/@a:example.org").status == 502
    assert not fake_homeserver.requests
    nginx(homeserver_too).request("GET", "/_synapse/admin/v1/users/@a:example.org")
    assert fake_homeserver.requests_to(b"/_synapse/admin")
    assert not flagged("MPL405", other, tmp_path) and flagged("MPL405", homeserver_too, tmp_path)
    for code in ("MPL401", "MPL402", "MPL403"):
        assert not flagged(code, other, tmp_path)
