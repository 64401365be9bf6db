"""Differential tests: what the model predicts equals what the real HAProxy (2.6, Debian) does.

For every HAProxy rule fixture that HAProxy accepts and the Matrix configs of the shared corpus
that it can run, and for requests that matter to Matrix (client API GET and CORS preflight,
federation paths with %2F, %40 and //, both well-known documents, an upstream error, the upstream
down), the model's prediction of the status, every Access-Control-* header with its exact number
of values, the content type, and the request line the upstream receives must equal what HAProxy
did. A disagreement is a model bug.

Not compared, by design: requests whose route the model cannot decide (it says so), response
headers whose rule has a condition the model keeps as "depends" (`HeaderOp.condition`), and the
URI sent upstream after a rewrite (the model says "normalized" and predicts no request line).
One known limit is counted instead of compared: HAProxy tests path ACLs on the path as received,
the model on the normalised path (`select_route` gets no raw path), so a request whose raw path
would take another route (`//` inside a matched prefix) is listed, not compared.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from linter.engine import front_end
from linter.haproxy import routing
from linter.matrix import annotate
from linter.predict import outcomes
from linter.select import Request, select
from linter.trace import upstream_request_line
from real.differential import MATRIX_REQUESTS, header_map

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "haproxy"
NOT_RUNNABLE = {"haproxy-removed-keyword.bad.cfg"}     # HAProxy refuses it: that is what MPL805 says
REQUESTS = MATRIX_REQUESTS + [
    ("GET", "/_synapse/client/oidc/callback", []),
]


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
    from linter.rules.haproxy import REMOVED, REMOVED_OPTIONS

    lines = []
    for line in path.read_text().splitlines():
        words = line.split("#", 1)[0].split()
        removed = words and (words[0] in REMOVED or words[0] == "option" and len(words) > 1
                             and words[1] in REMOVED_OPTIONS)
        lines.append("# removed keyword (MPL805): " + line if removed else line)
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
    """What one config's comparisons found: compared requests and raw-path cases skipped."""

    def __init__(self):
        self.compared: list = []
        self.raw_path_gaps: list = []


def compare(config, proxy, fake, run: Run, method, target, headers, port, tls, host, *, scenario="ok"):
    request = Request(method, "https" if tls else "http", host, port, target, headers)
    selection = select(config, request)
    if selection.unknowns or selection.route is None:
        return                          # the model says it cannot decide: nothing to hold it to
    route = selection.route
    if request.raw_path != request.path:
        raw_route, raw_unknowns = routing.select_route(selection.site, method, request.raw_path)
        if raw_route is not route or raw_unknowns:
            run.raw_path_gaps.append(f"{method} {target} on :{port}")
            return
    fake.clear()
    response = proxy.request(method, target, listen=port, host=host, headers=headers)
    where = f"{method} {target} on :{port} host {host} ({route.match}) [{scenario}]"
    received = [r for r in fake.requests if not _health_check(r)]
    reached = bool(received)
    if scenario == "down":
        (predicted,) = outcomes(route, request, homeserver=True, upstream_down=True)
    elif route.action.kind == "proxy":
        assert reached, f"{where}: the model predicts a proxied request, HAProxy answered {response.status} itself"
        (predicted,) = outcomes(route, request, homeserver=True, upstream_status=response.status)
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


def run_requests(config, proxy, fake) -> Run:
    run = Run()
    for port, tls, host in targets(config):
        for method, target, headers in REQUESTS:
            compare(config, proxy, fake, run, method, target, headers, port, tls, host)
        fake.fail_with = 500
        compare(config, proxy, fake, run, "GET", "/_matrix/client/versions", [], port, tls, host,
                scenario="upstream-500")
        fake.fail_with = None
    return run


def fixture_paths():
    return sorted(p for p in FIXTURES.glob("*.cfg") if p.name not in NOT_RUNNABLE)


@pytest.mark.parametrize("path", fixture_paths(), ids=lambda p: p.name)
def test_model_matches_haproxy_on_rule_fixtures(path, haproxy, fake_homeserver, down_upstream):
    tree, config = model(path)
    assert not tree.errors
    proxy = haproxy(path)
    run = run_requests(config, proxy, fake_homeserver)
    proxy.stop()
    down = haproxy(path, upstream=down_upstream)
    for port, tls, host in targets(config):
        compare(config, down, fake_homeserver, run, "GET", "/_matrix/client/versions", [], port, tls, host,
                scenario="down")
    print(f"\n{path.name}: {len(run.compared)} requests compared")
    assert run.compared, "nothing was compared"


def test_haproxy_refuses_the_removed_keywords_fixture_as_mpl805_says(haproxy):
    from real.support import ConfigRejected

    with pytest.raises(ConfigRejected, match="not supported anymore since HAProxy 2.1"):
        haproxy(FIXTURES / "haproxy-removed-keyword.bad.cfg")


def corpus_paths() -> list:
    from corpus import rows

    return [Path(r["abspath"]) for r in rows(server="haproxy", kind="matrix")
            if "_templates/" not in r["local_path"]]


def test_model_matches_haproxy_on_matrix_corpus_configs(haproxy, fake_homeserver):
    """Every Matrix HAProxy config of the corpus that HAProxy can run here, every request compared."""
    from real.client import ClientError
    from real.support import ConfigRejected

    ran, compared, refused, unreachable, disagreements, raw_gaps = [], 0, [], [], [], []
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
            run = run_requests(config, proxy, fake_homeserver)
            compared += len(run.compared)
            raw_gaps += [f"{path.name}: {g}" for g in run.raw_path_gaps]
            ran.append(path.name)
        except AssertionError as e:
            disagreements.append(f"{path}: {str(e).splitlines()[0]}")
        except (OSError, ClientError) as e:
            disagreements.append(f"{path}: no HTTP answer: {e!r}")
        finally:
            proxy.stop()
    print(f"\ncorpus: {len(ran)} HAProxy Matrix configs run, {compared} requests compared; "
          f"{len(refused)} refused by HAProxy here, {len(unreachable)} without a reachable listener; "
          f"{len(raw_gaps)} raw-path cases not compared\n  refused: " + "\n  ".join(refused)
          + "\n  raw path: " + "\n  ".join(raw_gaps))
    assert not disagreements, "\n".join(disagreements)
    assert len(ran) >= 5 and compared >= 50
