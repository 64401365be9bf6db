"""Smoke tests: the harness drives the real nginx, and nginx behaves as its documentation says.

Expected values come from the nginx docs (ngx_http_proxy_module, ngx_http_core_module), not from
running it: proxy_http_version defaults to 1.0 and proxy_set_header to `Host $proxy_host` and
`Connection close`; a proxy_pass without a URI passes the request URI "in the same form as sent by
a client", one with a URI passes the *normalized* URI (%XX decoded, `.`/`..` resolved, adjacent
slashes merged — `location` docs).
"""
from __future__ import annotations

import pytest

from real.support import ConfigRejected

MATRIX_SITE = """
server {
    listen 80;
    server_name matrix.example.org;
    location /_matrix {
        proxy_pass http://synapse.internal:8008;
    }
}
"""


def test_versions_reach_the_homeserver_as_http_1_0(nginx, fake_homeserver):
    proxy = nginx(MATRIX_SITE)
    response = proxy.request("GET", "/_matrix/client/versions")
    assert response.status == 200
    assert "v1.1" in response.json()["versions"]
    got = fake_homeserver.last()
    assert got.request_line == b"GET /_matrix/client/versions HTTP/1.0"
    assert got.header_values("Connection") == ["close"]
    # Host is $proxy_host, i.e. the (rewritten) proxy_pass address — see the package docstring.
    assert got.header_values("Host") == [fake_homeserver.authority]
    # The homeserver's CORS header passes through once; nginx adds none of its own.
    assert response.header_values("Access-Control-Allow-Origin") == ["*"]


@pytest.mark.parametrize("sent, normalized", [
    (b"/_matrix/media/v3/download/example.org/a%2Fb%40c", b"/_matrix/media/v3/download/example.org/a/b@c"),
    (b"/_matrix//client/versions", b"/_matrix/client/versions"),
    (b"/_matrix/client/r0/../versions", b"/_matrix/client/versions"),
])
def test_proxy_pass_without_uri_passes_the_path_raw_and_with_uri_normalized(nginx, fake_homeserver, sent, normalized):
    proxy = nginx(f"""
        server {{
            listen 80;
            location /raw/ {{ proxy_pass http://{fake_homeserver.authority}; }}
            location / {{ proxy_pass http://{fake_homeserver.authority}/; }}
        }}""")
    proxy.request("GET", sent)
    assert fake_homeserver.last().request_line == b"GET " + normalized + b" HTTP/1.0"
    fake_homeserver.clear()
    proxy.request("GET", b"/raw" + sent)
    assert fake_homeserver.last().request_line == b"GET /raw" + sent + b" HTTP/1.0"


def test_upstream_500_is_passed_through_with_its_cors_headers(nginx, fake_homeserver):
    fake_homeserver.fail_with = 500
    response = nginx(MATRIX_SITE).request("GET", "/_matrix/client/versions")
    assert response.status == 500   # proxy_intercept_errors is off by default
    assert response.json()["errcode"] == "M_UNKNOWN"
    assert response.header_values("Access-Control-Allow-Origin") == ["*"]


def test_upstream_down_gives_502_without_cors(nginx, down_upstream, fake_homeserver):
    response = nginx(MATRIX_SITE, upstream=down_upstream).request("GET", "/_matrix/client/versions")
    assert response.status == 502
    # The error page is nginx's own: no CORS unless the config adds it with `always`.
    assert response.header("Access-Control-Allow-Origin") is None
    assert fake_homeserver.requests == []


def test_tls_listener_serves_https_and_refuses_plain_http(nginx, fake_homeserver):
    proxy = nginx("""
        server {
            listen 443 ssl;
            listen [::]:443 ssl;
            listen 8448 ssl default_server;
            server_name matrix.example.org;
            ssl_certificate /etc/letsencrypt/live/matrix.example.org/fullchain.pem;
            ssl_certificate_key /etc/letsencrypt/live/matrix.example.org/privkey.pem;
            ssl_stapling on;
            location /_matrix { proxy_pass http://127.0.0.1:8008; }
        }""")
    assert sorted(proxy.listeners) == [443, 8448]
    assert all(listener.tls for listener in proxy.listeners.values())
    for port in (443, 8448):
        assert proxy.request("GET", "/_matrix/client/versions", listen=port).status == 200
    assert len(fake_homeserver.requests_to(b"/_matrix/client/versions")) == 2
    # ngx_http_ssl_module: a plain request on an ssl port is error 497, answered as 400.
    from real.client import http_request
    assert http_request(proxy.port(443), "GET", "/_matrix/client/versions").status == 400
    assert any("ssl_stapling" in note for note in proxy.rendered.notes)


@pytest.mark.parametrize("chunked", [False, True])
def test_body_over_client_max_body_size_gets_413_and_never_reaches_upstream(nginx, fake_homeserver, chunked):
    proxy = nginx("""
        server {
            listen 80;
            client_max_body_size 1k;
            location /_matrix { proxy_pass http://127.0.0.1:8008; }
        }""")
    response = proxy.request("POST", "/_matrix/media/v3/upload", body=b"x" * 4096, chunked=chunked,
                             headers=[("Content-Type", "application/octet-stream")])
    assert response.status == 413
    assert fake_homeserver.requests == []
    small = proxy.request("POST", "/_matrix/media/v3/upload", body=b"x" * 1000, chunked=chunked)
    assert small.status == 404    # reached the fake homeserver, which does not know the endpoint
    assert fake_homeserver.last().body == b"x" * 1000


def test_upstream_block_servers_are_pointed_at_the_target(nginx, fake_homeserver):
    proxy = nginx("""
        upstream synapse {
            server synapse-main.internal:8008 max_fails=3;
            keepalive 4;
        }
        server {
            listen 80;
            location /_matrix {
                proxy_pass http://synapse;
                proxy_http_version 1.1;
                proxy_set_header Connection "";
                proxy_set_header Host $host;
            }
        }""")
    proxy.request("GET", "/_matrix/client/versions", host="matrix.example.org")
    got = fake_homeserver.last()
    assert got.request_line == b"GET /_matrix/client/versions HTTP/1.1"
    assert got.header_values("Host") == ["matrix.example.org"]
    assert "server 127.0.0.1:%d max_fails=3;" % fake_homeserver.port in proxy.config_text


def test_rejected_config_fails_with_nginx_own_message(nginx):
    with pytest.raises(ConfigRejected) as rejected:
        nginx("server { listen 80; location / { add_header X-Only-A-Name; } }")
    assert 'invalid number of arguments in "add_header" directive' in str(rejected.value)
    assert "add_header X-Only-A-Name;" in str(rejected.value)   # the rendered config is shown


def test_missing_include_skips_with_its_name(nginx):
    with pytest.raises(pytest.skip.Exception) as skipped:
        nginx("server { listen 80; include /etc/letsencrypt/options-ssl-nginx.conf; }")
    assert "/etc/letsencrypt/options-ssl-nginx.conf" in str(skipped.value)
