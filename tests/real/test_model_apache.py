"""Differential tests: what the Apache model predicts equals what the real Apache httpd does.

For every Apache rule fixture and every Apache Matrix config of the shared corpus that Apache can
run, and for requests that matter to Matrix (client API GET and CORS preflight, federation paths
with %2F, %40, // and dot segments, both well-known documents, paths no route takes, the
upstream answering 404 and 500, the upstream down), the model's prediction of the status, every
Access-Control-* header with its exact number of values, the Content-Type (charset included), the
request line the upstream receives and what its X-Forwarded-For holds must equal what Apache did.
A disagreement is a model bug.

Every request must get a predicted outcome: one the model leaves undecided (a RewriteCond it
cannot read, a rewrite to a local path) fails the test unless it is listed in `NO_OUTCOME` with
the reason, and an entry there that is no longer needed fails too.

Apache-specific parts of the prediction come from linter.apache: `routing.refusal` (404 for %2F
under AllowEncodedSlashes Off, 400 for a bad escape) and `upstream.upstream_target` (mod_proxy's
canonicalisation); the rest is the shared `linter.predict.outcomes`.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from linter.apache.build import build
from linter.apache.parse import parse_string
from linter.apache.routing import refusal, select_request
from linter.apache.upstream import upstream_target
from linter.matrix import annotate
from linter.model import Action, Route
from linter.predict import outcomes
from linter.select import Request, fallback_route, select_site
from real.differential import MATRIX_REQUESTS, PREFLIGHT, UNMATCHED_REQUESTS, UPSTREAM_STATUSES, header_map

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "apache"
HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$", re.I)
REQUESTS = MATRIX_REQUESTS + [
    ("GET", "/_matrix/client/v3/rooms/%21r%3Ax/./state/../members%20x", []),
    ("GET", "/_synapse/client/oidc/callback?code=a%2Fb", []),
] + UNMATCHED_REQUESTS
CLIENT_ADDRESS = "127.0.0.1"            # the test client's address, as Apache sees it
SPOOFED = "203.0.113.9"                 # an X-Forwarded-For a client makes up

# Requests the model is allowed to leave without an outcome: {(config, method, target, scenario):
# reason}. `config` is the fixture's path under tests/fixtures/apache, or `corpus/` and the corpus
# file's local path. The test fails when an entry here is not needed any more.
NO_OUTCOME: dict = {}


def model_of(text: str, path: str):
    tree = parse_string(text, path)
    config = build(tree, {})
    annotate(config)
    return tree, config


def runnable_text(path: Path) -> str:
    """The fixture, with its `Alias … /srv/…` documents served from the copy beside it."""
    return path.read_text().replace(" /srv/", f" {path.parent}/srv/")


def targets(config, proxy):
    """(listen port, tls, host) for every site the running Apache listens for."""
    seen = set()
    for site in config.sites:
        for listen in site.listens or [_Port80()]:
            if listen.port is None or listen.port not in proxy.listeners:
                continue
            host = next((n for n in site.names if HOSTNAME.match(n)), "localhost")
            key = (listen.port, host)
            if key not in seen:
                seen.add(key)
                yield listen.port, proxy.listeners[listen.port].tls, host


class _Port80:
    port = 80


def own_answer(route: Route, status: int, content_type: str = "") -> Route:
    """The route as it is when Apache answers `status` itself (refusals, a missing file)."""
    content_type = content_type or route.facts.get("error_content_type")
    return Route(route.match, Action("respond", status=status, content_type=content_type), route.span,
                 route.headers, facts=dict(route.facts))


def undecided(route: Route, request: Request) -> set:
    """Header names the model leaves to the response: conditional or edited values, values made
    at request time (`%{VAR}e`, `%D`), and request headers the request does not carry (Apache
    then sends the header empty, where the shared prediction leaves it out)."""
    out = set()
    for op in route.headers:
        value = op.value or ""
        absent = [m for m in re.findall(r"\$http_(\w+)", value) if request.header(m.replace("_", "-")) is None]
        if op.condition or op.mode not in ("add", "set", "remove") or "%" in value or absent:
            out.add(op.key)
    return out


class Tally:
    """What one run compared, and the requests the model gave no outcome (with why)."""

    def __init__(self, name: str):
        self.name = name
        self.compared: list = []
        self.no_outcome: dict = {}          # (name, method, target, scenario) -> why

    def missing(self, method, target, scenario, why):
        self.no_outcome[(self.name, method, target, scenario)] = why


def compare(tally, config, proxy, fake, method, target, headers, port, tls, host, *, scenario="ok"):
    """Assert one request's prediction, or record that the model has none for it."""
    request = Request(method, "https" if tls else "http", host, port, target, headers)
    site = select_site(config.sites, request)
    if site is None:
        tally.missing(method, target, scenario, f"no site listens on :{port}")
        return
    route, unknowns = select_request(site, request)
    if unknowns:
        # The model says it cannot decide: nothing to hold it to.
        tally.missing(method, target, scenario, "undecided: " + "; ".join(unknowns))
        return
    refused = refusal(site, request, route)
    fake.clear()
    response = proxy.request(method, target, listen=port, host=host, headers=headers)
    where = f"{method} {target} on :{port} {host} ({route.match}) [{scenario}]"
    reached = bool(fake.requests)
    action = route.action
    if refused is not None:
        assert not reached, f"{where}: the model predicts Apache refuses it ({refused.reason}), but it proxied"
        (predicted,) = outcomes(own_answer(route, refused.status, refused.content_type), request)
    elif scenario == "down":
        (predicted,) = outcomes(route, request, homeserver=True, upstream_down=True)
    elif action.kind == "proxy":
        assert reached, f"{where}: the model predicts a proxied request, Apache answered {response.status} itself"
        (predicted,) = outcomes(route, request, homeserver=True, upstream_status=response.status)
        want = upstream_target(route.facts["apache_proxy"], target, route.facts["encoded_slashes"])
        got = fake.last().request_line.decode("latin-1")
        assert got == f"{method} {want} HTTP/1.1", f"{where}: upstream request line {got!r}, model {want!r}"
        check_forwarded_for(where, action.forwarded_for, headers, fake.last().header_values("X-Forwarded-For"))
    else:
        assert not reached, f"{where}: the model predicts Apache answers itself, but it proxied"
        if action.kind == "static" and response.status == 404:
            (predicted,) = outcomes(own_answer(route, 404), request)   # the file is not here
        else:
            predicted = outcomes(route, request, homeserver=True)[0]
    if predicted.status is None:
        tally.missing(method, target, scenario, f"no status predicted for a `{action.kind}` route")
        return
    assert response.status == predicted.status, f"{where}: status"
    real = header_map(response.headers)
    skip = undecided(route, request)
    names = {h.name.lower() for h in predicted.headers if h.name.lower().startswith("access-control-")}
    names |= {n for n in real if n.startswith("access-control-")}
    if route.fallback or (refused is not None and action.kind != "proxy"):
        names.add("allow")
    for name in sorted(names - skip):
        # Apache writes its "always" headers before the rest: compare the values, not their order
        # (nor, for Allow, the order of the methods: it comes from a hash table).
        assert _values(real.get(name, []), name) == _values(predicted.values(name), name), f"{where}: {name}"
    if "content-type" not in skip and (action.content_type is not None or action.kind == "proxy"
                                       or predicted.status != 200 or refused is not None):
        # The whole value: Apache's own pages are `text/html; charset=iso-8859-1`.
        assert real.get("content-type", []) == predicted.values("Content-Type"), f"{where}: content type"
    tally.compared.append(where)


def _values(values: list, name: str) -> list:
    if name == "allow":
        return sorted(",".join(sorted(v.split(","))) for v in values)
    return sorted(values)


def check_forwarded_for(where, forwarded_for, sent, received):
    """What the upstream's X-Forwarded-For holds, against `Action.forwarded_for`."""
    client = [v for n, v in sent if n.lower() == "x-forwarded-for"]
    entries = [e.strip() for v in received for e in v.split(",")]
    if forwarded_for == "append":
        mine = [e.strip() for v in client for e in v.split(",")]
        assert entries[:len(mine)] == mine and len(entries) > len(mine), \
            f"{where}: X-Forwarded-For {received} is not the client's with more appended"
    elif forwarded_for == "replace":
        assert entries and set(entries) == {CLIENT_ADDRESS}, \
            f"{where}: X-Forwarded-For {received} is not the client address only"
    elif forwarded_for == "absent":
        # The proxy adds none of its own: nothing, or a header the client sent passed on untouched.
        assert received in ([], client), f"{where}: X-Forwarded-For {received}, the client sent {client}"


def run_requests(tally, config, proxy, fake):
    for port, tls, host in targets(config, proxy):
        for method, target, headers in REQUESTS:
            compare(tally, config, proxy, fake, method, target, headers, port, tls, host)
        compare(tally, config, proxy, fake, "GET", "/_matrix/client/versions", [("X-Forwarded-For", SPOOFED)],
                port, tls, host, scenario="spoofed-forwarded-for")
        for status in UPSTREAM_STATUSES:
            fake.fail_with = status
            for method, target, headers in (("GET", "/_matrix/client/versions", []),
                                            ("OPTIONS", "/_matrix/client/versions", PREFLIGHT)):
                compare(tally, config, proxy, fake, method, target, headers, port, tls, host,
                        scenario=f"upstream-{status}")
            fake.fail_with = None


def run_down(tally, config, proxy, fake):
    for port, tls, host in targets(config, proxy):
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
    return sorted(FIXTURES.rglob("*.conf"))


@pytest.mark.parametrize("path", fixture_paths(), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_model_matches_apache_on_rule_fixtures(path, apache, fake_homeserver, down_upstream):
    text = runnable_text(path)
    tree, config = model_of(text, str(path))
    assert not tree.errors
    name = str(path.relative_to(FIXTURES))
    tally = Tally(name)
    with apache(text) as proxy:
        run_requests(tally, config, proxy, fake_homeserver)
    with apache(text, upstream=down_upstream) as down:
        run_down(tally, config, down, fake_homeserver)
    assert tally.compared, "nothing was compared"
    assert_outcomes([tally], {k: v for k, v in NO_OUTCOME.items() if k[0] == name})


def corpus_files():
    from corpus import rows

    seen, out = set(), []
    for row in rows(server="apache", kind="matrix"):
        if "/_templates/" in row["local_path"]:
            continue
        text = Path(row["abspath"]).read_text(errors="replace")
        if text not in seen:            # many historical revisions are identical
            seen.add(text)
            out.append((row["local_path"], row["abspath"]))
    return out


def test_model_matches_apache_on_matrix_corpus_configs(apache, fake_homeserver, down_upstream):
    """Every Apache Matrix config of the corpus that Apache runs here, every request compared."""
    from real.client import ClientError
    from real.support import ConfigRejected

    ran, tallies, disagreements, refused, silent = 0, [], [], [], []
    for name, path in corpus_files():
        text = Path(path).read_text(errors="replace")
        tree, config = model_of(text, path)
        if tree.errors or not config.sites:
            continue
        try:
            proxy = apache(Path(path))
        except (ConfigRejected, pytest.skip.Exception, ValueError) as e:
            refused.append(f"{path}: {str(e).splitlines()[0][:100]}")
            continue
        tally = Tally(f"corpus/{name}")
        try:
            run_requests(tally, config, proxy, fake_homeserver)
            tallies.append(tally)
            ran += 1
        except AssertionError as e:
            disagreements.append(f"{path}: {str(e).splitlines()[0]}")
            ran += 1
        except (OSError, ClientError) as e:
            silent.append(f"{path}: {e!r}")
        finally:
            proxy.stop()
    compared = sum(len(t.compared) for t in tallies)
    missing = sum(len(t.no_outcome) for t in tallies)
    print(f"\ncorpus: {ran} Apache Matrix configs run ({compared} requests compared, {missing} without an "
          f"outcome), {len(refused)} not runnable here:\n" + "\n".join(refused) + "\nno HTTP answer:\n"
          + "\n".join(silent))
    assert not disagreements, "\n".join(disagreements)
    assert ran >= 20
    assert_outcomes(tallies, {k: v for k, v in NO_OUTCOME.items() if k[0].startswith("corpus/")})


# -- X-Forwarded-For: what the upstream receives, against Action.forwarded_for --------------

VHOST = "<VirtualHost *:80>\n    ServerName localhost\n{}\n</VirtualHost>\n"
PROXY = "    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon"
FORWARDED_FOR_CASES = {
    # mod_proxy_http appends the client address to the client's own header
    "default": ("append", PROXY),
    "rewrite-proxy": ("append", "    RewriteEngine On\n    RewriteRule ^/_matrix/(.*) http://127.0.0.1:8008/_matrix/$1 [P]"),
    "append-constant": ("append", "    RequestHeader append X-Forwarded-For 192.0.2.1\n" + PROXY),
    # RequestHeader runs before the proxy handler (early or not): mod_proxy appends after it
    "set-remote-addr": ("replace", "    RequestHeader set X-Forwarded-For %{REMOTE_ADDR}s\n" + PROXY),
    "set-remote-addr-early": ("replace", "    RequestHeader set X-Forwarded-For %{REMOTE_ADDR}s early\n" + PROXY),
    "set-expr": ("replace", "    RequestHeader set X-Forwarded-For expr=%{REMOTE_ADDR}\n" + PROXY),
    "unset": ("replace", "    RequestHeader unset X-Forwarded-For\n" + PROXY),
    "unset-in-location": ("replace", "    <Location /_matrix>\n        RequestHeader unset X-Forwarded-For\n"
                                     "    </Location>\n" + PROXY),
    # ProxyAddHeaders Off: only what RequestHeader leaves
    "off": ("absent", "    ProxyAddHeaders Off\n" + PROXY),
    "off-set": ("replace", "    ProxyAddHeaders Off\n    RequestHeader set X-Forwarded-For %{REMOTE_ADDR}s\n" + PROXY),
    "off-unset": ("absent", "    ProxyAddHeaders Off\n    RequestHeader unset X-Forwarded-For\n" + PROXY),
}


@pytest.mark.parametrize("case", sorted(FORWARDED_FOR_CASES))
def test_forwarded_for_is_what_the_upstream_receives(case, apache, fake_homeserver):
    expected, body = FORWARDED_FOR_CASES[case]
    text = VHOST.format(body)
    _, config = model_of(text, "/cfg/forwarded.conf")
    route, _ = select_request(config.sites[0], Request("GET", "http", "localhost", 80, "/_matrix/client/versions"))
    assert route.action.forwarded_for == expected
    assert route.action.forwarded_for_span is not None
    proxy = apache(text)
    for sent in ([], [("X-Forwarded-For", SPOOFED)], [("X-Forwarded-For", f"{SPOOFED}, 198.51.100.7")]):
        fake_homeserver.clear()
        proxy.request("GET", "/_matrix/client/versions", headers=sent)
        received = fake_homeserver.last().header_values("X-Forwarded-For")
        check_forwarded_for(f"{case} with {sent}", expected, sent, received)
        if expected == "append" and sent:
            assert received[0].startswith(SPOOFED)      # a client picks the left-most address


def test_forwarded_for_set_twice_holds_the_address_twice(apache, fake_homeserver):
    """`set` then mod_proxy's own append: the client address twice, nothing from the client."""
    proxy = apache(VHOST.format("    RequestHeader set X-Forwarded-For %{REMOTE_ADDR}s\n" + PROXY))
    proxy.request("GET", "/_matrix/client/versions", headers=[("X-Forwarded-For", SPOOFED)])
    assert fake_homeserver.last().header_values("X-Forwarded-For") == [f"{CLIENT_ADDRESS}, {CLIENT_ADDRESS}"]


# -- core's default handling: Site.fallback ------------------------------------------------

def test_default_handling_answers_by_method(apache, fake_homeserver):
    """No handler takes the request: 404 (GET, HEAD, POST), OPTIONS 200 with Allow, TRACE 200,
    405 for other known methods, 400 for CONNECT, 501 for an unknown one; only `Header always`
    reaches the error pages, `Header` also reaches the OPTIONS answer."""
    text = VHOST.format("    Header set X-Onsuccess yes\n    Header always set X-Always yes\n" + PROXY)
    _, config = model_of(text, "/cfg/default.conf")
    site = config.sites[0]
    assert [r.fallback for r in site.fallback] == [True] * len(site.fallback)
    assert site.fallback[-1].condition is None and site.fallback[-1].span == site.span
    proxy = apache(text)
    answers = {}
    for method in ("GET", "HEAD", "POST", "OPTIONS", "TRACE", "PUT", "DELETE", "PATCH", "PROPFIND", "CONNECT",
                   "BREW"):
        request = Request(method, "http", "localhost", 80, "/no-such-route/x")
        route, unknowns = select_request(site, request)
        assert route.fallback and not unknowns
        assert fallback_route(site, method).facts["apache_default_handler"] == \
            route.facts["apache_default_handler"]
        (predicted,) = outcomes(route, request)
        response = proxy.request(method, "/no-such-route/x")
        real = header_map(response.headers)
        assert response.status == predicted.status, method
        assert real.get("content-type", []) == predicted.values("Content-Type"), method
        for name in ("x-onsuccess", "x-always"):
            assert real.get(name, []) == predicted.values(name), (method, name)
        assert _values(real.get("allow", []), "allow") == _values(predicted.values("Allow"), "allow"), method
        answers[method] = response.status
    assert fake_homeserver.requests == []
    # What the real server did, stated (not taken from the model): the measurements.
    assert answers == {"GET": 404, "HEAD": 404, "POST": 404, "OPTIONS": 200, "TRACE": 200, "PUT": 405,
                       "DELETE": 405, "PATCH": 405, "PROPFIND": 405, "CONNECT": 400, "BREW": 501}


def test_trace_enable_off_makes_trace_a_405(apache):
    text = VHOST.format("    TraceEnable off\n" + PROXY)
    _, config = model_of(text, "/cfg/trace.conf")
    request = Request("TRACE", "http", "localhost", 80, "/x")
    route, _ = select_request(config.sites[0], request)
    response = apache(text).request("TRACE", "/x")
    assert response.status == route.action.status == 405
    assert response.header_values("Allow") == [""] == outcomes(route, request)[0].values("Allow")


def test_own_error_pages_are_latin1_html_and_error_documents_keep_that_type(apache):
    """A `%2F` refused under AllowEncodedSlashes Off, a missing file and a `[F]` answer all carry
    `text/html; charset=iso-8859-1`; an ErrorDocument text replaces the body, not the type."""
    text = VHOST.format('    ErrorDocument 404 "nothing here"\n    RewriteEngine On\n'
                        "    RewriteRule ^/forbidden - [F]\n" + PROXY)
    _, config = model_of(text, "/cfg/errors.conf")
    site = config.sites[0]
    proxy = apache(text)
    for target in ("/_matrix/client/v3/a%2Fb", "/no-such-file", "/forbidden"):
        request = Request("GET", "http", "localhost", 80, target)
        route, _ = select_request(site, request)
        refused = refusal(site, request, route)
        predicted = refused.content_type if refused is not None else route.action.content_type
        response = proxy.request("GET", target)
        assert response.header_values("Content-Type") == ["text/html; charset=iso-8859-1"] == [predicted], target
    response = proxy.request("GET", "/no-such-file")
    route, _ = select_request(site, Request("GET", "http", "localhost", 80, "/no-such-file"))
    assert response.body == b"nothing here" and route.action.body == "nothing here"
