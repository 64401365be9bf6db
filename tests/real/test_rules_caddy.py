"""Each behavioural rule's claim, shown on the real Caddy: the bad fixture misbehaves, the good one does not.

The fixtures are the rule fixtures in tests/fixtures/caddy (the ones test_rule_fixtures.py lints),
so what the linter flags and what Caddy does are about the same files.
"""
from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "caddy"


def fixture(name: str) -> Path:
    return FIXTURES / name




def test_mpl701_caddy_2_refuses_v1_leftovers(caddy):
    from real.support import ConfigRejected

    with pytest.raises(ConfigRejected, match="unrecognized directive: cors"):
        caddy(fixture("caddy-v1-directive.bad.Caddyfile"))
    proxy = caddy(fixture("caddy-v1-directive.good.Caddyfile"))
    assert proxy.request("GET", "/_matrix/client/versions").status == 200


def test_mpl702_handle_path_strips_the_matrix_prefix(caddy, fake_homeserver):
    bad = caddy(fixture("caddy-matrix-prefix-stripped.bad.Caddyfile"))
    assert bad.request("GET", "/_matrix/client/versions").status == 404
    assert fake_homeserver.last().request_line == b"GET /client/versions HTTP/1.1"
    bad.request("GET", "/_synapse/client/oidc/callback")
    assert fake_homeserver.last().request_line == b"GET /client/oidc/callback HTTP/1.1"
    good = caddy(fixture("caddy-matrix-prefix-stripped.good.Caddyfile"))
    assert good.request("GET", "/_matrix/client/versions").status == 200
    assert fake_homeserver.last().request_line == b"GET /_matrix/client/versions HTTP/1.1"


def test_mpl703_wildcard_after_the_prefix_also_matches_longer_names(caddy, fake_homeserver):
    bad = caddy(fixture("caddy-path-wildcard-overmatch.bad.Caddyfile"))
    bad.request("GET", "/_matrixfoo")
    assert fake_homeserver.last().request_line == b"GET /_matrixfoo HTTP/1.1"
    fake_homeserver.clear()
    good = caddy(fixture("caddy-path-wildcard-overmatch.good.Caddyfile"))
    good.request("GET", "/_matrixfoo")
    assert fake_homeserver.requests == []


def test_mpl704_path_without_wildcard_matches_one_path(caddy, fake_homeserver):
    bad = caddy(fixture("caddy-path-matcher-exact.bad.Caddyfile"))
    response = bad.request("GET", "/_matrix/client/versions")
    assert fake_homeserver.requests == [] and response.status == 200 and response.body == b""
    good = caddy(fixture("caddy-path-matcher-exact.good.Caddyfile"))
    assert good.request("GET", "/_matrix/client/versions").json()["versions"]


def test_mpl705_header_runs_before_the_proxy_and_duplicates_the_list(caddy):
    bad = caddy(fixture("caddy-header-before-proxy.bad.Caddyfile")).request("GET", "/_matrix/client/versions")
    assert sorted(bad.header_values("Access-Control-Allow-Methods")) == [
        "GET, HEAD, POST, PUT, DELETE, OPTIONS", "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH"]
    assert len(bad.header_values("Access-Control-Allow-Headers")) == 2
    good = caddy(fixture("caddy-header-before-proxy.good.Caddyfile")).request("GET", "/_matrix/client/versions")
    assert good.header_values("Access-Control-Allow-Methods") == ["GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH"]


def test_mpl106_caddy_sends_two_allow_origin_values(caddy):
    bad = caddy(fixture("cors-duplicate-origin.bad.Caddyfile")).request("GET", "/_matrix/client/versions")
    assert bad.header_values("Access-Control-Allow-Origin") == ["*", "*"]
    good = caddy(fixture("cors-duplicate-origin.good.Caddyfile")).request("GET", "/_matrix/client/versions")
    assert good.header_values("Access-Control-Allow-Origin") == ["*"]


def test_mpl106_fix_also_covers_caddys_own_502(caddy, down_upstream):
    down = caddy(fixture("cors-duplicate-origin.good.Caddyfile"), upstream=down_upstream)
    response = down.request("GET", "/_matrix/client/versions")
    assert response.status == 502 and response.header_values("Access-Control-Allow-Origin") == ["*"]


def test_mpl101_deferred_header_is_missing_from_caddys_502(caddy, down_upstream):
    up = caddy(fixture("cors-header-without-always.bad.Caddyfile")).request("GET", "/_matrix/client/versions")
    assert up.header_values("Access-Control-Allow-Origin") == ["*"]
    down = caddy(fixture("cors-header-without-always.bad.Caddyfile"), upstream=down_upstream)
    response = down.request("GET", "/_matrix/client/versions")
    assert response.status == 502 and response.header_values("Access-Control-Allow-Origin") == []


def test_mpl102_preflight_answered_by_caddy_lacks_the_lists(caddy, fake_homeserver):
    preflight = [("Origin", "https://app.element.io"), ("Access-Control-Request-Method", "PUT")]
    bad = caddy(fixture("cors-preflight-incomplete.bad.Caddyfile"))
    response = bad.request("OPTIONS", "/_matrix/client/versions", headers=preflight)
    assert response.status == 204 and fake_homeserver.requests == []
    assert response.header_values("Access-Control-Allow-Methods") == []
    good = caddy(fixture("cors-preflight-incomplete.good.Caddyfile"))
    response = good.request("OPTIONS", "/_matrix/client/versions", headers=preflight)
    assert response.header("Access-Control-Allow-Methods") and response.header("Access-Control-Allow-Headers")


def test_mpl401_to_403_forwarding_headers_removed(caddy, fake_homeserver):
    caddy(fixture("forwarding.bad.Caddyfile")).request("GET", "/_matrix/client/versions")
    got = fake_homeserver.last()
    assert got.header("X-Forwarded-For") is None and got.header("X-Forwarded-Proto") is None
    assert got.header("Host") != "matrix.example.org"
    caddy(fixture("forwarding.good.Caddyfile")).request("GET", "/_matrix/client/versions")
    got = fake_homeserver.last()
    assert got.header("X-Forwarded-For") == "127.0.0.1" and got.header("X-Forwarded-Proto") == "https"
    assert got.header("Host") == "matrix.example.org"


def test_mpl404_one_megabyte_limit_refuses_an_upload(caddy, fake_homeserver):
    bad = caddy(fixture("forwarding.bad.Caddyfile"))
    assert bad.request("POST", "/_matrix/media/v3/upload", body=b"x" * 1_000_001).status == 413
    good = caddy(fixture("forwarding.good.Caddyfile"))
    good.request("POST", "/_matrix/media/v3/upload", body=b"x" * 1_000_001)
    assert len(fake_homeserver.last().body) == 1_000_001


def test_mpl201_rewrite_changes_what_synapse_receives(caddy, fake_homeserver):
    target = "/_matrix/federation/v1/event/%24abc%2Fdef"
    caddy(fixture("uri-canonicalised.bad.Caddyfile")).request("GET", target)
    assert fake_homeserver.last().target != target.encode()
    caddy(fixture("uri-canonicalised.good.Caddyfile")).request("GET", target)
    assert fake_homeserver.last().target == target.encode()


def test_mpl304_mpl305_wellknown_content_type_and_cors(caddy):
    bad = caddy(fixture("wellknown.bad.Caddyfile"))
    server = bad.request("GET", "/.well-known/matrix/server", host="example.org")
    assert server.header("Content-Type") == "text/plain; charset=utf-8"
    client = bad.request("GET", "/.well-known/matrix/client", host="example.org")
    assert client.header_values("Access-Control-Allow-Origin") == []
    good = caddy(fixture("wellknown.good.Caddyfile"))
    server = good.request("GET", "/.well-known/matrix/server", host="example.org")
    assert server.header("Content-Type") == "application/json" and server.json()["m.server"]
    client = good.request("GET", "/.well-known/matrix/client", host="example.org")
    assert client.header_values("Access-Control-Allow-Origin") == ["*"]
