"""Smoke tests: the harness drives the real Caddy 2.

Expected values from Caddy's reverse_proxy docs and source: HTTP/1.1 to the upstream with the
client's Host kept and X-Forwarded-* added; upstream errors passed through; a failed dial is
"502 Bad Gateway" (reverseproxy.go statusError); a site address with a host name is served over
HTTPS (automatic HTTPS), `http://` ones over plain HTTP.
"""
from __future__ import annotations

import pytest

from real.support import ConfigRejected

MATRIX_CADDYFILE = """
matrix.example.org {
	reverse_proxy /_matrix/* localhost:8008
	reverse_proxy /_synapse/client/* localhost:8008
}

http://matrix.example.org:8080 {
	reverse_proxy /_matrix/* localhost:8008
}
"""


def test_versions_reach_the_homeserver_over_https(caddy, fake_homeserver):
    proxy = caddy(MATRIX_CADDYFILE)
    assert proxy.listener(443).tls and not proxy.listener(8080).tls
    response = proxy.request("GET", "/_matrix/client/versions", listen=443)
    assert response.status == 200
    assert "v1.1" in response.json()["versions"]
    got = fake_homeserver.last()
    assert got.request_line == b"GET /_matrix/client/versions HTTP/1.1"
    assert got.header_values("Host") == ["matrix.example.org"]
    assert got.header_values("X-Forwarded-Proto") == ["https"]


def test_plain_http_site(caddy, fake_homeserver):
    proxy = caddy(MATRIX_CADDYFILE)
    assert proxy.request("GET", "/_matrix/client/versions", listen=8080).status == 200
    assert fake_homeserver.last().header_values("X-Forwarded-Proto") == ["http"]


def test_upstream_500_passes_through(caddy, fake_homeserver):
    fake_homeserver.fail_with = 500
    assert caddy(MATRIX_CADDYFILE).request("GET", "/_matrix/client/versions", listen=443).status == 500


def test_upstream_down_gives_502(caddy, down_upstream):
    response = caddy(MATRIX_CADDYFILE, upstream=down_upstream).request("GET", "/_matrix/client/versions", listen=443)
    assert response.status == 502


def test_rejected_caddyfile_fails_with_caddy_message(caddy):
    with pytest.raises(ConfigRejected) as rejected:
        caddy("matrix.example.org {\n\treverse_proxy localhost:8008\n\tnot_a_directive foo\n}\n")
    assert "unrecognized directive: not_a_directive" in str(rejected.value)
