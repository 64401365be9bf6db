"""Differential tests: what the model predicts equals what the real nginx does.

For every nginx rule fixture and the Matrix configs of the shared corpus that nginx can run,
and for a set of requests that matter to Matrix (client API GET and CORS preflight, federation
paths with %2F, %40 and //, both well-known documents, an upstream error, the upstream down,
a body over client_max_body_size), the model's prediction of the status, every
Access-Control-* header with its exact number of values, the content type, and the request
line the upstream receives must equal what nginx did. A disagreement is a model bug.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from linter.engine import front_end
from linter.matrix import annotate
from linter.predict import outcomes
from linter.select import Request, select
from linter.trace import upstream_request_line
from real.differential import MATRIX_REQUESTS, header_map

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "nginx"
REQUESTS = MATRIX_REQUESTS


def model(path: Path):
    parse, build = front_end("nginx")
    tree = parse.load(str(path))
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
            host = next((n for n in site.names if n and n.isascii() and "$" not in n
                         and not n.startswith(("~", "*", ".")) and n != "_"), "localhost")
            key = (listen.port, host)
            if key not in seen:
                seen.add(key)
                yield listen.port, listen.tls, host


def compare(config, proxy, fake, method, target, headers, port, tls, host, *, scenario="ok", body=None):
    """Assert one request's prediction; returns a short description of what was compared."""
    request = Request(method, "https" if tls else "http", host or "localhost", port, target, headers)
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
        assert reached, f"{where}: the model predicts a proxied request, nginx answered {response.status} itself"
        (predicted,) = outcomes(route, request, homeserver=True, upstream_status=response.status)
        line = upstream_request_line(route, request)
        if line is not None:
            got = fake.last().request_line.decode("latin-1")
            assert got == line, f"{where}: upstream request line {got!r}, model {line!r}"
    else:
        assert not reached, f"{where}: the model predicts the proxy answers itself, but nginx proxied it"
        predicted = outcomes(route, request, homeserver=True)[0]
    if route.action.kind == "static" and response.status != 200:
        return where                    # no such file where the harness runs it: nothing to compare
    if predicted.status is not None and route.action.kind != "static":
        assert response.status == predicted.status, f"{where}: status"
    real = header_map(response.headers)
    names = {h.name.lower() for h in predicted.headers if h.name.lower().startswith("access-control-")}
    names |= {n for n in real if n.startswith("access-control-")}
    for name in sorted(names):
        assert real.get(name, []) == predicted.values(name), f"{where}: {name}"
    want_ct = [v.split(";")[0].strip() for v in predicted.values("Content-Type")]
    if want_ct and route.action.content_type is not None or route.action.kind == "proxy":
        got_ct = [v.split(";")[0].strip() for v in real.get("content-type", [])]
        assert got_ct == want_ct, f"{where}: content type"
    return where


def run_requests(config, proxy, fake):
    compared = []
    for port, tls, host in targets(config):
        for method, target, headers in REQUESTS:
            compared.append(compare(config, proxy, fake, method, target, headers, port, tls, host))
        fake.fail_with = 500
        compared.append(compare(config, proxy, fake, "GET", "/_matrix/client/versions", [], port, tls, host,
                                scenario="upstream-500"))
        fake.fail_with = None
        # A body just over the route's limit (nginx checks Content-Length before reading it).
        request = Request("POST", "https" if tls else "http", host or "localhost", port, "/_matrix/media/v3/upload")
        route = select(config, request).route
        if route is not None and route.max_body_size is not None and route.max_body_size <= 4 * 1024 * 1024:
            compared.append(compare(config, proxy, fake, "POST", "/_matrix/media/v3/upload", [], port, tls, host,
                                    scenario="body", body=b"x" * (route.max_body_size + 1)))
    return [c for c in compared if c]


def fixture_paths():
    # add_header_inherit needs nginx 1.29.3; Debian's nginx is older (see the test below).
    return sorted(p for p in FIXTURES.glob("*.conf") if "add-header-inherit" not in p.name)


def test_older_nginx_refuses_add_header_inherit_as_mpl502_says(nginx):
    """MPL502 claims nginx before 1.29.3 refuses to start: Debian's nginx shows it."""
    from real.support import ConfigRejected
    from linter.engine import lint

    path = FIXTURES / "nginx-add-header-inherit-unsupported.bad.conf"
    with pytest.raises(ConfigRejected, match='unknown directive "add_header_inherit"'):
        nginx(path)
    codes = {f.rule.code for f in lint([str(path)], server="nginx", nginx_version=(1, 22, 1)).findings}
    assert "MPL502" in codes


@pytest.mark.parametrize("path", fixture_paths(), ids=lambda p: p.name)
def test_model_matches_nginx_on_rule_fixtures(path, nginx, fake_homeserver, down_upstream):
    tree, config = model(path)
    # An include the model could not read is run as empty: one of the contents it may have, and the
    # one whose behaviour the model's visible part predicts.
    missing = "drop" if tree.unresolved else "skip"
    proxy = nginx(path, missing_includes=missing)
    compared = run_requests(config, proxy, fake_homeserver)
    proxy.stop()
    down = nginx(path, upstream=down_upstream, missing_includes=missing)
    for port, tls, host in targets(config):
        compare(config, down, fake_homeserver, "GET", "/_matrix/client/versions", [], port, tls, host,
                scenario="down")
    assert compared or not list(targets(config)), "nothing was compared"


# The whole real-server layer must stay under a minute (issue 3): a cap in case the corpus grows.
CORPUS_SAMPLE = 150

# Disagreements that are the harness's, not the model's: listed with the reason, and the test
# fails if they go away (so the list cannot rot) or if any other appears.
HARNESS_GAPS = {
    "jeff-jk__matrix-docker/nginx-container/nginx.conf":
        "`ssl on;` makes every listener TLS (the model knows); the harness reads `ssl` only on listen "
        "lines, speaks plain HTTP, and nginx answers 400 'plain HTTP request sent to HTTPS port'",
}


def test_model_matches_nginx_on_matrix_corpus_configs(nginx, fake_homeserver):
    """At least 30 real Matrix deployments from the corpus, every request compared."""
    from corpus import rows
    from real.client import ClientError
    from real.support import ConfigRejected

    ran, disagreements, refused, timeouts, compared = 0, [], 0, [], []
    files = [r["abspath"] for r in rows(server="nginx", kind="matrix")
             if not any(k in r["local_path"] for k in ("_templates/", "_history/", "_deleted/", "__at_"))]
    for path in files:
        if ran >= CORPUS_SAMPLE:
            break
        tree, config = model(Path(path))
        if tree.errors or not list(targets(config)):
            continue
        try:
            proxy = nginx(Path(path))
        except (ConfigRejected, pytest.skip.Exception, ValueError):
            refused += 1          # placeholders (${PORT}), missing includes, modules Debian lacks
            continue
        compared.append(path)
        try:
            run_requests(config, proxy, fake_homeserver)
            ran += 1
        except AssertionError as e:
            disagreements.append(f"{path}: {str(e).splitlines()[0]}")
            ran += 1
        except (OSError, ClientError) as e:
            # e.g. a listener that waits for PROXY protocol or HTTP/2 only: no HTTP/1.1 answer.
            timeouts.append(f"{path}: {e!r}")
        finally:
            proxy.stop()
    print(f"\ncorpus: {ran} Matrix nginx configs compared, {refused} not runnable here, "
          f"{len(timeouts)} gave no HTTP/1.1 answer:\n" + "\n".join(timeouts))
    unexpected = [d for d in disagreements if not any(gap in d for gap in HARNESS_GAPS)]
    assert not unexpected, "\n".join(unexpected)
    reached = {gap for gap in HARNESS_GAPS if any(gap in p for p in compared)}
    assert {gap for gap in HARNESS_GAPS if any(gap in d for d in disagreements)} == reached
    assert ran >= 30
