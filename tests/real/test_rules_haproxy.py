"""Each behavioural rule on the real HAProxy: the bad fixture misbehaves as the rule says, the good
one behaves. (The fixtures' findings themselves are checked by tests/test_rule_fixtures.py; the
model's predictions for them by test_model_haproxy.py.)
"""
from __future__ import annotations

from pathlib import Path

from linter.engine import lint
from real.haproxy_helpers import SlowUpstream

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "haproxy"
VERSIONS = "/_matrix/client/versions"


def fixture(name: str) -> Path:
    return FIXTURES / name


def codes(path: Path) -> set:
    return {f.rule.code for f in lint([str(path)], server="haproxy").findings}


def test_mpl801_http_response_never_reaches_a_return(haproxy, fake_homeserver):
    bad = haproxy(fixture("haproxy-cors-on-generated-response.bad.cfg"))
    response = bad.request("GET", "/.well-known/matrix/server", listen=443)
    assert response.status == 200 and response.header_values("Access-Control-Allow-Origin") == []
    assert fake_homeserver.requests == []
    good = haproxy(fixture("haproxy-cors-on-generated-response.good.cfg"))
    assert good.request("GET", "/.well-known/matrix/server", listen=443).header_values(
        "Access-Control-Allow-Origin") == ["*"]


def test_mpl802_add_header_sends_a_second_origin(haproxy, fake_homeserver):
    bad = haproxy(fixture("haproxy-cors-header-added-twice.bad.cfg"))
    for target in ("/.well-known/matrix/client", VERSIONS):
        response = bad.request("GET", target, listen=443)
        assert response.header_values("Access-Control-Allow-Origin") == ["*", "*"]
        # HTTP/1 header names come back lower-cased, whatever the config and Synapse wrote.
        assert ("access-control-allow-origin", "*") in response.headers
    good = haproxy(fixture("haproxy-cors-header-added-twice.good.cfg"))
    for target in ("/.well-known/matrix/client", VERSIONS):
        assert good.request("GET", target, listen=443).header_values("Access-Control-Allow-Origin") == ["*"]


def test_mpl803_the_clients_x_forwarded_for_comes_first(haproxy, fake_homeserver):
    spoof = [("X-Forwarded-For", "6.6.6.6")]
    bad = haproxy(fixture("haproxy-forwarded-for-appended.bad.cfg"))
    for port in (443, 8448):
        bad.request("GET", VERSIONS, listen=port, headers=spoof)
        assert fake_homeserver.last().header_values("x-forwarded-for")[0] == "6.6.6.6"
    good = haproxy(fixture("haproxy-forwarded-for-appended.good.cfg"))
    for port in (443, 8448):
        good.request("GET", VERSIONS, listen=port, headers=spoof)
        values = fake_homeserver.last().header_values("x-forwarded-for")
        assert values[0] == "127.0.0.1" and "6.6.6.6" not in ",".join(values)


def test_mpl804_timeout_server_cuts_a_long_poll_and_timeout_client_does_not(haproxy):
    """The fixtures scaled down (30 s -> 0.5 s, a 1 s long-poll) so the test stays fast."""
    with SlowUpstream(delay=1.0) as slow:
        bad = fixture("haproxy-timeout-server-too-short.bad.cfg").read_text()
        proxy = haproxy(bad.replace("timeout server 30s", "timeout server 500ms"), upstream=slow)
        assert proxy.request("GET", "/_matrix/client/v3/sync?timeout=30000", listen=443).status == 504
        good = fixture("haproxy-timeout-server-too-short.good.cfg").read_text()
        scaled = good.replace("timeout server 30s", "timeout server 500ms").replace(
            "timeout client 60s", "timeout client 500ms")
        proxy = haproxy(scaled, upstream=slow)
        # The backend's own `timeout server 3m` wins over the defaults, and a short
        # `timeout client` does not cut a request that waits for the server's answer.
        assert proxy.request("GET", "/_matrix/client/v3/sync?timeout=30000", listen=443).status == 200


def test_mpl201_normalize_uri_changes_what_synapse_receives(haproxy, fake_homeserver):
    target = "/_matrix//federation/v1/event/%24abc%2Fdef"
    haproxy(fixture("uri-canonicalised.bad.cfg")).request("GET", target, listen=8448)
    assert fake_homeserver.last().target == b"/_matrix/federation/v1/event/%24abc%2Fdef"
    haproxy(fixture("uri-canonicalised.good.cfg")).request("GET", target, listen=8448)
    assert fake_homeserver.last().target == target.encode()


def test_mpl101_http_response_headers_are_lost_on_haproxys_503(haproxy, down_upstream):
    bad = haproxy(fixture("cors-header-without-always.bad.cfg"), upstream=down_upstream)
    response = bad.request("GET", VERSIONS, listen=443)
    assert response.status == 503 and response.header_values("Access-Control-Allow-Origin") == []
    good = haproxy(fixture("cors-header-without-always.good.cfg"), upstream=down_upstream)
    response = good.request("GET", VERSIONS, listen=443)
    assert response.status == 503 and response.header_values("Access-Control-Allow-Origin") == ["*"]


def test_mpl102_a_preflight_answered_by_haproxy_lacks_the_other_headers(haproxy, fake_homeserver):
    preflight = [("Origin", "https://app.element.io"), ("Access-Control-Request-Method", "PUT")]
    bad = haproxy(fixture("cors-preflight-incomplete.bad.cfg")).request("OPTIONS", VERSIONS, listen=443,
                                                                          headers=preflight)
    assert bad.status == 204 and fake_homeserver.requests == []
    assert bad.header_values("Access-Control-Allow-Methods") == []
    good = haproxy(fixture("cors-preflight-incomplete.good.cfg")).request("OPTIONS", VERSIONS, listen=443,
                                                                            headers=preflight)
    assert "PUT" in good.header("Access-Control-Allow-Methods")
    assert "Authorization" in good.header("Access-Control-Allow-Headers")


def test_mpl106_add_header_beside_synapses_own_origin(haproxy, fake_homeserver):
    bad = haproxy(fixture("cors-duplicate-origin.bad.cfg")).request("GET", VERSIONS, listen=443)
    assert bad.header_values("Access-Control-Allow-Origin") == ["*", "*"]
    good = haproxy(fixture("cors-duplicate-origin.good.cfg")).request("GET", VERSIONS, listen=443)
    assert good.header_values("Access-Control-Allow-Origin") == ["*"]


def test_mpl401_402_405_forwarding(haproxy, fake_homeserver):
    bad = haproxy(fixture("forwarding.bad.cfg"))
    bad.request("GET", VERSIONS, listen=443)
    sent = fake_homeserver.last()
    assert sent.header("x-forwarded-for") is None and sent.header("x-forwarded-proto") is None
    bad.request("GET", "/_synapse/admin/v1/server_version", listen=8448)
    assert fake_homeserver.last().path == b"/_synapse/admin/v1/server_version"
    good = haproxy(fixture("forwarding.good.cfg"))
    good.request("GET", VERSIONS, listen=443)
    assert fake_homeserver.last().header("x-forwarded-for") == "127.0.0.1"
    assert fake_homeserver.last().header("x-forwarded-proto") == "https"
    fake_homeserver.clear()
    assert good.request("GET", "/_synapse/admin/v1/server_version", listen=8448).status == 503
    assert fake_homeserver.requests == []


def test_mpl805_good_fixture_starts_and_lints_clean(haproxy, fake_homeserver):
    path = fixture("haproxy-removed-keyword.good.cfg")
    assert haproxy(path).request("GET", VERSIONS, listen=443).status == 200
    assert fake_homeserver.last().header("x-forwarded-proto") == "https"
    assert codes(path) == set() and "MPL805" in codes(fixture("haproxy-removed-keyword.bad.cfg"))


def test_mpl806_response_rules_cannot_test_the_request(haproxy, fake_homeserver):
    bad = haproxy(fixture("haproxy-response-rule-tests-request.bad.cfg"))
    client = bad.request("GET", "/.well-known/matrix/client", listen=443)
    assert client.status == 200 and client.header_values("Access-Control-Allow-Origin") == []
    proxied = bad.request("GET", VERSIONS, listen=443, headers=[("Authorization", "Bearer x")])
    assert proxied.header_values("Cache-Control") == []           # `if ... req.hdr()`: never
    assert proxied.header_values("X-Frame-Options") == ["DENY"]   # `unless { path_beg }`: always
    good = haproxy(fixture("haproxy-response-rule-tests-request.good.cfg"))
    assert good.request("GET", "/.well-known/matrix/client", listen=443).header_values(
        "Access-Control-Allow-Origin") == ["*"]
    proxied = good.request("GET", VERSIONS, listen=443, headers=[("Authorization", "Bearer x")])
    assert proxied.header_values("Cache-Control") == ["no-store"]
    assert proxied.header_values("X-Frame-Options") == []
