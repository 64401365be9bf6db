"""Differential tests: what the model predicts equals what the real HAProxy (2.6, Debian) does.

For every HAProxy rule fixture that HAProxy accepts and the Matrix configs of the shared corpus
that it can run, and for requests that matter to Matrix (client API GET and CORS preflight,
federation paths with %2F, %40 and //, both well-known documents), requests no Matrix route is
meant to take (`UNMATCHED_REQUESTS`: HAProxy's own 503, `Site.fallback`), the upstream answering
404 and 500 (`UPSTREAM_STATUSES`), and the upstream down, the model's prediction of the status,
every Access-Control-* header with its exact number of values, the content type (and the body
of HAProxy's own 503), and the request line the upstream receives must equal what HAProxy did.
A disagreement is a model bug. A TCP-mode frontend's predictions are held to the same: the bytes
reach the upstream untouched, and a connection no backend takes is closed without an answer.

Every request must get an outcome. One the model cannot give (an undecided condition, no route)
fails the test unless it is listed in `NO_OUTCOME` with the reason; an entry no longer needed
fails it too, so the list only shrinks. Not compared, by design: response headers whose rule has
a condition the model keeps as "depends" (`HeaderOp.condition`), and the URI sent upstream after
a rewrite (the model says "normalized" and predicts no request line). Routes are selected
as `trace` selects them, from the whole request (`routing.select_request`): HAProxy tests path
ACLs on the path as received (`//` kept) and `ssl_fc_sni` on the server name the client sent.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from linter.engine import front_end
from linter.haproxy import routing
from linter.matrix import annotate
from linter.predict import outcomes
from linter.select import Request, fallback_route, select
from linter.trace import upstream_request_line
from real.differential import MATRIX_REQUESTS, UNMATCHED_REQUESTS, UPSTREAM_STATUSES, header_map

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "haproxy"
# HAProxy refuses them: that is what MPL805 and MPL808 say (checked below)
NOT_RUNNABLE = {"haproxy-removed-keyword.bad.cfg": "not supported anymore since HAProxy 2.1",
                "haproxy-experimental-directive.bad.cfg": "'normalize-uri' action is experimental"}
REQUESTS = MATRIX_REQUESTS + [
    ("GET", "/_synapse/client/oidc/callback", []),
] + UNMATCHED_REQUESTS

# Requests the model gives no outcome, with why: "<config file>: <method> <target> [<scenario>]".
# The test fails on a request missing here and on an entry that is no longer needed.
NO_OUTCOME: dict = {}


def model(path: Path, text: str = None):
    parse, build = front_end("haproxy")
    if text is None:
        tree = parse.load(str(path))
    else:
        tree = parse.parse_string(text, str(path))
    config = build.build(tree, {})
    annotate(config)
    return tree, config


def runnable_text(path: Path, config) -> str:
    """The file as the model reads it, made acceptable to HAProxy 2.6: a fragment gets the
    `mode http` defaults the model assumed, and keywords HAProxy 2.x refuses (MPL805; the model
    ignores them) are commented out, so the rest of an old config can still be compared."""
    from linter.rules.haproxy import removed_keyword

    refused = {f.span.line for f in removed_keyword.run(config) if f.span.path == str(path)}
    lines = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        lines.append("# removed keyword (MPL805): " + line if number in refused else line)
    text = "\n".join(lines) + "\n"
    if any("mode http" in note for note in config.notes):
        text = "defaults\n    mode http\n    retries 0\n\n" + text
    return text


def targets(config):
    """(listen port, tls, host) for every site the harness can reach."""
    seen = set()
    for site in config.sites:
        for listen in site.listens:
            if listen.port is None or listen.address and listen.address.startswith("unix:"):
                continue
            host = site.names[0] if site.names else "localhost"
            if (listen.port, host) not in seen:
                seen.add((listen.port, host))
                yield listen.port, listen.tls, host


class Run:
    """What one config's comparisons found: compared requests, and requests without an outcome
    (key -> why) to be checked against NO_OUTCOME."""

    def __init__(self, label: str = ""):
        self.label = label
        self.compared: list = []
        self.no_outcome: dict = {}
        self.fallbacks = 0          # compared requests answered by the server's default handling


def compare(config, proxy, fake, run: Run, method, target, headers, port, tls, host, *, scenario="ok"):
    from real.client import ClientError

    request = Request(method, "https" if tls else "http", host, port, target, headers)
    site = select(config, request).site
    key = f"{run.label}: {method} {target} on :{port} host {host} [{scenario}]"
    if site is None:
        run.no_outcome[key] = "no site"
        return
    # as `trace` does: the whole request (raw path, TLS server name), then the default handling
    route, unknowns = routing.select_request(site, request)
    route = route or fallback_route(site, method)
    if route is None:
        run.no_outcome[key] = "no route and no fallback"
        return
    if unknowns:
        run.no_outcome[key] = "undecided: " + "; ".join(unknowns)
        return
    fake.clear()
    where = f"{method} {target} on :{port} host {host} ({route.match}) [{scenario}]"
    down_closed = scenario == "down" and route.action.kind == "proxy" and \
        "upstream_down_status" in route.facts and route.facts["upstream_down_status"] is None
    if route.fallback and route.action.status is None or down_closed:
        # TCP mode: no backend for the connection, or the upstream down: HAProxy closes the
        # connection without an answer
        try:
            response = proxy.request(method, target, listen=port, host=host, headers=headers)
        except (ClientError, OSError):
            run.compared.append(where)
            run.fallbacks += 1
            return
        raise AssertionError(f"{where}: the model predicts a closed connection, HAProxy answered {response.status}")
    response = proxy.request(method, target, listen=port, host=host, headers=headers)
    received = [r for r in fake.requests if not _health_check(r)]
    reached = bool(received)
    if scenario == "down" and route.action.kind == "proxy":
        (predicted,) = outcomes(route, request, homeserver=True, upstream_down=True)
    elif route.action.kind == "proxy":
        assert reached, f"{where}: the model predicts a proxied request, HAProxy answered {response.status} itself"
        (predicted,) = outcomes(route, request, homeserver=True, upstream_status=response.status)
        if scenario.startswith("upstream-"):
            assert response.status == int(scenario.split("-")[1]), f"{where}: status {response.status}"
        line = upstream_request_line(route, request)
        if line is not None:
            got = received[-1].request_line.decode("latin-1")
            assert got == line, f"{where}: upstream request line {got!r}, model {line!r}"
    else:
        assert not reached, f"{where}: the model predicts HAProxy answers itself, but it proxied the request"
        predicted = outcomes(route, request, homeserver=True)[0]
    if predicted.status is not None:
        assert response.status == predicted.status, f"{where}: status {response.status}, model {predicted.status}"
    real = header_map(response.headers)
    depends = {op.key for op in route.headers if op.condition}
    names = {h.name.lower() for h in predicted.headers if h.name.lower().startswith("access-control-")}
    names |= {n for n in real if n.startswith("access-control-")}
    for name in sorted(names - depends):
        assert real.get(name, []) == predicted.values(name), f"{where}: {name}"
    if _content_type_known(route, scenario):
        want = [v.split(";")[0].strip() for v in predicted.values("Content-Type")]
        got = [v.split(";")[0].strip() for v in real.get("content-type", [])]
        assert got == want, f"{where}: content type {got}, model {want}"
    if route.fallback:
        run.fallbacks += 1
        if route.action.body is not None and method != "HEAD":
            assert response.body.decode("latin-1") == route.action.body, f"{where}: body {response.body!r}"
    run.compared.append(where)


def _health_check(recorded) -> bool:
    """`option httpchk` probes (`GET /health`, HAProxy's default `OPTIONS /`) reach the fake too."""
    return recorded.path == b"/health" or recorded.method == "OPTIONS" and recorded.target == b"/"


def _content_type_known(route, scenario: str) -> bool:
    if scenario == "down":
        return route.facts.get("error_content_type") is not None
    if route.action.kind == "proxy":
        return True
    return not route.facts.get("content_type_unknown")


def run_requests(config, proxy, fake, label: str = "") -> Run:
    run = Run(label)
    for port, tls, host in targets(config):
        for method, target, headers in REQUESTS:
            compare(config, proxy, fake, run, method, target, headers, port, tls, host)
        for status in UPSTREAM_STATUSES:
            fake.fail_with = status
            try:
                for method, target, headers in MATRIX_REQUESTS:
                    compare(config, proxy, fake, run, method, target, headers, port, tls, host,
                            scenario=f"upstream-{status}")
            finally:
                fake.fail_with = None
    return run


def check_outcomes(runs: list, expected: dict) -> tuple:
    """(missing: requests without an outcome that `expected` does not list, stale: entries of
    `expected` no longer needed) over the runs that were made."""
    labels = {run.label for run in runs}
    got = {key: why for run in runs for key, why in run.no_outcome.items()}
    missing = [f"{key}: {why}" for key, why in got.items() if key not in expected]
    stale = [key for key in expected if key.split(":", 1)[0] in labels and key not in got]
    return missing, stale


def fixture_paths():
    return sorted(p for p in FIXTURES.glob("*.cfg") if p.name not in NOT_RUNNABLE)


@pytest.mark.parametrize("path", fixture_paths(), ids=lambda p: p.name)
def test_model_matches_haproxy_on_rule_fixtures(path, haproxy, fake_homeserver, down_upstream):
    tree, config = model(path)
    assert not tree.errors
    proxy = haproxy(path)
    run = run_requests(config, proxy, fake_homeserver, path.name)
    proxy.stop()
    down = haproxy(path, upstream=down_upstream)
    for port, tls, host in targets(config):
        compare(config, down, fake_homeserver, run, "GET", "/_matrix/client/versions", [], port, tls, host,
                scenario="down")
    print(f"\n{path.name}: {len(run.compared)} requests compared ({run.fallbacks} by the default handling), "
          f"{len(run.no_outcome)} without an outcome")
    assert run.compared, "nothing was compared"
    missing, stale = check_outcomes([run], NO_OUTCOME)
    assert not missing, "requests without a predicted outcome:\n" + "\n".join(missing)
    assert not stale, "NO_OUTCOME entries no longer needed:\n" + "\n".join(stale)


@pytest.mark.parametrize("name", sorted(NOT_RUNNABLE))
def test_haproxy_refuses_the_fixtures_mpl805_and_mpl808_say_it_refuses(haproxy, name):
    import re

    from real.support import ConfigRejected

    with pytest.raises(ConfigRejected, match=re.escape(NOT_RUNNABLE[name])):
        haproxy(FIXTURES / name)


def corpus_paths() -> list:
    from corpus import rows

    return [Path(r["abspath"]) for r in rows(server="haproxy", kind="matrix")
            if "_templates/" not in r["local_path"]]


def test_model_matches_haproxy_on_matrix_corpus_configs(haproxy, fake_homeserver):
    """Every Matrix HAProxy config of the corpus that HAProxy can run here, every request compared."""
    from real.client import ClientError
    from real.support import ConfigRejected

    ran, compared, refused, unreachable, disagreements, runs = [], 0, [], [], [], []
    for path in corpus_paths():
        tree, config = model(path)
        if tree.errors or not list(targets(config)):
            unreachable.append(path.name)      # not a whole config, or nothing listens
            continue
        try:
            proxy = haproxy(runnable_text(path, config))
        except (ConfigRejected, pytest.skip.Exception) as e:
            refused.append(f"{path.name}: {str(e).splitlines()[0]}")
            continue
        try:
            run = run_requests(config, proxy, fake_homeserver, path.name)
            compared += len(run.compared)
            runs.append(run)
            ran.append(path)
        except AssertionError as e:
            disagreements.append(f"{path}: {str(e).splitlines()[0]}")
        except (OSError, ClientError) as e:
            disagreements.append(f"{path}: no HTTP answer: {e!r}")
        finally:
            proxy.stop()
    missing, stale = check_outcomes(runs, NO_OUTCOME)
    without = sum(len(run.no_outcome) for run in runs)
    print(f"\ncorpus: {len(ran)} HAProxy Matrix configs run, {compared} requests compared "
          f"({sum(run.fallbacks for run in runs)} by the default handling), {without} without an outcome; "
          f"{len(refused)} refused by HAProxy here, {len(unreachable)} without a reachable listener"
          "\n  ran: " + "\n  ran: ".join(str(p) for p in ran) + "\n  refused: " + "\n  ".join(refused))
    assert not disagreements, "\n".join(disagreements)
    assert not missing, "requests without a predicted outcome:\n" + "\n".join(missing)
    assert not stale, "NO_OUTCOME entries no longer needed:\n" + "\n".join(stale)
    assert len(ran) >= 5 and compared >= 50
