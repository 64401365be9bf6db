"""The routing rules' claims (rules/routing.py), shown on the real servers: the bad fixture's
route is dead or its path blocked, the good fixture's is not. The fixtures are the rule fixtures
test_rule_fixtures.py lints, so what the linter flags and what the server does are the same files.
"""
from __future__ import annotations

from pathlib import Path

from linter.engine import lint

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
VERSIONS = "/_matrix/client/versions"
MEDIA = "/_matrix/media/v3/download/example.org/abcdefgh"


def codes(path: Path, server: str) -> set:
    return {f.rule.code for f in lint([str(path)], server=server).findings}


def test_mpl901_caddy_respond_without_matcher_answers_before_reverse_proxy(caddy, fake_homeserver):
    bad_path = FIXTURES / "caddy" / "routing-route-unreachable.bad.Caddyfile"
    good_path = FIXTURES / "caddy" / "routing-route-unreachable.good.Caddyfile"
    assert "MPL901" in codes(bad_path, "caddy") and "MPL901" not in codes(good_path, "caddy")
    bad = caddy(bad_path)
    for target in (VERSIONS, "/_synapse/client/oidc/callback"):
        assert bad.request("GET", target).status == 403
    assert fake_homeserver.requests == []
    good = caddy(good_path)
    assert good.request("GET", VERSIONS).status == 200
    assert fake_homeserver.last().request_line == b"GET /_matrix/client/versions HTTP/1.1"
    assert good.request("GET", "/elsewhere").status == 403


def test_mpl901_haproxy_deny_without_condition_runs_before_use_backend(haproxy, fake_homeserver):
    bad_path = FIXTURES / "haproxy" / "routing-route-unreachable.bad.cfg"
    good_path = FIXTURES / "haproxy" / "routing-route-unreachable.good.cfg"
    assert "MPL901" in codes(bad_path, "haproxy") and "MPL901" not in codes(good_path, "haproxy")
    bad = haproxy(bad_path)
    assert bad.request("GET", VERSIONS, listen=443).status == 403
    assert fake_homeserver.requests == []
    good = haproxy(good_path)
    assert good.request("GET", VERSIONS, listen=443).status == 200
    assert fake_homeserver.last().request_line == b"GET /_matrix/client/versions HTTP/1.1"
    assert good.request("GET", "/elsewhere", listen=443).status == 403


def test_mpl903_apache_location_denied_blocks_media_next_to_the_proxied_client_api(apache, fake_homeserver):
    bad_path = FIXTURES / "apache" / "routing-matrix-path-blocked.bad.conf"
    good_path = FIXTURES / "apache" / "routing-matrix-path-blocked.good.conf"
    assert "MPL903" in codes(bad_path, "apache") and "MPL903" not in codes(good_path, "apache")
    bad = apache(bad_path)
    assert bad.request("GET", VERSIONS, listen=443).status == 200
    fake_homeserver.clear()
    assert bad.request("GET", MEDIA, listen=443).status == 403
    assert fake_homeserver.requests == []
    good = apache(good_path)
    # The fake homeserver has no media: its own JSON 404 shows the request reached it.
    assert good.request("GET", MEDIA, listen=443).status != 403
    assert fake_homeserver.last().request_line == f"GET {MEDIA} HTTP/1.1".encode()


def test_mpl903_haproxy_deny_on_media_never_reaches_the_homeserver(haproxy, fake_homeserver):
    bad = haproxy(FIXTURES / "haproxy" / "routing-matrix-path-blocked.bad.cfg")
    assert bad.request("GET", MEDIA, listen=443).status == 403
    assert fake_homeserver.requests == []
    good = haproxy(FIXTURES / "haproxy" / "routing-matrix-path-blocked.good.cfg")
    # The fake homeserver has no media: its own JSON 404 shows the request reached it.
    assert good.request("GET", MEDIA, listen=443).status != 403
    assert fake_homeserver.last().request_line == f"GET {MEDIA} HTTP/1.1".encode()
