"""The nginx front end in an open world: what it cannot see is unknown, never absent.

An include found nowhere (not in the checked tree, not on this machine, not in an --include-path
directory, not in shipped knowledge) is `Unresolved`, not an error; the model carries it as an
`Unknown` at every scope it could affect. Standard server-side files (Debian's `proxy_params`,
SWAG's `/config/nginx/proxy.conf`, certbot's options) come from `linter.known`, with positions on
the include line. Resolution order: linter/nginx/sources.py.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from linter import known
from linter.engine import lint
from linter.model import Unknown
from linter.nginx.build import build
from linter.nginx.lexer import tokenize
from linter.nginx.parse import load, parse_string
from linter.nginx.structure import build_directives
from linter.syntax import LoadOptions, Span, Unresolved, walk


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def directives(tree, name):
    return [d for d in walk(tree.directives) if d.name == name]


def route(config, pattern):
    return next(r for s in config.sites for r in s.routes if r.match.pattern == pattern)


# --- unresolved includes --------------------------------------------------------------------

def test_missing_include_is_unresolved_at_the_include_not_an_error(tmp_path):
    conf = write(tmp_path / "nginx.conf", "http {\n    server {\n        include nowhere.conf;\n    }\n}\n")
    tree = load(conf)
    assert tree.errors == []
    [unresolved] = tree.unresolved
    assert unresolved.span == Span(conf, 3, 9, 3, 30)
    assert (unresolved.target, unresolved.kind) == ("nowhere.conf", "include")
    assert unresolved.reason == f"not found (looked in {tmp_path})"
    [include] = directives(tree, "include")
    assert include.extra["unresolved"] is unresolved
    assert include.extra["includes"] == []
    assert "known" not in include.extra


def test_missing_absolute_include_says_where_it_looked(tmp_path):
    site = write(tmp_path / "site.conf", "server { include /nonexistent-mpl/extra.conf; }\n")
    [unresolved] = load(site).unresolved
    assert unresolved.reason == f"not found (looked in {tmp_path} and on this machine)"
    [unresolved] = load(site, prefix=str(tmp_path)).unresolved
    assert unresolved.reason == (f"not found (looked in {tmp_path} "
                                 f"(with --prefix, this machine's files are not read))")


@pytest.mark.parametrize("target, placeholder", [
    ("${NGINX_CONF_DIR}/matrix.conf", "${NGINX_CONF_DIR}"),
    ('"{{ nginx_dir }}/matrix.conf"', "{{ nginx_dir }}"),
    ("/etc/nginx/conf.d/__DOMAIN__.d/__APP__.conf.inc", "__DOMAIN__"),
])
def test_template_include_is_unresolved(tmp_path, target, placeholder):
    site = write(tmp_path / "site.conf", f"server {{\n    include {target};\n}}\n")
    tree = load(site)
    assert tree.errors == []
    [unresolved] = tree.unresolved
    assert (unresolved.span.line, unresolved.span.column) == (2, 5)
    assert unresolved.target == target.strip('"')
    assert unresolved.reason == f"not found: the path contains the template placeholder `{placeholder}`"


def test_glob_matching_nothing_anywhere_stays_silent(tmp_path):
    conf = write(tmp_path / "nginx.conf", "http {\n    include /nonexistent-mpl/*.conf;\n"
                                          "    include conf.d/*.conf;\n}\n")
    tree = load(conf)
    assert tree.errors == [] and tree.unresolved == []
    assert all(d.extra["includes"] == [] for d in directives(tree, "include"))


def test_unresolved_include_in_a_snippet_included_twice_is_noted_once(tmp_path):
    write(tmp_path / "snippets" / "common.conf", "include missing.conf;\n")
    conf = write(tmp_path / "nginx.conf", "http {\n    server { include snippets/common.conf; }\n"
                                          "    server { include snippets/common.conf; }\n}\n")
    tree = load(conf)
    assert len(tree.unresolved) == 1
    assert len([d for d in directives(tree, "include") if d.extra.get("unresolved")]) == 2


# --- what stays an error --------------------------------------------------------------------

def test_include_cycle_is_still_an_error_with_its_position(tmp_path):
    a = write(tmp_path / "a.conf", "http {\n    include b.conf;\n}\n")
    b = write(tmp_path / "b.conf", "\n  include a.conf;\n")
    tree = load(a)
    assert [(e.path, e.line, e.column) for e in tree.errors] == [(b, 2, 3)]
    assert tree.errors[0].message.startswith("include cycle: ")
    assert tree.unresolved == []


def test_a_directory_as_include_target_is_still_an_error(tmp_path):
    (tmp_path / "proxy.conf").mkdir()
    conf = write(tmp_path / "nginx.conf", "http {\n  server {\n    include proxy.conf;\n  }\n}\n")
    tree = load(conf)
    assert [(e.path, e.line, e.column) for e in tree.errors] == [(conf, 3, 5)]
    assert tree.errors[0].message == f"cannot read {tmp_path / 'proxy.conf'}: it is a directory"
    assert str(tree.errors[0]).startswith(f"{conf}:3:5: ")
    assert tree.unresolved == []


def test_a_fifo_as_include_target_is_refused_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "pipe.conf")
    conf = write(tmp_path / "nginx.conf", "http {\n    include pipe.conf;\n}\n")
    tree = load(conf)
    assert [(e.line, e.column, e.message) for e in tree.errors] == [
        (2, 5, f"refusing to read {tmp_path / 'pipe.conf'}: not a regular file (a FIFO)")]


# --- shipped knowledge ----------------------------------------------------------------------

PROXIED = """server {
    listen 443 ssl;
    location /_matrix {
        include proxy_params;
        proxy_pass http://127.0.0.1:8008;
    }
}
"""


def test_known_proxy_params_supplies_forwarding_headers_at_the_include_line(tmp_path):
    site = write(tmp_path / "matrix.conf", PROXIED)
    tree = load(site)
    assert tree.errors == [] and tree.unresolved == []
    assert tree.files == [site]          # package data is never a file of the tree
    [include] = directives(tree, "include")
    assert include.extra["known"].startswith("/etc/nginx/proxy_params as shipped by Debian nginx-common")
    pulled = directives(tree, "proxy_set_header")
    assert [d.args[0] for d in pulled] == ["Host", "X-Real-IP", "X-Forwarded-For", "X-Forwarded-Proto"]
    for d in pulled:
        assert d.span == include.span == Span(site, 4, 9, 4, 30)
        assert d.arg_spans == [include.span, include.span]
        assert d.extra["known_source"] == include.extra["known"]
        assert d.extra["included_from"] == include.span
    headers = route(build(tree), "/_matrix").action.request_headers
    assert headers["x-forwarded-for"] == "$proxy_add_x_forwarded_for"
    assert headers["x-forwarded-proto"] == "$scheme"


def test_a_real_file_in_the_tree_wins_over_the_known_one(tmp_path):
    write(tmp_path / "proxy_params", 'proxy_set_header X-Forwarded-For "from-the-tree";\n')
    site = write(tmp_path / "matrix.conf", PROXIED)
    tree = load(site)
    [include] = directives(tree, "include")
    assert "known" not in include.extra
    assert include.extra["includes"] == [str(tmp_path / "proxy_params")]
    assert tree.files == [site, str(tmp_path / "proxy_params")]
    headers = route(build(tree), "/_matrix").action.request_headers
    assert headers == {"x-forwarded-for": "from-the-tree"}


def test_an_include_path_directory_wins_over_knowledge(tmp_path):
    extra = tmp_path / "server-files"
    write(extra / "proxy_params", "proxy_set_header X-Forwarded-For from-include-path;\n")
    write(extra / "proxy.conf", "proxy_set_header X-Forwarded-Proto https;\n")
    site = write(tmp_path / "repo" / "matrix.conf",
                 "location /a { include proxy_params; proxy_pass http://a; }\n"
                 "location /b { include /config/nginx/proxy.conf; proxy_pass http://b; }\n")
    options = LoadOptions(include_paths=(str(extra),))
    tree = load(site, load_options=options)
    assert tree.errors == [] and tree.unresolved == []
    assert not any("known" in d.extra for d in directives(tree, "include"))
    config = build(tree)
    assert route(config, "/a").action.request_headers == {"x-forwarded-for": "from-include-path"}
    # An absolute path is mapped into the directory by its last components.
    assert route(config, "/b").action.request_headers == {"x-forwarded-proto": "https"}
    # Without it, SWAG's proxy.conf is known.
    known_b = route(build(load(site)), "/b").action.request_headers
    assert known_b["x-forwarded-proto"] == "$scheme" and known_b["host"] == "$host"


def test_includes_inside_known_text_resolve_like_any_other(tmp_path):
    site = write(tmp_path / "php.conf", "location ~ \\.php$ {\n    include snippets/fastcgi-php.conf;\n"
                                        "    fastcgi_pass unix:/run/php/php-fpm.sock;\n}\n")
    tree = load(site)
    assert tree.errors == [] and tree.unresolved == []
    outer = directives(tree, "include")[0]
    params = {d.args[0]: d for d in directives(tree, "fastcgi_param")}
    assert params["SCRIPT_FILENAME"].args[1] == "$document_root$fastcgi_script_name"
    assert params["SCRIPT_FILENAME"].span == outer.span     # fastcgi.conf, known too
    # A real fastcgi.conf in the tree wins, even when a known file includes it.
    write(tmp_path / "fastcgi.conf", "fastcgi_param SCRIPT_FILENAME /srv$fastcgi_script_name;\n")
    tree = load(site)
    [script] = [d for d in directives(tree, "fastcgi_param") if d.args[0] == "SCRIPT_FILENAME"]
    assert script.span.path == str(tmp_path / "fastcgi.conf")


def test_known_types_block_keeps_its_structure(tmp_path):
    conf = write(tmp_path / "nginx.conf", "http {\n    include mime.types;\n}\n")
    tree = load(conf)
    assert tree.errors == [] and tree.unresolved == []
    [types] = directives(tree, "types")
    assert types.block and types.extra["block_end"] == types.span == Span(conf, 2, 5, 2, 24)
    assert any(d.name == "application/json" for d in types.block)


@pytest.mark.parametrize("entry", known.entries("nginx"), ids=lambda k: os.path.basename(k.file))
def test_every_known_nginx_file_is_well_formed(entry):
    assert entry.source and (entry.paths or entry.names)
    _, problems = build_directives(tokenize(entry.text), entry.file)
    assert problems == []
    for name in entry.paths + entry.names:
        assert known.find("nginx", name) == entry
    # Parsed as an include, nothing in it is an nginx error (context permitting).
    context = "http {\n    %s\n}\n" if "types" in entry.text else "http { server {\n    %s\n} }\n"
    tree = parse_string(context % f"include {(entry.paths or entry.names)[0]};", "/nowhere/x.conf",
                        prefix="/nonexistent-mpl-prefix")
    assert tree.errors == [] and tree.unresolved == []


# --- where files are read from --------------------------------------------------------------

def test_this_machines_file_outside_the_tree_is_read_and_recorded(tmp_path):
    host_file = write(tmp_path / "elsewhere" / "extra-mpl.conf", "proxy_set_header X-Host-File yes;\n")
    site = write(tmp_path / "repo" / "matrix.conf", f"location / {{ include {host_file}; proxy_pass http://a; }}\n")
    tree = load(site)
    assert tree.errors == [] and tree.unresolved == []
    assert tree.outside == [host_file]
    assert host_file in tree.files
    # With a prefix the user audits a copy: this machine is never read.
    tree = load(site, prefix=str(tmp_path / "repo"))
    assert tree.outside == [] and host_file not in tree.files
    assert [u.target for u in tree.unresolved] == [host_file]


def test_a_file_inside_the_tree_is_not_outside(tmp_path):
    snippet = write(tmp_path / "snippets" / "x.conf", "proxy_buffering off;\n")
    site = write(tmp_path / "site.conf", f"location / {{ include {snippet}; }}\n")
    tree = load(site)
    assert tree.files == [site, snippet] and tree.outside == []


def test_a_copied_etc_nginx_is_read_never_this_machines(tmp_path):
    copy = tmp_path / "etc-nginx-copy"
    conf = write(copy / "nginx.conf", "events {}\nhttp {\n    include /etc/nginx/mime.types;\n"
                                      "    include /etc/nginx/sites-enabled/*;\n}\n")
    site = write(copy / "sites-enabled" / "matrix",
                 "server {\n    listen 443 ssl;\n    include /etc/nginx/proxy_params;\n}\n")
    tree = load(conf)
    assert tree.errors == [] and tree.unresolved == []
    assert tree.files == [conf, site]
    assert "/etc/nginx/sites-enabled/default" not in tree.files   # the host's own site
    assert tree.outside == []
    # mime.types and proxy_params are not in the copy: known, not read from this machine.
    assert all("known" in d.extra for d in directives(tree, "include")
               if d.args[0] in ("/etc/nginx/mime.types", "/etc/nginx/proxy_params"))
    # A sites-enabled file linted on its own finds the same tree.
    assert load(site).outside == []
    # No sites-enabled/ in the copy at all: still never the host's.
    os.remove(site)
    os.rmdir(copy / "sites-enabled")
    tree = load(conf)
    assert tree.files == [conf] and tree.outside == [] and tree.errors == []


def test_tree_roots_take_absolute_includes_before_this_machine(tmp_path):
    repo = tmp_path / "repo"
    snippet = write(repo / "deploy" / "snippets" / "matrix.conf", "proxy_buffering off;\n")
    site = write(repo / "deploy" / "sites" / "matrix.conf",
                 "location / { include /srv/nginx/snippets/matrix.conf; }\n")
    # Without the tree root, the last component alone would name the entry itself: a wrong guess
    # (skipped), not an include cycle.
    first = load(site)
    assert first.errors == [] and [u.target for u in first.unresolved] == ["/srv/nginx/snippets/matrix.conf"]
    tree = load(site, load_options=LoadOptions(tree_roots=(str(repo / "deploy"),)))
    assert tree.unresolved == [] and tree.files == [site, snippet] and tree.outside == []


def test_load_options_prefix_wins_over_the_prefix_argument(tmp_path):
    write(tmp_path / "right" / "x.conf", "proxy_buffering off;\n")
    site = write(tmp_path / "site.conf", "location / { include x.conf; }\n")
    tree = load(site, prefix=str(tmp_path / "wrong"), load_options=LoadOptions(prefix=str(tmp_path / "right")))
    assert tree.unresolved == [] and directives(tree, "proxy_buffering")


# --- unknowns in the model ------------------------------------------------------------------

SCOPES = """include main-level.conf;
events {}
http {
    include http-level.conf;
    server {
        server_name a.example;
        include server-level.conf;
        location /one {
            include location-level.conf;
            proxy_pass http://127.0.0.1:8008;
            location /one/nested { proxy_pass http://127.0.0.1:8008; }
        }
        location /two { proxy_pass http://127.0.0.1:8008; }
    }
    server {
        server_name b.example;
        location /three { proxy_pass http://127.0.0.1:8008; }
    }
}
"""


def test_unknowns_reach_exactly_the_scopes_they_could_affect(tmp_path):
    conf = write(tmp_path / "nginx.conf", SCOPES)
    tree = load(conf)
    assert tree.errors == []
    by_target = {u.target: Unknown.from_unresolved(u) for u in tree.unresolved}
    main, http, server, location = (by_target[f"{n}-level.conf"] for n in ("main", "http", "server", "location"))
    config = build(tree)
    assert config.unknowns == [main, http]
    site_a, site_b = config.sites
    assert site_a.unknowns == [http, server]
    assert site_b.unknowns == [http]
    assert route(config, "/one").unknowns == [http, server, location]
    assert route(config, "/one/nested").unknowns == [http, server, location]
    assert route(config, "/two").unknowns == [http, server]
    assert route(config, "/three").unknowns == [http]
    assert location.what == f"`location-level.conf` (not found (looked in {tmp_path}))"
    assert location.span == Span(conf, 9, 13, 9, 41)


def test_unknowns_reach_if_variants_of_their_location(tmp_path):
    conf = write(tmp_path / "nginx.conf", "http { server {\n location / {\n"
                                          "  if ($request_method = OPTIONS) { include cors.conf; }\n"
                                          "  proxy_pass http://a;\n } } }\n")
    config = build(load(conf))
    plain, variant = config.sites[0].routes
    assert plain.unknowns == []
    assert [u.what for u in variant.unknowns] == [f"`cors.conf` (not found (looked in {tmp_path}))"]


def test_a_snippet_alone_gets_the_including_configuration_as_unknown(tmp_path):
    site = write(tmp_path / "matrix.conf", "server {\n    listen 443 ssl;\n    include missing.conf;\n"
                                           "    location /_matrix { proxy_pass http://a; }\n}\n")
    tree = load(site)
    config = build(tree)
    context = Unknown.including_context(site)
    missing = Unknown.from_unresolved(tree.unresolved[0])
    assert context.span == Span(site, 1, 1, 1, 2)
    assert config.unknowns == [context]
    assert config.sites[0].unknowns == [context, missing]
    assert route(config, "/_matrix").unknowns == [context, missing]
    # A file of locations only, too.
    locations = write(tmp_path / "locations.conf", "location /_matrix { proxy_pass http://a; }\n")
    config = build(load(locations))
    assert config.sites[0].unknowns == [Unknown.including_context(locations)]
    assert config.sites[0].routes[0].unknowns == [Unknown.including_context(locations)]


def test_a_complete_configuration_has_no_unknowns(tmp_path):
    conf = write(tmp_path / "nginx.conf", "events {}\nhttp { server { location / { proxy_pass http://a; } } }\n")
    config = build(load(conf))
    assert config.unknowns == [] and config.sites[0].unknowns == [] and config.sites[0].routes[0].unknowns == []


# --- through the engine, and on real configurations -----------------------------------------

def test_the_engine_reports_no_error_for_a_missing_include(tmp_path):
    site = write(tmp_path / "sites-enabled" / "matrix", "server {\n    listen 443 ssl;\n"
                                                          "    include /etc/nginx/snippets/site-only.conf;\n}\n")
    report = lint([site], server="nginx")
    assert report.errors == []


def test_swag_synapse_sample_loads_with_known_swag_files():
    from corpus import CORPUS, require_corpus

    require_corpus()
    path = CORPUS / "nginx" / "linuxserver__reverse-proxy-confs" / "synapse.subdomain.conf.sample"
    tree = load(str(path))
    assert tree.errors == [] and tree.unresolved == []
    assert {d.args[0] for d in directives(tree, "include") if "known" in d.extra} == {
        "/config/nginx/ssl.conf", "/config/nginx/proxy.conf", "/config/nginx/resolver.conf"}
    [site] = build(tree).sites
    [proxied] = [r for r in site.routes if r.action.kind == "proxy"]
    headers = proxied.action.request_headers
    assert headers["x-forwarded-for"] == "$proxy_add_x_forwarded_for"
    assert headers["x-forwarded-proto"] == "$scheme"
    assert headers["host"] == "$host"
    assert headers["upgrade"] == "$http_upgrade"
    assert proxied.max_body_size is None          # client_max_body_size 0 in the server block
    assert site.unknowns == [Unknown.including_context(str(path))]


def test_a_copied_tree_says_why_this_machines_file_was_not_read(tmp_path):
    conf = write(tmp_path / "copy" / "nginx.conf", "http {\n    include /etc/nginx/conf.d/site-only.conf;\n}\n")
    [unresolved] = load(conf).unresolved
    assert unresolved.reason == (f"not found (looked in {tmp_path / 'copy'} "
                                 f"(this machine's /etc/nginx is not read: the checked tree stands for it))")


def test_include_inside_if_is_allowed_as_nginx_does(tmp_path):
    # `nginx -t` accepts it (include is NGX_ANY_CONF); crossplane's table leaves `if` out.
    conf = write(tmp_path / "nginx.conf", "http { server { location / {\n"
                                          "    if ($request_method = OPTIONS) { include cors.conf; return 204; }\n"
                                          "} } }\n")
    tree = load(conf)
    assert tree.errors == []
    assert [u.target for u in tree.unresolved] == ["cors.conf"]
    write(tmp_path / "cors.conf", "add_header Access-Control-Allow-Origin * always;\n")
    assert load(conf).errors == []
    # Its argument count is still checked.
    conf = write(tmp_path / "two.conf", "server { include a.conf b.conf; }\n")
    assert [e.message for e in load(conf).errors] == ['invalid number of arguments in "include" directive']


# --- the default handling (Site.fallback) in an open world ---------------------------------

def test_fallback_of_a_snippet_carries_the_unseen_configuration_around_it():
    """A server block linted alone: the http block around it (headers, error_page, root) is not
    seen, so the default handling's answer depends on it, and says so."""
    config = build(parse_string("""
    server {
        listen 80;
        location /_matrix { proxy_pass http://127.0.0.1:8008; }
    }""", "snippet.conf"), {})
    fallback = config.sites[0].fallback
    assert [r.action.status for r in fallback] == [404, 405]
    for route in fallback:
        assert route.fallback
        assert [u.what for u in route.unknowns] == ["the configuration that includes `snippet.conf`"]


def test_fallback_is_not_claimed_absent_behind_an_unresolved_server_include(tmp_path):
    """An include in the server that cannot be read could add the location that takes the
    request: the fallback's answer names it as unseen."""
    path = write(tmp_path / "nginx.conf", """
    http { server { listen 80;
        include /nonexistent/locations.conf;
        location /_matrix { proxy_pass http://127.0.0.1:8008; }
    } }""")
    config = build(load(path), {})
    (site,) = config.sites
    assert site.unknowns
    for route in site.fallback:
        assert any("/nonexistent/locations.conf" in u.what for u in route.unknowns)


def test_forwarded_for_of_a_location_in_a_snippet_is_unknown_not_absent():
    """The http block around a snippet could set X-Forwarded-For for every location."""
    config = build(parse_string("location /_matrix { proxy_pass http://127.0.0.1:8008; }", "loc.conf"), {})
    (route,) = config.sites[0].routes
    assert route.action.forwarded_for is None
