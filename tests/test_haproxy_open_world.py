"""Open world, HAProxy: a fragment linted alone is modelled as far as it shows, and what it does
not show is unknown, never absent.

HAProxy has no include directive, so nothing is `Unresolved` here. The pieces users hand over:
- a conf.d piece with only backends: each backend is the default backend of a frontend not seen;
- a frontend whose backend is in another file: the backend's rules are unknown;
- a file without `global` and `defaults`: the mode and forwarding options of the defaults it is
  read with are unknown (the model still assumes `mode http`, as a stock haproxy.cfg does);
- lines of a section whose header the file does not show (a documentation excerpt, a piece a
  template assembles): read as that section's body when the engine lints the file; HAProxy itself
  refuses them in a file of their own, and so does `load()` without load options.
Positions were counted by hand from the texts next to them; `haproxy -c` (2.6) where a test says so.
"""
from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from linter.engine import lint
from linter.haproxy.build import build
from linter.haproxy.parse import fragment_kind, load, parse_string
from linter.syntax import LoadOptions, Span

DATA = Path(__file__).resolve().parent / "data" / "haproxy" / "open_world"
LINT = LoadOptions()
DEFAULTS = "global\n    daemon\ndefaults\n    mode http\n    timeout client 1m\n    timeout server 1m\n"


def model(text: str, path: str = "piece.cfg", load_options=LINT):
    tree = parse_string(textwrap.dedent(text).lstrip("\n"), path, env={}, load_options=load_options)
    assert tree.errors == [], tree.errors
    return build(tree, {})


def whats(unknowns) -> list:
    return [u.what for u in unknowns]


def context(path) -> str:
    return f"the configuration that includes `{path}`"


def test_a_conf_d_piece_with_only_backends_models_each_as_reached_from_an_unseen_frontend():
    path = str(DATA / "20-backends.cfg")
    report = lint([path], server="haproxy")
    assert report.errors == []
    config = build(load(path, env={}, load_options=LINT), {})
    assert whats(config.unknowns) == [context(path)]
    assert [(s.names, s.listens, s.span.line) for s in config.sites] == [([], [], 2), ([], [], 7)]
    for site, backend in zip(config.sites, ("synapse", "media")):
        assert whats(site.unknowns) == [context(path)]
        route, = site.routes
        assert (route.match.kind, route.action.kind, route.action.upstream) == ("any", "proxy", backend)
        assert whats(route.unknowns) == [context(path)]
    synapse = config.sites[0].routes[0]
    # what the backend shows is modelled: its forwardfor and its X-Forwarded-Proto
    assert synapse.action.request_headers["x-forwarded-for"] == "%[src]"
    assert synapse.action.request_headers["x-forwarded-proto"] == "https"
    # findings about what the unseen frontend could supply depend on it
    assert report.findings and all(f.severity == "info" and f.unless for f in report.findings)


def test_a_whole_configuration_with_only_backends_has_no_frontend_to_imagine():
    config = model(DEFAULTS + "backend b\n    server s 127.0.0.1:8008\n")
    assert config.sites == [] and config.unknowns == []


def test_a_frontend_whose_backends_are_in_another_file():
    path = str(DATA / "10-frontend.cfg")
    assert lint([path], server="haproxy").errors == []
    config = build(load(path, env={}, load_options=LINT), {})
    site = next(s for s in config.sites if not s.names)
    matrix, media = site.routes[0], site.routes[-1]
    assert (matrix.action.upstream, media.action.upstream) == ("synapse", "media")
    assert whats(matrix.unknowns) == [context(path), "backend `synapse` (not in the files read)"]
    assert matrix.unknowns[1].span == Span(path, 5, 5, 5, 39)           # the use_backend line
    assert whats(media.unknowns) == [context(path), "backend `media` (not in the files read)"]
    assert media.unknowns[1].span.line == 6
    assert whats(site.unknowns) == [context(path)]


def test_with_global_and_defaults_only_the_missing_backend_is_unknown():
    config = model(DEFAULTS + """
        frontend fe
            bind :443
            use_backend synapse if { path_beg /_matrix }
            default_backend web
        backend web
            server w 127.0.0.1:8080
        """.replace("\n        ", "\n"))
    assert config.unknowns == []
    site = config.sites[0]
    assert site.unknowns == []
    matrix, web = site.routes
    assert whats(matrix.unknowns) == ["backend `synapse` (not in the files read)"]
    assert (matrix.unknowns[0].span.line, matrix.unknowns[0].span.column) == (10, 5)
    assert web.unknowns == []


def test_a_backend_picked_at_run_time_is_unknown():
    config = model(DEFAULTS + "frontend fe\n    bind :80\n    use_backend be_%[req.hdr(host),lower]\n"
                              "backend be_a\n    server s 127.0.0.1:1\n")
    route, = config.sites[0].routes
    assert whats(route.unknowns) == ["the backend `be_%[req.hdr(host),lower]` picks at run time"]


def test_no_defaults_means_the_mode_is_assumed_and_unknown():
    config = model("frontend fe\n    bind :80\n    default_backend b\nbackend b\n    server s 127.0.0.1:8008\n")
    assert any("mode http" in note for note in config.notes)
    route, = config.sites[0].routes
    assert route.action.kind == "proxy" and whats(route.unknowns) == [context("piece.cfg")]
    # the same with a defaults section: nothing unknown
    config = model(DEFAULTS + "frontend fe\n    bind :80\n    default_backend b\nbackend b\n    server s 127.0.0.1:8008\n")
    assert config.sites[0].routes[0].unknowns == [] and config.unknowns == []


def test_lines_before_any_section_are_the_body_of_a_section_not_shown():
    path = str(DATA / "frontend-body.cfg")
    tree = load(path, env={}, load_options=LINT)
    assert tree.errors == []
    fe, be = tree.directives
    assert (fe.name, fe.args, fe.extra["fragment"], fe.span) == ("frontend", [], True, Span(path, 2, 5, 2, 6))
    acl, use = fe.block
    assert (acl.name, use.name, use.args[0]) == ("acl", "use_backend", "sfu_backend")
    assert use.extra["condition"] is not None          # read as a frontend's rule, condition and all
    assert (be.name, be.args) == ("backend", ["sfu_backend"])
    config = build(tree, {})
    route, = config.sites[0].routes
    assert (route.match.pattern, route.action.upstream) == ("/livekit/sfu/", "sfu_backend")
    assert whats(route.unknowns) == [context(path)]
    assert lint([path], server="haproxy").errors == []


def test_without_load_options_lines_outside_a_section_are_the_error_haproxy_reports():
    err, = load(str(DATA / "frontend-body.cfg"), env={}).errors
    assert (err.line, err.column) == (2, 5) and "outside any section" in err.message


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy not installed")
def test_haproxy_refuses_the_fragment_alone_and_a_backend_only_piece_is_valid(tmp_path):
    def check(name):
        return subprocess.run(["haproxy", "-c", "-f", str(DATA / name)], capture_output=True, text=True)
    alone = check("frontend-body.cfg")
    assert alone.returncode != 0 and "out of section" in alone.stderr
    # a backends-only piece parses (haproxy only says it would not start: no listener)
    backends = check("20-backends.cfg")
    assert "ALERT" not in backends.stderr


def test_what_stays_an_error():
    def errors(text, path="piece.cfg"):
        return parse_string(text, path, env={}, load_options=LINT).errors
    # a whole configuration (a global section) or the entry file: the header is really missing
    assert errors("  maxconn 1\nbind :80\nglobal\n  daemon\n")
    assert errors("acl a path /x\nuse_backend b if a\nbackend b\n  server s 1.2.3.4:80\n", "haproxy.cfg")
    # text that is not HAProxy at all (YAML, a Helm values file)
    assert errors("apiVersion: v1\nkind: ConfigMap\n")


def test_fragment_kind_from_the_keywords_it_shows():
    assert fragment_kind("  acl a path /x\n  use_backend b if a\n", "x.cfg") == "frontend"
    assert fragment_kind("  http-request set-header X 1\n", "x.cfg") == "frontend"
    assert fragment_kind("  balance roundrobin\n  server s 1.2.3.4:80\n", "x.cfg") == "backend"
    assert fragment_kind("  bind :80\n  server s 1.2.3.4:80\n", "x.cfg") == "listen"
    assert fragment_kind("frontend fe\n  bind :80\n", "x.cfg") is None
    assert fragment_kind("  bind :80\n", "haproxy.cfg") is None
    assert fragment_kind("  bind :80\nglobal\n", "x.cfg") is None


def test_a_backend_fragment_is_reached_from_an_unseen_frontend():
    config = model("    http-request set-header X-Forwarded-Proto https\n    server s 127.0.0.1:8008\n")
    route, = config.sites[0].routes
    assert route.action.kind == "proxy" and route.action.request_headers["x-forwarded-proto"] == "https"
    assert whats(route.unknowns) == [context("piece.cfg")]


def test_tcp_mode_is_never_asserted_where_an_unseen_file_could_set_mode_http():
    # Without `global` and `defaults` the mode comes from what is not shown: read as HTTP, not TCP.
    piece = model("frontend fe\n    bind :8448\n    default_backend synapse\n"
                  "backend synapse\n    server synapse 127.0.0.1:8008\n")
    site, = piece.sites
    assert (site.facts["mode"], site.facts["mode_known"]) == ("http", "assumed")
    assert whats(site.routes[0].unknowns) == [context("piece.cfg")]
    # The lines of a frontend whose header is not shown, next to a defaults section without a
    # mode: its own defaults are not shown either (the section comes from another file).
    body = model("    bind :8448\n    default_backend synapse\n"
                 "defaults\n    timeout client 1m\nbackend synapse\n    server synapse 127.0.0.1:8008\n")
    front = next(s for s in body.sites if s.listens)
    assert front.facts["mode_known"] == "assumed"
    # A whole configuration (global and defaults shown) without `mode http`: TCP, said in the notes.
    whole = model(DEFAULTS.replace("    mode http\n", "") +
                  "frontend fe\n    bind :8448\n    http-request set-header X-Forwarded-Proto https\n"
                  "    default_backend synapse\nbackend synapse\n    server synapse 127.0.0.1:8008\n")
    site, = whole.sites
    assert (site.facts["mode"], site.facts["mode_known"]) == ("tcp", "default")
    assert [d.key for d in site.facts["ignored_http"]] == ["http-request"]
    assert any("ignored" in note for note in whole.notes)
    route, = site.routes
    assert route.unknowns == [] and route.action.forwarded_for == "absent"


def test_tcp_mode_finding_depends_on_an_unseen_backend(tmp_path):
    path = tmp_path / "haproxy.cfg"
    path.write_text(DEFAULTS.replace("    mode http\n", "") +
                    "frontend fe\n    bind :8448\n    default_backend synapse\n")
    finding, = [f for f in lint([str(path)], server="haproxy").findings if f.rule.code == "MPL807"]
    # the unseen backend could say `mode http` (HAProxy then upgrades the connection to HTTP):
    # the finding depends on it
    assert finding.severity == "info" and "backend `synapse` (not in the files read)" in finding.message
