"""Smoke tests: the harness drives the real HAProxy.

Expected values from HAProxy's configuration.txt: HTTP/1.1 to the server, the request target
forwarded as received, backend errors passed through, "503 when no server was available to handle
the request" (section 1.3.1), and header names in lower case on HTTP/1 (section 1.3.2 / 1.4.2:
"HTTP/1 header names are lower-cased" since 2.1's HTX).
"""
from __future__ import annotations

MATRIX_CFG = """
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend fe
    bind :80
    acl is_matrix path_beg /_matrix /_synapse/client
    use_backend synapse if is_matrix

backend synapse
    server synapse synapse.internal:8008
"""


def test_versions_reach_the_homeserver(haproxy, fake_homeserver):
    proxy = haproxy(MATRIX_CFG)
    response = proxy.request("GET", "/_matrix/client/versions", host="matrix.example.org")
    assert response.status == 200
    assert "v1.1" in response.json()["versions"]
    got = fake_homeserver.last()
    assert got.request_line == b"GET /_matrix/client/versions HTTP/1.1"
    assert got.header_values("host") == ["matrix.example.org"]
    assert [name for name, _ in response.headers] == [name.lower() for name, _ in response.headers]
    assert response.header_values("Access-Control-Allow-Origin") == ["*"]


def test_target_is_forwarded_as_received(haproxy, fake_homeserver):
    proxy = haproxy(MATRIX_CFG)
    proxy.request("GET", "/_matrix/media/v3/download/example.org/a%2Fb%40c//d")
    assert fake_homeserver.last().request_line == b"GET /_matrix/media/v3/download/example.org/a%2Fb%40c//d HTTP/1.1"


def test_upstream_500_passes_through(haproxy, fake_homeserver):
    fake_homeserver.fail_with = 500
    assert haproxy(MATRIX_CFG).request("GET", "/_matrix/client/versions").status == 500


def test_upstream_down_gives_503(haproxy, down_upstream):
    # `retries 0`: otherwise HAProxy retries the refused connection 3 times, 1 s apart.
    config = MATRIX_CFG.replace("    mode http\n", "    mode http\n    retries 0\n", 1)
    response = haproxy(config, upstream=down_upstream).request("GET", "/_matrix/client/versions")
    assert response.status == 503


def test_no_matching_backend_gives_503(haproxy, fake_homeserver):
    assert haproxy(MATRIX_CFG).request("GET", "/").status == 503
    assert fake_homeserver.requests == []


def test_tls_bind(haproxy, fake_homeserver):
    proxy = haproxy("""
        global
            log /dev/log local0
            chroot /var/lib/haproxy
            user haproxy
            daemon
        defaults
            mode http
            timeout connect 2s
            timeout client 10s
            timeout server 10s
        frontend https
            bind :::443 v4v6 ssl crt /etc/haproxy/certs/ alpn h2,http/1.1
            bind :::8448 v4v6 ssl crt /etc/haproxy/certs/
            default_backend synapse
        backend synapse
            server synapse 127.0.0.1:8008 ssl verify none
        """)
    assert sorted(proxy.listeners) == [443, 8448]
    assert all(listener.tls for listener in proxy.listeners.values())
    assert proxy.request("GET", "/_matrix/client/versions", listen=8448).status == 200
    assert fake_homeserver.last().request_line == b"GET /_matrix/client/versions HTTP/1.1"
