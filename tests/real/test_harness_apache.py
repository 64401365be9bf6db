"""Smoke tests: the harness drives the real Apache httpd (mod_proxy_http).

Expected values from the Apache docs and source: mod_proxy_http talks HTTP/1.1 to the backend
unless `force-proxy-request-1.0` is set; ProxyErrorOverride is Off by default so backend errors
pass through; a backend that refuses the connection gives 503 (mod_proxy_http.c: "failed to make
connection to backend" → HTTP_SERVICE_UNAVAILABLE); AllowEncodedSlashes defaults to Off, which
answers 404 for a path containing %2F without proxying it.
"""
from __future__ import annotations

MATRIX_VHOST = """
<VirtualHost *:80>
    ServerName matrix.example.org
    ProxyPreserveHost On
    AllowEncodedSlashes NoDecode
    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    ProxyPassReverse /_matrix http://127.0.0.1:8008/_matrix
</VirtualHost>
"""


def test_versions_reach_the_homeserver(apache, fake_homeserver):
    proxy = apache(MATRIX_VHOST)
    response = proxy.request("GET", "/_matrix/client/versions")
    assert response.status == 200
    assert "v1.1" in response.json()["versions"]
    got = fake_homeserver.last()
    assert got.request_line == b"GET /_matrix/client/versions HTTP/1.1"
    assert got.header_values("Host") == ["matrix.example.org"]     # ProxyPreserveHost On
    assert got.header_values("X-Forwarded-Host") == ["matrix.example.org"]


def test_nocanon_with_noDecode_passes_encoded_slash_raw(apache, fake_homeserver):
    proxy = apache(MATRIX_VHOST)
    proxy.request("GET", "/_matrix/media/v3/download/example.org/a%2Fb%40c")
    assert fake_homeserver.last().request_line == b"GET /_matrix/media/v3/download/example.org/a%2Fb%40c HTTP/1.1"


def test_encoded_slash_is_refused_by_default(apache, fake_homeserver):
    proxy = apache("""
        <VirtualHost *:80>
            ProxyPass /_matrix http://127.0.0.1:8008/_matrix
        </VirtualHost>""")
    assert proxy.request("GET", "/_matrix/media/v3/download/example.org/a%2Fb").status == 404
    assert fake_homeserver.requests == []


def test_upstream_500_passes_through(apache, fake_homeserver):
    fake_homeserver.fail_with = 500
    response = apache(MATRIX_VHOST).request("GET", "/_matrix/client/versions")
    assert response.status == 500
    assert response.json()["errcode"] == "M_UNKNOWN"


def test_upstream_down_gives_503(apache, down_upstream):
    response = apache(MATRIX_VHOST, upstream=down_upstream).request("GET", "/_matrix/client/versions")
    assert response.status == 503


def test_tls_virtual_host(apache, fake_homeserver):
    proxy = apache("""
        Listen 443 https
        <VirtualHost *:443 [::]:443>
            ServerName matrix.example.org
            SSLEngine on
            SSLCertificateFile /etc/letsencrypt/live/matrix.example.org/fullchain.pem
            SSLCertificateKeyFile /etc/letsencrypt/live/matrix.example.org/privkey.pem
            SSLUseStapling on
            ProxyPass /_matrix http://synapse.internal:8008/_matrix nocanon
        </VirtualHost>""")
    listener = proxy.listener(443)
    assert listener.tls and listener.names == ["matrix.example.org"]
    assert proxy.request("GET", "/_matrix/client/versions", listen=443).status == 200
    assert fake_homeserver.last().header_values("X-Forwarded-Host") == ["matrix.example.org"]
