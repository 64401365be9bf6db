"""Differential tests: what the Apache model predicts equals what the real Apache httpd does.

For every Apache rule fixture and every Apache Matrix config of the shared corpus that Apache can
run, and for requests that matter to Matrix (client API GET and CORS preflight, federation paths
with %2F, %40, // and dot segments, both well-known documents, an upstream error, the upstream
down), the model's prediction of the status, every Access-Control-* header with its exact number
of values, the content type, and the request line the upstream receives must equal what Apache
did. A disagreement is a model bug.

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
from linter.select import Request, select_site
from real.differential import MATRIX_REQUESTS, header_map

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "apache"
HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$", re.I)
REQUESTS = MATRIX_REQUESTS + [
    ("GET", "/_matrix/client/v3/rooms/%21r%3Ax/./state/../members%20x", []),
    ("GET", "/_synapse/client/oidc/callback?code=a%2Fb", []),
]


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


def own_answer(route: Route, status: int) -> Route:
    """The route as it is when Apache answers `status` itself (refusals, a missing file)."""
    return Route(route.match, Action("respond", status=status, content_type="text/html"), route.span,
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


def compare(config, proxy, fake, method, target, headers, port, tls, host, *, scenario="ok"):
    """Assert one request's prediction; returns a short description of what was compared."""
    request = Request(method, "https" if tls else "http", host, port, target, headers)
    site = select_site(config.sites, request)
    if site is None:
        return None
    route, unknowns = select_request(site, request)
    if unknowns:
        return None                     # the model says it cannot decide: nothing to hold it to
    refused = refusal(site, request, route)
    fake.clear()
    response = proxy.request(method, target, listen=port, host=host, headers=headers)
    where = f"{method} {target} on :{port} {host} ({route.match}) [{scenario}]"
    reached = bool(fake.requests)
    action = route.action
    if refused is not None:
        assert not reached, f"{where}: the model predicts Apache refuses it ({refused.reason}), but it proxied"
        (predicted,) = outcomes(own_answer(route, refused.status), request)
    elif scenario == "down":
        (predicted,) = outcomes(route, request, homeserver=True, upstream_down=True)
    elif action.kind == "proxy":
        assert reached, f"{where}: the model predicts a proxied request, Apache answered {response.status} itself"
        (predicted,) = outcomes(route, request, homeserver=True, upstream_status=response.status)
        want = upstream_target(route.facts["apache_proxy"], target, route.facts["encoded_slashes"])
        got = fake.last().request_line.decode("latin-1")
        assert got == f"{method} {want} HTTP/1.1", f"{where}: upstream request line {got!r}, model {want!r}"
    else:
        assert not reached, f"{where}: the model predicts Apache answers itself, but it proxied"
        if action.kind == "static" and response.status == 404:
            (predicted,) = outcomes(own_answer(route, 404), request)   # the file is not here
        else:
            predicted = outcomes(route, request, homeserver=True)[0]
    if predicted.status is not None:
        assert response.status == predicted.status, f"{where}: status"
    elif action.kind == "none":
        return where
    real = header_map(response.headers)
    skip = undecided(route, request)
    names = {h.name.lower() for h in predicted.headers if h.name.lower().startswith("access-control-")}
    names |= {n for n in real if n.startswith("access-control-")}
    for name in sorted(names - skip):
        # Apache writes its "always" headers before the rest: compare the values, not their order.
        assert sorted(real.get(name, [])) == sorted(predicted.values(name)), f"{where}: {name}"
    if "content-type" not in skip and (action.content_type is not None or action.kind == "proxy"
                                       or predicted.status != 200):
        want_ct = [v.split(";")[0].strip() for v in predicted.values("Content-Type")]
        got_ct = [v.split(";")[0].strip() for v in real.get("content-type", [])]
        assert got_ct == want_ct, f"{where}: content type"
    return where


def run_requests(config, proxy, fake):
    compared = []
    for port, tls, host in targets(config, proxy):
        for method, target, headers in REQUESTS:
            compared.append(compare(config, proxy, fake, method, target, headers, port, tls, host))
        fake.fail_with = 500
        compared.append(compare(config, proxy, fake, "GET", "/_matrix/client/versions", [], port, tls, host,
                                scenario="upstream-500"))
        fake.fail_with = None
    return [c for c in compared if c]


def run_down(config, proxy, fake):
    compared = []
    for port, tls, host in targets(config, proxy):
        compared.append(compare(config, proxy, fake, "GET", "/_matrix/client/versions", [], port, tls, host,
                                scenario="down"))
    return [c for c in compared if c]


def fixture_paths():
    return sorted(FIXTURES.rglob("*.conf"))


@pytest.mark.parametrize("path", fixture_paths(), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_model_matches_apache_on_rule_fixtures(path, apache, fake_homeserver, down_upstream):
    text = runnable_text(path)
    tree, config = model_of(text, str(path))
    assert not tree.errors
    with apache(text) as proxy:
        compared = run_requests(config, proxy, fake_homeserver)
    with apache(text, upstream=down_upstream) as down:
        run_down(config, down, fake_homeserver)
    assert compared, "nothing was compared"


def corpus_files():
    from corpus import rows

    seen, out = set(), []
    for row in rows(server="apache", kind="matrix"):
        if "/_templates/" in row["local_path"]:
            continue
        text = Path(row["abspath"]).read_text(errors="replace")
        if text not in seen:            # many historical revisions are identical
            seen.add(text)
            out.append(row["abspath"])
    return out


def test_model_matches_apache_on_matrix_corpus_configs(apache, fake_homeserver, down_upstream):
    """Every Apache Matrix config of the corpus that Apache runs here, every request compared."""
    from real.client import ClientError
    from real.support import ConfigRejected

    ran, requests, disagreements, refused, silent = 0, 0, [], [], []
    for path in corpus_files():
        text = Path(path).read_text(errors="replace")
        tree, config = model_of(text, path)
        if tree.errors or not config.sites:
            continue
        try:
            proxy = apache(Path(path))
        except (ConfigRejected, pytest.skip.Exception, ValueError) as e:
            refused.append(f"{path}: {str(e).splitlines()[0][:100]}")
            continue
        try:
            compared = run_requests(config, proxy, fake_homeserver)
            requests += len(compared)
            ran += 1
        except AssertionError as e:
            disagreements.append(f"{path}: {str(e).splitlines()[0]}")
            ran += 1
        except (OSError, ClientError) as e:
            silent.append(f"{path}: {e!r}")
        finally:
            proxy.stop()
    print(f"\ncorpus: {ran} Apache Matrix configs run ({requests} requests compared), {len(refused)} not runnable "
          f"here:\n" + "\n".join(refused) + "\nno HTTP answer:\n" + "\n".join(silent))
    assert not disagreements, "\n".join(disagreements)
    assert ran >= 20
