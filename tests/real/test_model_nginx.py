"""Differential tests: what the model predicts equals what the real nginx does.

For every nginx rule fixture and the Matrix configs of the shared corpus that nginx can run,
and for a set of requests that matter to Matrix (client API GET and CORS preflight, federation
paths with %2F, %40 and //, both well-known documents, paths no location takes, the upstream
answering 404 and 500, the upstream down, a body over client_max_body_size, a client that sends
its own X-Forwarded-For), the model's prediction of the status, every Access-Control-* header
with its exact number of values, the content type, the request line the upstream receives and
what its X-Forwarded-For holds must equal what nginx did. A disagreement is a model bug.

Requests are selected as `trace` does: by the whole request (`linter.nginx.routing.
select_request`), so `if ($http_origin ...)` is decided by the request's headers, and a request no
location takes gets the site's default handling (`Site.fallback`). Every request must get a
predicted outcome: one the model leaves undecided fails the test unless it is listed in
`NO_OUTCOME` with the reason, and an entry there that is no longer needed fails too.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from linter.engine import front_end
from linter.matrix import annotate
from linter.model import Action, Route
from linter.nginx.routing import select_request
from linter.predict import outcomes
from linter.select import Request, fallback_route, select_site
from linter.trace import upstream_request_line
from real.differential import MATRIX_REQUESTS, UNMATCHED_REQUESTS, UPSTREAM_STATUSES, header_map

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "nginx"
REQUESTS = MATRIX_REQUESTS + UNMATCHED_REQUESTS
CLIENT_ADDRESS = "127.0.0.1"            # the test client's address, as nginx sees it
SPOOFED = "203.0.113.9"                 # an X-Forwarded-For a client makes up

# Requests the model may leave without an outcome: {(config, method, target, scenario): reason}.
# `config` is the fixture's file name, or `corpus/` and the corpus file's local path. The test
# fails when an entry is not needed any more.
NO_OUTCOME: dict = {}


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


class Tally:
    """What one run compared, and the requests the model gave no outcome (with why)."""

    def __init__(self, name: str):
        self.name = name
        self.compared: list = []
        self.no_outcome: dict = {}          # (name, method, target, scenario) -> why
        self.files_missing: list = []       # static routes whose file the harness does not have

    def missing(self, method, target, scenario, why):
        self.no_outcome[(self.name, method, target, scenario)] = why


def own_answer(route: Route, status: int) -> Route:
    """A static route as it is when the file is not there: nginx's own error page."""
    return Route(route.match, Action("respond", route.action.span, status=status, content_type="text/html"),
                 route.span, route.headers, facts=dict(route.facts))


def compare(tally, config, proxy, fake, method, target, headers, port, tls, host, *, scenario="ok", body=None):
    """Assert one request's prediction, or record that the model has none for it."""
    request = Request(method, "https" if tls else "http", host or "localhost", port, target, headers)
    site = select_site(config.sites, request)
    if site is None:
        tally.missing(method, target, scenario, f"no site listens on :{port}")
        return
    route, unknowns = select_request(site, request)
    if unknowns:
        # The model says it cannot decide: nothing to hold it to.
        tally.missing(method, target, scenario, "undecided: " + "; ".join(unknowns))
        return
    route = route or fallback_route(site, method)
    if route is None:
        tally.missing(method, target, scenario, "no route and no default handling")
        return
    fake.clear()
    response = proxy.request(method, target, listen=port, host=host, headers=headers, body=body)
    where = f"{method} {target} on :{port} ({route.match}) [{scenario}]"
    reached = bool(fake.requests)
    action = route.action
    over_limit = body is not None and route.max_body_size is not None and len(body) > route.max_body_size
    if scenario == "down":
        (predicted,) = outcomes(route, request, homeserver=True, upstream_down=True)
    elif over_limit:
        assert not reached, f"{where}: the model predicts 413 before proxying, but nginx proxied it"
        (predicted,) = outcomes(route, request, homeserver=True, body_size=len(body))
    elif action.kind == "proxy":
        assert reached, f"{where}: the model predicts a proxied request, nginx answered {response.status} itself"
        (predicted,) = outcomes(route, request, homeserver=True, upstream_status=response.status)
        line = upstream_request_line(route, request)
        if line is not None:
            got = fake.last().request_line.decode("latin-1")
            assert got == line, f"{where}: upstream request line {got!r}, model {line!r}"
        check_forwarded_for(where, action.forwarded_for, headers, fake.last().header_values("X-Forwarded-For"))
    else:
        assert not reached, f"{where}: the model predicts the proxy answers itself, but nginx proxied it"
        if action.kind == "static" and action.status is None and response.status != 200:
            # The model's answer is the file's (200); the harness has no files: nginx answers
            # what it does for one that is not there, 404 (or try_files' last resort).
            if response.status != 404:
                tally.files_missing.append(where)
                return
            (predicted,) = outcomes(own_answer(route, 404), request)
        else:
            predicted = outcomes(route, request, homeserver=True)[0]
    if predicted.status is None:
        tally.missing(method, target, scenario, f"no status predicted for a `{action.kind}` route")
        return
    assert response.status == predicted.status, f"{where}: status {response.status}, model {predicted.status}"
    real = header_map(response.headers)
    names = {h.name.lower() for h in predicted.headers if h.name.lower().startswith("access-control-")}
    names |= {n for n in real if n.startswith("access-control-")}
    for name in sorted(names):
        assert real.get(name, []) == predicted.values(name), f"{where}: {name}"
    want_ct = [v.split(";")[0].strip() for v in predicted.values("Content-Type")]
    # An action whose Content-Type comes from a default_type the model does not see says nothing.
    if want_ct and action.content_type is not None or action.kind == "proxy" or route.fallback:
        got_ct = [v.split(";")[0].strip() for v in real.get("content-type", [])]
        assert got_ct == want_ct, f"{where}: content type {got_ct}, model {want_ct}"
    tally.compared.append(where)


def check_forwarded_for(where, forwarded_for, sent, received):
    """What the upstream's X-Forwarded-For holds, against `Action.forwarded_for`."""
    client = [v for n, v in sent if n.lower() == "x-forwarded-for"]
    entries = [e.strip() for v in received for e in v.split(",")]
    if forwarded_for == "append":
        mine = [e.strip() for v in client for e in v.split(",")]
        assert entries[:len(mine)] == mine and len(entries) > len(mine), \
            f"{where}: X-Forwarded-For {received} is not the client's with more appended"
    elif forwarded_for == "replace":
        assert entries and not any(e in (SPOOFED,) for e in entries), \
            f"{where}: X-Forwarded-For {received} keeps what the client sent"
    elif forwarded_for == "absent":
        # nginx adds none of its own: nothing, or a header the client sent passed on untouched.
        assert received in ([], client), f"{where}: X-Forwarded-For {received}, the client sent {client}"


def run_requests(tally, config, proxy, fake):
    for port, tls, host in targets(config):
        for method, target, headers in REQUESTS:
            compare(tally, config, proxy, fake, method, target, headers, port, tls, host)
        compare(tally, config, proxy, fake, "GET", "/_matrix/client/versions", [("X-Forwarded-For", SPOOFED)],
                port, tls, host, scenario="spoofed-forwarded-for")
        for status in UPSTREAM_STATUSES:
            fake.fail_with = status
            compare(tally, config, proxy, fake, "GET", "/_matrix/client/versions", [], port, tls, host,
                    scenario=f"upstream-{status}")
            fake.fail_with = None
        # A body just over the route's limit (nginx checks Content-Length before reading it).
        request = Request("POST", "https" if tls else "http", host or "localhost", port, "/_matrix/media/v3/upload")
        site = select_site(config.sites, request)
        route = select_request(site, request)[0] if site is not None else None
        if route is not None and route.max_body_size is not None and route.max_body_size <= 4 * 1024 * 1024:
            compare(tally, config, proxy, fake, "POST", "/_matrix/media/v3/upload", [], port, tls, host,
                    scenario="body", body=b"x" * (route.max_body_size + 1))


def run_down(tally, config, proxy, fake):
    for port, tls, host in targets(config):
        compare(tally, config, proxy, fake, "GET", "/_matrix/client/versions", [], port, tls, host, scenario="down")


def assert_outcomes(tallies: list, allowed: dict):
    """Every request has an outcome, except the listed ones; every listed one is still needed."""
    found: dict = {}
    for tally in tallies:
        found.update(tally.no_outcome)
    unexplained = {k: v for k, v in found.items() if k not in allowed}
    assert not unexplained, "requests without a predicted outcome:\n" + "\n".join(
        f"{k}: {v}" for k, v in unexplained.items())
    stale = [k for k in allowed if k not in found]
    assert not stale, f"NO_OUTCOME entries no longer needed: {stale}"


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
    tally = Tally(path.name)
    proxy = nginx(path, missing_includes=missing)
    run_requests(tally, config, proxy, fake_homeserver)
    proxy.stop()
    down = nginx(path, upstream=down_upstream, missing_includes=missing)
    run_down(tally, config, down, fake_homeserver)
    assert tally.compared or not list(targets(config)), "nothing was compared"
    assert_outcomes([tally], {k: v for k, v in NO_OUTCOME.items() if k[0] == path.name})


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

    ran, disagreements, refused, timeouts, compared, tallies = 0, [], 0, [], [], []
    rows_ = [r for r in rows(server="nginx", kind="matrix")
             if not any(k in r["local_path"] for k in ("_templates/", "_history/", "_deleted/", "__at_"))]
    for row in rows_:
        path = row["abspath"]
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
        tally = Tally(f"corpus/{row['local_path']}")
        try:
            run_requests(tally, config, proxy, fake_homeserver)
            tallies.append(tally)
            ran += 1
        except AssertionError as e:
            disagreements.append(f"{path}: {str(e).splitlines()[0]}")
            ran += 1
        except (OSError, ClientError) as e:
            # e.g. a listener that waits for PROXY protocol or HTTP/2 only: no HTTP/1.1 answer.
            timeouts.append(f"{path}: {e!r}")
        finally:
            proxy.stop()
    requests = sum(len(t.compared) for t in tallies)
    missing = sum(len(t.no_outcome) for t in tallies)
    print(f"\ncorpus: {ran} Matrix nginx configs compared ({requests} requests, {missing} without an outcome), "
          f"{refused} not runnable here, {len(timeouts)} gave no HTTP/1.1 answer:\n" + "\n".join(timeouts))
    unexpected = [d for d in disagreements if not any(gap in d for gap in HARNESS_GAPS)]
    assert not unexpected, "\n".join(unexpected)
    reached = {gap for gap in HARNESS_GAPS if any(gap in p for p in compared)}
    assert {gap for gap in HARNESS_GAPS if any(gap in d for d in disagreements)} == reached
    assert ran >= 30
    assert_outcomes(tallies, {k: v for k, v in NO_OUTCOME.items() if k[0].startswith("corpus/")})


# -- nginx's default handling (Site.fallback), measured ------------------------------------

DEFAULT_HANDLING = """
http {
    add_header X-Http-Always h always;
    server {
        listen 80;
        add_header X-Server-Always s always;
        add_header X-Server-Plain p;
        location /_matrix { proxy_pass http://127.0.0.1:8008; }
        location /bare { add_header X-Bare-Always b always; }
        location /files { root /nonexistent; add_header X-Files f; }
    }
}
"""


@pytest.mark.parametrize("method,target,status", [
    ("GET", "/no-such-route/x", 404), ("HEAD", "/no-such-route/x", 404), ("POST", "/no-such-route/x", 404),
    ("OPTIONS", "/no-such-route/x", 405), ("PUT", "/no-such-route/x", 405), ("DELETE", "/", 405),
    ("GET", "/bare/x", 404), ("OPTIONS", "/bare/x", 405), ("OPTIONS", "/files/x", 405),
])
def test_default_handling_matches_nginx(nginx, tmp_path, method, target, status):
    """No location (or one with no handler): GET/HEAD/POST of a file that is not there is 404,
    any other method 405; nginx's HTML error page with the `always` headers of the level only."""
    path = tmp_path / "default.conf"
    path.write_text(DEFAULT_HANDLING)
    _, config = model(path)
    request = Request(method, "http", "localhost", 80, target, [])
    site = select_site(config.sites, request)
    route, unknowns = select_request(site, request)
    route = route or fallback_route(site, method)
    assert unknowns == [] and route is not None
    response = nginx(path).request(method, target, body=b"x" if method in ("POST", "PUT") else None)
    # What nginx does, stated on its own (not from the model) ...
    assert response.status == status
    real = header_map(response.headers)
    assert [v.split(";")[0] for v in real.get("content-type", [])] == ["text/html"]
    assert not any(n in real for n in ("x-http-always", "x-server-plain", "x-files"))
    # ... and the model's prediction of it.
    (predicted,) = outcomes(route, request)
    assert predicted.status == response.status
    assert predicted.values("Content-Type") == ["text/html"]
    mine = {h.name.lower() for h in predicted.headers if h.name.lower().startswith("x-")}
    assert mine == {n for n in real if n.startswith("x-")}
    for name in mine:
        assert real[name] == predicted.values(name)


@pytest.mark.parametrize("value,expected,received", [
    ("$proxy_add_x_forwarded_for", "append", [f"{SPOOFED}, {CLIENT_ADDRESS}"]),
    ("$remote_addr", "replace", [CLIENT_ADDRESS]),
    (None, "absent", [SPOOFED]),        # nginx adds none; the client's own header passes on
    ('""', "absent", []),               # an empty value: no such header at all
])
def test_forwarded_for_matches_what_the_upstream_receives(nginx, fake_homeserver, tmp_path, value, expected,
                                                          received):
    line = f"proxy_set_header X-Forwarded-For {value};" if value is not None else ""
    path = tmp_path / "xff.conf"
    path.write_text(f"http {{ server {{ listen 80; location /_matrix {{ {line} "
                    f"proxy_pass http://127.0.0.1:8008; }} }} }}\n")
    _, config = model(path)
    route = select_site(config.sites, Request("GET", "http", "localhost", 80, "/_matrix/x")).routes[0]
    assert route.action.forwarded_for == expected
    nginx(path).request("GET", "/_matrix/client/versions", headers=[("X-Forwarded-For", SPOOFED)])
    assert fake_homeserver.last().header_values("X-Forwarded-For") == received
