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

from pathlib import Path

import pytest

from linter.caddy.upstream import upstream_request_line
from linter.engine import front_end
from linter.matrix import annotate
from linter.predict import outcomes
from linter.select import Request, select
from real.differential import MATRIX_REQUESTS, header_map

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "caddy"
REQUESTS = MATRIX_REQUESTS + [
    ("GET", "/_synapse/client/oidc/callback", []),
]




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


def compare(config, proxy, fake, method, target, headers, port, tls, host, *, scenario="ok", body=None):
    """Assert one request's prediction; returns a short description of what was compared."""
    request = Request(method, "https" if tls else "http", host, port, target, headers)
    selection = select(config, request)
    if selection.unknowns or selection.route is None:
        return None                     # the model says it cannot decide: nothing to hold it to
    route = selection.route
    fake.clear()
    response = proxy.request(method, target, listen=port, host=host, headers=headers, body=body)
    where = f"{method} {target} on :{port} ({route.match}) [{scenario}]"
    reached = bool(fake.requests)
    if scenario == "down":
        (predicted,) = outcomes(route, request, homeserver=True, upstream_down=True)
    elif body is not None:
        (predicted,) = outcomes(route, request, homeserver=True, body_size=len(body), upstream_status=response.status)
    elif route.action.kind == "proxy":
        assert reached, f"{where}: the model predicts a proxied request, Caddy answered {response.status} itself"
        (predicted,) = outcomes(route, request, homeserver=True, upstream_status=response.status)
        line = upstream_request_line(route, request)
        if line is not None:
            got = fake.last().request_line.decode("latin-1")
            assert got == line, f"{where}: upstream request line {got!r}, model {line!r}"
        check_request_headers(route, fake.last(), host, where)
    elif route.action.kind == "static":
        if response.status != 200:
            return where                # no such file where the harness runs it (handle_errors may proxy)
        predicted = outcomes(route, request, homeserver=True)[0]
    else:
        assert not reached, f"{where}: the model predicts Caddy answers itself, but it proxied the request"
        predicted = outcomes(route, request, homeserver=True)[0]
    if predicted.status is not None and route.action.kind != "static":
        assert response.status == predicted.status, f"{where}: status {response.status}, model {predicted.status}"
    real = header_map(response.headers)
    names = {h.name.lower() for h in predicted.headers if h.name.lower().startswith("access-control-")}
    names |= {n for n in real if n.startswith("access-control-")}
    for name in sorted(names):
        assert sorted(real.get(name, [])) == sorted(predicted.values(name)), \
            f"{where}: {name} {real.get(name, [])}, model {predicted.values(name)}"
    want_ct = [v.split(";")[0].strip() for v in predicted.values("Content-Type")]
    # content_type "" is "Caddy sends none"; None is "not known" (a body of placeholders).
    if route.action.content_type is not None or route.action.kind == "proxy":
        got_ct = [v.split(";")[0].strip() for v in real.get("content-type", [])]
        assert got_ct == want_ct, f"{where}: content type {got_ct}, model {want_ct}"
    return where


def check_request_headers(route, received, host, where):
    """The forwarding headers the model says Caddy sends are the ones the upstream received."""
    sent = route.action.request_headers
    for name in ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"):
        assert (name in sent) == (received.header(name) is not None), f"{where}: {name}"
    if route.facts["terminal"].data.get("tls"):
        return                          # the harness proxies to plain http, which keeps the Host
    passed_on = received.header("Host") == host
    assert passed_on == ("host" in sent), f"{where}: Host {received.header('Host')!r}, model {sent.get('host')!r}"


def run_requests(config, proxy, fake):
    compared = []
    for port, tls, host in targets(config):
        for method, target, headers in REQUESTS:
            compared.append(compare(config, proxy, fake, method, target, headers, port, tls, host))
        fake.fail_with = 500
        compared.append(compare(config, proxy, fake, "GET", "/_matrix/client/versions", [], port, tls, host,
                                scenario="upstream-500"))
        fake.fail_with = None
        request = Request("POST", "https" if tls else "http", host, port, "/_matrix/media/v3/upload")
        route = select(config, request).route
        if route is not None and route.max_body_size is not None and route.max_body_size <= 4 * 1024 * 1024:
            compared.append(compare(config, proxy, fake, "POST", "/_matrix/media/v3/upload", [], port, tls, host,
                                    scenario="body", body=b"x" * (route.max_body_size + 1)))
    return [c for c in compared if c]


def fixture_paths():
    return sorted(p for p in FIXTURES.glob("*.Caddyfile") if ".bad." in p.name or ".good." in p.name)


def runnable(path: Path) -> bool:
    """v1-directive fixtures are refused by Caddy 2 (that is what their rule says)."""
    return "v1-directive.bad" not in path.name


@pytest.mark.parametrize("path", [p for p in fixture_paths() if runnable(p)], ids=lambda p: p.name)
def test_model_matches_caddy_on_rule_fixtures(path, caddy, fake_homeserver, down_upstream):
    tree, config = model(path)
    proxy = caddy(path)
    compared = run_requests(config, proxy, fake_homeserver)
    proxy.stop()
    down = caddy(path, upstream=down_upstream)
    for port, tls, host in targets(config):
        compare(config, down, fake_homeserver, "GET", "/_matrix/client/versions", [], port, tls, host,
                scenario="down")
    assert compared or not list(targets(config)), "nothing was compared"


def test_model_matches_caddy_on_matrix_corpus_configs(caddy, fake_homeserver):
    """Every Matrix Caddyfile of the corpus that Caddy runs here (historical revisions included),
    every request compared."""
    from corpus import rows
    from real.client import ClientError
    from real.support import ConfigRejected

    ran, disagreements, refused, silent, compared = 0, [], 0, [], 0
    files = [r["abspath"] for r in rows(server="caddy", kind="matrix") if "_templates/" not in r["local_path"]]
    for path in files:
        tree, config = model(Path(path))
        if tree.errors or not list(targets(config)):
            continue
        try:
            proxy = caddy(Path(path))
        except (ConfigRejected, pytest.skip.Exception, ValueError):
            refused += 1          # placeholders (<example.com>), plugins, unix sockets
            continue
        try:
            compared += len(run_requests(config, proxy, fake_homeserver))
            ran += 1
        except AssertionError as e:
            disagreements.append(f"{path}: {str(e).splitlines()[0]}")
            ran += 1
        except (OSError, ClientError) as e:
            silent.append(f"{path}: {e!r}")
        finally:
            proxy.stop()
    print(f"\ncorpus: {ran} Matrix Caddyfiles compared ({compared} requests), {refused} not runnable here, "
          f"{len(silent)} gave no HTTP answer:\n" + "\n".join(silent))
    print("\n".join(disagreements))
    assert not disagreements, "\n".join(disagreements)
    assert ran >= 80
