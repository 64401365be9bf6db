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


# -- MPL805 / MPL808: what the installed HAProxy refuses is what the rules say it refuses ----------

CHECKED = """global
    log stderr format short local0 warning
{global_line}
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 180s
{defaults_line}
frontend fe
    bind 127.0.0.1:18443{bind_suffix}
{frontend_line}
    use_backend synapse if {{ path_beg /_matrix /_synapse/client }}

backend synapse
{backend_line}
    server synapse 127.0.0.1:8008
"""

# Lines some HAProxy 2.x/3.x refuses, and lines that look alike but every version accepts.
CANDIDATES = [
    ("global", "nbproc 2"), ("global", "debug"), ("global", "tune.chksize 1024"), ("global", "master-worker"),
    ("global", "master-worker no-exit-on-failure"), ("global", "stats bind-process 1"),
    ("defaults", "option http-use-htx"), ("defaults", "no option http-use-htx"), ("defaults", "option forceclose"),
    ("defaults", "option http-tunnel"), ("defaults", "option http_proxy"), ("defaults", "option httpclose"),
    ("defaults", "clitimeout 60000"), ("defaults", "contimeout 5000"), ("defaults", "srvtimeout 60000"),
    ("defaults", "redispatch"), ("defaults", "option redispatch"), ("defaults", "grace 10s"),
    ("defaults", "mode health"),
    ("frontend", "reqadd X-Forwarded-Proto:\\ https"), ("frontend", "reqrep ^(.*) \\1"),
    ("frontend", "reqidel ^X-Forwarded-For:.*"), ("frontend", "reqsetbe ^x synapse"),
    ("frontend", "block if { src 10.0.0.1 }"), ("frontend", "monitor-net 10.0.0.0/8"),
    ("frontend", "bind-process 1"), ("frontend", "appsession JSESSIONID len 52 timeout 3h"),
    ("frontend", "cliexp ^(.*) \\1"), ("bind", " process 1"), ("bind", " transparent"),
    ("backend", "rspadd Access-Control-Allow-Origin:\\ *"), ("backend", "rspidel ^Server:.*"),
    ("backend", "srvexp ^(.*) \\1"), ("backend", "dispatch 127.0.0.1:8008"), ("backend", "transparent"),
    ("backend", "option transparent"),
]


def _checked_config(section: str, line: str) -> str:
    lines = {"global_line": "", "defaults_line": "", "frontend_line": "", "backend_line": "", "bind_suffix": ""}
    key = "bind_suffix" if section == "bind" else f"{section}_line"
    lines[key] = line if section == "bind" else "    " + line
    return CHECKED.format(**lines)


def test_mpl805_flags_exactly_what_the_installed_haproxy_refuses(tmp_path):
    from real.haproxy_helpers import check_config, installed_version

    version = installed_version()
    disagreements, refused = [], 0
    for section, line in CANDIDATES:
        text = _checked_config(section, line)
        accepted, output = check_config(text, tmp_path)
        path = tmp_path / "lint.cfg"
        path.write_text(text)
        flagged = "MPL805" in {f.rule.code for f in lint([str(path)], server="haproxy", haproxy_version=version).findings}
        refused += not accepted
        if flagged == accepted:
            disagreements.append(f"{section}: `{line}`: haproxy {'accepts' if accepted else 'refuses'} it, "
                                 f"MPL805 {'flags' if flagged else 'does not flag'} it\n{output.strip()[-300:]}")
    assert not disagreements, "\n".join(disagreements)
    assert refused >= 15        # the comparison is not vacuous


def test_mpl808_haproxy_refuses_normalize_uri_unless_exposed(haproxy, fake_homeserver, tmp_path):
    from real.haproxy_helpers import check_config
    from real.support import ConfigRejected

    bad = fixture("haproxy-experimental-directive.bad.cfg")
    plain = bad.read_text().replace(" ssl crt /etc/haproxy/certs/matrix.pem", "")     # no certificate here
    accepted, output = check_config(plain, tmp_path)
    assert not accepted
    assert "'normalize-uri' action is experimental, must be allowed via a global 'expose-experimental-directives'" in output
    assert "MPL808" in codes(bad)
    try:
        haproxy(bad)
        raise AssertionError("HAProxy started with normalize-uri not exposed")
    except ConfigRejected:
        pass
    exposed = plain.replace("global\n", "global\n    expose-experimental-directives\n", 1)
    accepted, output = check_config(exposed, tmp_path)
    assert accepted, output
    path = tmp_path / "exposed.cfg"
    path.write_text(exposed)
    assert "MPL808" not in {f.rule.code for f in lint([str(path)], server="haproxy").findings}
    good = fixture("haproxy-experimental-directive.good.cfg")
    assert haproxy(good).request("GET", VERSIONS, listen=443).status == 200
    assert codes(good) == set()


# -- MPL807: TCP mode sends the homeserver no forwarding headers -----------------------------------

def test_mpl807_tcp_mode_forwards_the_bytes_and_ignores_the_http_lines(haproxy, fake_homeserver, tmp_path):
    from real.haproxy_helpers import check_config

    bad = fixture("haproxy-tcp-mode-matrix.bad.cfg")
    accepted, output = check_config(bad.read_text().replace(" ssl crt /etc/haproxy/certs/matrix.pem", ""), tmp_path)
    assert accepted
    assert "'http-request' rules ignored for frontend 'https' as they require HTTP mode" in output
    assert "'option forwardfor' ignored for frontend 'https' as it requires HTTP mode" in output
    proxy = haproxy(bad)
    proxy.request("GET", VERSIONS, listen=443)
    sent = fake_homeserver.last()
    assert sent.header("x-forwarded-for") is None and sent.header("x-forwarded-proto") is None
    # what the client sent reaches the homeserver untouched, header names and all
    proxy.request("GET", VERSIONS, listen=443, headers=[("X-Forwarded-For", "6.6.6.6")])
    assert fake_homeserver.last().header_values("x-forwarded-for") == ["6.6.6.6"]
    assert "MPL807" in codes(bad)
    good = fixture("haproxy-tcp-mode-matrix.good.cfg")
    haproxy(good).request("GET", VERSIONS, listen=443, headers=[("X-Forwarded-For", "6.6.6.6")])
    assert fake_homeserver.last().header_values("x-forwarded-for") == ["127.0.0.1"]
    assert fake_homeserver.last().header("x-forwarded-proto") == "https"
    assert codes(good) == set()
