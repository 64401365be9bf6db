"""Differential tests: what the model predicts equals what the real Caddy 2.11 does.

For every Caddy rule fixture and the Matrix Caddyfiles of the shared corpus that Caddy can run,
and for requests that matter to Matrix (client API GET and CORS preflight, federation paths with
%2F, %40 and //, both well-known documents, an upstream 500, the upstream down, a body over the
route's limit), the model's prediction of the status, every Access-Control-* header with its
exact number of values, the content type, and the request line the upstream receives must equal
what Caddy did. A disagreement is a model bug.

Header values are compared as sorted lists: Go writes each header name's values in the order
they were added, and for an immediate `header` that is Caddy's value first, then the upstream's,
while linter.predict lists the upstream's values first (see the report; the number of values and
the values themselves are compared exactly).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from linter.caddy.upstream import upstream_request_line
from linter.engine import front_end
from linter.matrix import annotate
from linter.predict import outcomes
from linter.select import Request, select
from real.differential import MATRIX_REQUESTS, UNMATCHED_REQUESTS, UPSTREAM_STATUSES, header_map

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "caddy"
REQUESTS = MATRIX_REQUESTS + [
    ("GET", "/_synapse/client/oidc/callback", []),
] + UNMATCHED_REQUESTS


@dataclass
class Compared:
    """One request sent to Caddy: `outcome` is "compared" (the model's prediction held) or
    "no outcome" (the model could not say; `reason` says why)."""
    key: tuple                 # (file name, method, target, scenario)
    outcome: str
    reason: str = ""


# Requests the model gives no outcome for, with the reason. The test fails for a request with no
# outcome that is not listed here, and for an entry no request needs any more.
NO_OUTCOME: dict = {
    ("wellknown.bad.Caddyfile", "GET", "/.well-known/matrix/client", "ok"):
        "file_server: the fixture's well-known file is not in the directory the harness runs Caddy in (404)",
    ("wellknown.good.Caddyfile", "GET", "/.well-known/matrix/client", "ok"):
        "file_server: the fixture's well-known file is not in the directory the harness runs Caddy in (404)",
}


def model(path: Path):
    parse, build = front_end("caddy")
    tree = parse.load(str(path), env={})
    config = build.build(tree, {})
    annotate(config)
    return tree, config


def targets(config):
    """(listen port, tls, host) for every site the harness can reach."""
    seen = set()
    for site in config.sites:
        for listen in site.listens:
            if listen.port is None or listen.address and listen.address.startswith("unix:"):
                continue
            names = [n.replace("*.", "x.", 1) if n.startswith("*.") else n for n in site.names]
            host = next((n for n in names if n and "*" not in n and "{" not in n), "localhost")
            key = (listen.port, host)
            if key not in seen:
                seen.add(key)
                yield listen.port, listen.tls, host


def compare(config, proxy, fake, method, target, headers, port, tls, host, *, scenario="ok", body=None,
            name=""):
    """Assert one request's prediction; returns what became of it (`Compared`)."""
    request = Request(method, "https" if tls else "http", host, port, target, headers)
    selection = select(config, request)
    key = (name, method, target, scenario)
    if selection.unknowns or selection.route is None:
        # the model says it cannot decide: nothing to hold it to
        return Compared(key, "no outcome", "; ".join(selection.unknowns) or "no route")
    route = selection.route
    fake.clear()
    response = proxy.request(method, target, listen=port, host=host, headers=headers, body=body)
    where = f"{method} {target} on :{port} ({route.match}) [{scenario}]"
    # The upstream may record the oversized body of an earlier `body` request late: only a
    # request carrying this one's body length is this one's.
    ours = [r for r in fake.requests if int(r.header("Content-Length") or 0) == len(body or b"")]
    reached = bool(ours)
    if scenario == "down":
        (predicted,) = outcomes(route, request, homeserver=True, upstream_down=True)
    elif body is not None:
        (predicted,) = outcomes(route, request, homeserver=True, body_size=len(body), upstream_status=response.status)
    elif route.action.kind == "proxy":
        assert reached, f"{where}: the model predicts a proxied request, Caddy answered {response.status} itself"
        (predicted,) = outcomes(route, request, homeserver=True, upstream_status=response.status)
        line = upstream_request_line(route, request)
        if line is not None:
            got = ours[-1].request_line.decode("latin-1")
            assert got == line, f"{where}: upstream request line {got!r}, model {line!r}"
        check_request_headers(route, ours[-1], host, where)
    elif route.action.kind == "static":
        if response.status != 200:
            # no such file where the harness runs it (handle_errors may proxy)
            return Compared(key, "no outcome", STATIC)
        predicted = outcomes(route, request, homeserver=True)[0]
    else:
        assert not reached, (f"{where}: the model predicts Caddy answers itself, but it proxied the request "
                             f"({[r.request_line for r in ours]})")
        predicted = outcomes(route, request, homeserver=True)[0]
    if predicted.status is None and route.action.kind != "static":
        return Compared(key, "no outcome", f"the model predicts no status ({route.action.kind} at {route.span})")
    if route.action.kind != "static":
        assert response.status == predicted.status, f"{where}: status {response.status}, model {predicted.status}"
    real = header_map(response.headers)
    names = {h.name.lower() for h in predicted.headers if h.name.lower().startswith("access-control-")}
    names |= {n for n in real if n.startswith("access-control-")}
    for header in sorted(names):
        assert sorted(real.get(header, [])) == sorted(predicted.values(header)), \
            f"{where}: {header} {real.get(header, [])}, model {predicted.values(header)}"
    want_ct = [v.split(";")[0].strip() for v in predicted.values("Content-Type")]
    # content_type "" is "Caddy sends none"; None is "not known" (a body of placeholders).
    if route.action.content_type is not None or route.action.kind == "proxy":
        got_ct = [v.split(";")[0].strip() for v in real.get("content-type", [])]
        assert got_ct == want_ct, f"{where}: content type {got_ct}, model {want_ct}"
    return Compared(key, "compared")


def check_request_headers(route, received, host, where):
    """The forwarding headers the model says Caddy sends are the ones the upstream received."""
    sent = route.action.request_headers
    for header in ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"):
        assert (header in sent) == (received.header(header) is not None), f"{where}: {header}"
    if route.facts["terminal"].data.get("tls"):
        return                          # the harness proxies to plain http, which keeps the Host
    passed_on = received.header("Host") == host
    assert passed_on == ("host" in sent), f"{where}: Host {received.header('Host')!r}, model {sent.get('host')!r}"


def run_requests(config, proxy, fake, name=""):
    """Every request on every reachable site; each proxied one also with the upstream answering
    each of UPSTREAM_STATUSES."""
    done = []
    for port, tls, host in targets(config):
        for method, target, headers in REQUESTS:
            done.append(compare(config, proxy, fake, method, target, headers, port, tls, host, name=name))
            request = Request(method, "https" if tls else "http", host, port, target, headers)
            route = select(config, request).route
            if route is None or route.action.kind != "proxy":
                continue
            for status in UPSTREAM_STATUSES:
                fake.fail_with = status
                try:
                    done.append(compare(config, proxy, fake, method, target, headers, port, tls, host,
                                        scenario=f"upstream-{status}", name=name))
                finally:
                    fake.fail_with = None
    for port, tls, host in targets(config):        # last: the upstream may still be reading
        request = Request("POST", "https" if tls else "http", host, port, "/_matrix/media/v3/upload")
        route = select(config, request).route
        if route is not None and route.max_body_size is not None and route.max_body_size <= 4 * 1024 * 1024:
            done.append(compare(config, proxy, fake, "POST", "/_matrix/media/v3/upload", [], port, tls, host,
                                scenario="body", body=b"x" * (route.max_body_size + 1), name=name))
    return done


def fixture_paths():
    return sorted(p for p in FIXTURES.glob("*.Caddyfile") if ".bad." in p.name or ".good." in p.name)


def runnable(path: Path) -> bool:
    """v1-directive fixtures are refused by Caddy 2 (that is what their rule says)."""
    return "v1-directive.bad" not in path.name


RUNNABLE = [p for p in fixture_paths() if runnable(p)]
_FIGURES: dict = {}


@pytest.mark.parametrize("path", RUNNABLE, ids=lambda p: p.name)
def test_model_matches_caddy_on_rule_fixtures(path, caddy, fake_homeserver, down_upstream):
    tree, config = model(path)
    proxy = caddy(path)
    done = run_requests(config, proxy, fake_homeserver, path.name)
    proxy.stop()
    down = caddy(path, upstream=down_upstream)
    for port, tls, host in targets(config):
        done.append(compare(config, down, fake_homeserver, "GET", "/_matrix/client/versions", [], port, tls,
                            host, scenario="down", name=path.name))
    assert done or not list(targets(config)), "nothing was compared"
    _FIGURES[path.name] = done
    missing = [f"{c.key}: {c.reason}" for c in done if c.outcome == "no outcome" and c.key not in NO_OUTCOME]
    assert not missing, "requests with no predicted outcome:\n" + "\n".join(missing)


def test_every_listed_no_outcome_is_still_needed(caddy, fake_homeserver, down_upstream):
    """NO_OUTCOME holds only requests that still get no outcome (run after the fixtures)."""
    names = {key[0] for key in NO_OUTCOME}
    for path in RUNNABLE:
        if path.name in names and path.name not in _FIGURES:
            test_model_matches_caddy_on_rule_fixtures(path, caddy, fake_homeserver, down_upstream)
    seen = {c.key for done in _FIGURES.values() for c in done if c.outcome == "no outcome"}
    stale = sorted(set(NO_OUTCOME) - seen)
    assert not stale, f"no longer without an outcome, remove from NO_OUTCOME: {stale}"
    every = [c for done in _FIGURES.values() for c in done]
    print(f"\nfixtures: {len(every)} requests, {sum(c.outcome == 'compared' for c in every)} compared, "
          f"{sum(c.outcome == 'no outcome' for c in every)} with no outcome")


# Corpus files (path relative to the corpus) whose requests may get no outcome: {what the reason
# says: why}. Every request with no outcome must be in a listed file, with one of its reasons;
# a listed reason no request of its file has any more fails the test too.
STATIC = "a static file that is not where the harness runs Caddy"
_FILES = "file_server: the files the configuration serves are not on this machine (Caddy answers 404)"
CORPUS_NO_OUTCOME: dict = {
    "caddy/42LoCo42__homepage/caddy/Caddyfile": {STATIC: _FILES},
    "caddy/larksledger__simple-matrix-server/Caddyfile.Caddyfile": {STATIC: _FILES},
    "caddy/matrix-construct__tuwunel/README.md__at_33d0ad1be2__block00.Caddyfile": {STATIC: _FILES},
    "caddy/matrix-construct__tuwunel/README.md__block00.Caddyfile": {STATIC: _FILES},
    "caddy/spantaleev__matrix-docker-ansible-deploy/examples__caddy2__Caddyfile__at_06f3b813d6.Caddyfile": {STATIC: _FILES},
    "caddy/spantaleev__matrix-docker-ansible-deploy/examples__caddy2__Caddyfile__at_5271840971.Caddyfile": {STATIC: _FILES},
    "caddy/spantaleev__matrix-docker-ansible-deploy/examples__caddy2__Caddyfile__at_a061ea54b3.Caddyfile": {STATIC: _FILES},
    "caddy/spantaleev__matrix-docker-ansible-deploy/examples__caddy2__Caddyfile__at_ef3b352eec.Caddyfile": {STATIC: _FILES},
    "caddy/tapuaharel__matrix-homeserver-project/CADDY.md__at_e2bf4894ca__block02.Caddyfile": {STATIC: _FILES},
    "caddy/ajlien__continuwuity-matrix-stack/Caddyfile.Caddyfile": {
        STATIC: _FILES,
        "file {path} / index.html": "try_files: which file exists on the server decides the route (the model asks)",
    },
}


def test_model_matches_caddy_on_matrix_corpus_configs(caddy, fake_homeserver):
    """Every Matrix Caddyfile of the corpus that Caddy runs here (historical revisions included),
    every request compared."""
    from corpus import rows
    from real.client import ClientError
    from real.support import ConfigRejected

    ran, disagreements, refused, silent, done = 0, [], 0, [], []
    files = [r for r in rows(server="caddy", kind="matrix") if "_templates/" not in r["local_path"]]
    for row in files:
        path = row["abspath"]
        tree, config = model(Path(path))
        if tree.errors or not list(targets(config)):
            continue
        try:
            proxy = caddy(Path(path))
        except (ConfigRejected, pytest.skip.Exception, ValueError):
            refused += 1          # placeholders (<example.com>), plugins, unix sockets
            continue
        try:
            done += run_requests(config, proxy, fake_homeserver, row["local_path"])
            ran += 1
        except AssertionError as e:
            disagreements.append(f"{path}: {str(e).splitlines()[0]}")
            ran += 1
        except (OSError, ClientError) as e:
            silent.append(f"{path}: {e!r}")
        finally:
            proxy.stop()
    none = [c for c in done if c.outcome == "no outcome"]
    print(f"\ncorpus: {ran} Matrix Caddyfiles compared ({len(done)} requests, {len(none)} with no outcome), "
          f"{refused} not runnable here, {len(silent)} gave no HTTP answer:\n" + "\n".join(silent))
    print("\n".join(disagreements))
    assert not disagreements, "\n".join(disagreements)
    assert ran >= 80
    used: set = set()
    missing = []
    for c in none:
        reasons = [r for r in CORPUS_NO_OUTCOME.get(c.key[0], {}) if r in c.reason]
        used.update((c.key[0], r) for r in reasons)
        if not reasons:
            missing.append(f"{c.key}: {c.reason}")
    assert not missing, f"{len(missing)} requests with no predicted outcome:\n" + "\n".join(missing)
    stale = sorted({(f, r) for f, reasons in CORPUS_NO_OUTCOME.items() for r in reasons} - used)
    assert not stale, f"no longer without an outcome, remove from CORPUS_NO_OUTCOME: {stale}"


# ---- X-Forwarded-For: Action.forwarded_for against what the upstream receives ---------------

SPOOF = "203.0.113.7"
XFF_CASES = {
    "default": ("http://:{port} {{\n\treverse_proxy 127.0.0.1:9\n}}\n", "replace"),
    "trusted-everyone": ("{{\n\tservers {{\n\t\ttrusted_proxies static 0.0.0.0/0 ::/0\n\t}}\n}}\n"
                         "http://:{port} {{\n\treverse_proxy 127.0.0.1:9\n}}\n", "append"),
    "trusted-loopback-listener": ("http://:{port} {{\n\tbind 127.0.0.1\n\treverse_proxy 127.0.0.1:9 {{\n"
                                  "\t\ttrusted_proxies private_ranges\n\t}}\n}}\n", "append"),
    "header-up-removes": ("http://:{port} {{\n\treverse_proxy 127.0.0.1:9 {{\n"
                          "\t\theader_up -X-Forwarded-For\n\t}}\n}}\n", "absent"),
    "header-up-appends": ("http://:{port} {{\n\treverse_proxy 127.0.0.1:9 {{\n\t\theader_up X-Forwarded-For "
                          "\"{{http.request.header.X-Forwarded-For}}, {{remote_host}}\"\n\t}}\n}}\n", "append"),
    "request-header-removes-trusted": ("{{\n\tservers {{\n\t\ttrusted_proxies static 0.0.0.0/0\n\t}}\n}}\n"
                                       "http://:{port} {{\n\trequest_header -X-Forwarded-For\n"
                                       "\treverse_proxy 127.0.0.1:9\n}}\n", "replace"),
}


@pytest.mark.parametrize("case", sorted(XFF_CASES))
def test_forwarded_for_matches_caddy(case, caddy, fake_homeserver, tmp_path):
    """Caddy replaces a client's X-Forwarded-For unless the client is a trusted proxy
    (reverseproxy.go addForwardedHeaders), and header_up has the last word. The harness's client
    connects from 127.0.0.1."""
    text, expected = XFF_CASES[case]
    path = tmp_path / "Caddyfile"
    path.write_text(text.format(port=8080))
    tree, config = model(path)
    assert not tree.errors, tree.errors
    (route,) = [r for s in config.sites for r in s.routes if r.action.kind == "proxy"]
    assert route.action.forwarded_for == expected
    assert route.action.forwarded_for_span is not None
    proxy = caddy(path)
    proxy.request("GET", "/_matrix/client/versions", headers=[("X-Forwarded-For", SPOOF)])
    got = fake_homeserver.last().header_values("X-Forwarded-For")
    want = {"append": [f"{SPOOF}, 127.0.0.1"], "replace": ["127.0.0.1"], "absent": []}[expected]
    assert got == want
    assert ("x-forwarded-for" in route.action.request_headers) == bool(got)


# ---- nothing answers: Caddy's empty 200 (Site.fallback) ---------------------------------------

FALLBACK_SITE = """http://:8080 {
	header X-Immediate a
	header {
		defer
		X-Deferred b
	}
	header -Server
	header ?X-Default c
	header /no-such-route/* X-Path d
	header /_matrix/* X-Other-Path e
	header @preflight Access-Control-Allow-Origin *
	@preflight method OPTIONS
	reverse_proxy /_matrix/* 127.0.0.1:9
}
"""


@pytest.mark.parametrize("method", ["GET", "POST", "OPTIONS", "HEAD"])
def test_a_request_no_handler_answers_gets_an_empty_200(method, caddy, fake_homeserver, tmp_path):
    """The handler chain ends without writing: Go sends 200, Content-Length 0, no Content-Type.
    The `header`s met on the way that are not deferred are on it; deferred ones (`defer`, `-`,
    `?`) never run (even `-Server` leaves Caddy's Server header)."""
    path = tmp_path / "Caddyfile"
    path.write_text(FALLBACK_SITE)
    tree, config = model(path)
    assert not tree.errors
    request = Request(method, "http", "localhost", 8080, "/no-such-route/x", [])
    route = select(config, request).route
    assert route.fallback and route.span == config.sites[0].span
    proxy = caddy(path)
    response = proxy.request(method, "/no-such-route/x")
    assert fake_homeserver.requests == []
    real = header_map(response.headers)
    assert (response.status, response.body) == (200, b"")
    if method != "HEAD":
        assert real["content-length"] == ["0"]
    assert "content-type" not in real and real["server"] == ["Caddy"]
    got = sorted(n for n in real if n.startswith(("x-", "access-control-")))
    expected = ["x-immediate", "x-path"] + (["access-control-allow-origin"] if method == "OPTIONS" else [])
    assert got == sorted(expected)
    (predicted,) = outcomes(route, request, homeserver=True)
    assert predicted.status == 200 and predicted.values("Content-Type") == []
    assert sorted(h.name.lower() for h in predicted.headers) == sorted(expected)
