"""Open world, Caddy: what the linter cannot see is unknown, never absent.

- An `import` found nowhere (file, glob, snippet name) is an `Unresolved` in the tree and a leaf
  `import` directive where it is written, never an error; the model turns it into `Unknown`s in
  the scope its content would apply to (top level -> Config, global options and site block ->
  Site and its routes, a handler block -> the routes through it).
- Where an import is looked for: the checked tree (relative to the importing file; absolute paths
  mapped into the tree's roots by their longest existing suffix), this machine (outside the
  tree, recorded in `Tree.outside`; never with a prefix), `--include-path` directories.
- A file other than `Caddyfile` that holds only directives is a snippet: the body of a site block
  whose including configuration is unknown.
Every expected position was counted by hand from the text next to it; what Caddy itself does was
checked with `caddy adapt` (2.11) where a test says so.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from linter.caddy.build import build
from linter.caddy.parse import load, parse_string
from linter.engine import Options, Report, lint, load_config
from linter.syntax import LoadOptions, Span

DATA = Path(__file__).resolve().parent / "data" / "caddy" / "open_world"
LINT = LoadOptions()          # what the engine passes: linting files as users hand them over


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def parse(text: str, path: str = "/cfg/Caddyfile", **kw):
    kw.setdefault("env", {})
    return parse_string(textwrap.dedent(text).lstrip("\n"), path, **kw)


def what(unknowns) -> list:
    return [u.what.split("`")[1] for u in unknowns]


def routes_by_match(site) -> dict:
    return {str(r.match): r for r in site.routes}


# ---- the tree ------------------------------------------------------------------------------

def test_missing_import_in_a_site_is_unresolved_and_kept_as_a_leaf_where_written():
    tree = parse("""
        matrix.example.org {
        	import /etc/caddy/common.caddy arg1 arg2
        	reverse_proxy /_matrix/* localhost:8008
        }
        """)
    assert tree.errors == []
    u, = tree.unresolved
    assert u.span == Span("/cfg/Caddyfile", 2, 2, 2, 42)
    assert (u.target, u.kind) == ("/etc/caddy/common.caddy", "import")
    assert u.reason.startswith("not found (looked in /cfg, this machine")
    site, = tree.directives
    imp, rp = site.block
    assert (imp.name, imp.args, imp.block) == ("import", ["/etc/caddy/common.caddy", "arg1", "arg2"], None)
    assert imp.span == Span("/cfg/Caddyfile", 2, 2, 2, 42) and imp.extra["unresolved"] is u
    assert (rp.name, rp.span.line) == ("reverse_proxy", 3)


def test_top_level_imports_stay_between_the_sites_they_are_written_between():
    tree = parse("""
        import sites-enabled/*
        a.example {
        	respond a
        }
        import /etc/caddy/conf.d/*.caddy
        b.example {
        	respond b
        }
        """)
    assert tree.errors == []
    assert [(d.name, d.args) for d in tree.directives] == [
        ("import", ["sites-enabled/*"]), ("site", ["a.example"]),
        ("import", ["/etc/caddy/conf.d/*.caddy"]), ("site", ["b.example"])]
    assert [(u.target, u.span.line, u.span.column) for u in tree.unresolved] == [
        ("sites-enabled/*", 1, 1), ("/etc/caddy/conf.d/*.caddy", 5, 1)]
    assert [d.block[0].args for d in tree.directives if d.name == "site"] == [["a"], ["b"]]


def test_a_file_of_top_level_imports_only_is_a_tree_of_leaves():
    tree = parse("import sites/*\nimport more\n")
    assert tree.errors == []
    assert [(d.name, d.args) for d in tree.directives] == [("import", ["sites/*"]), ("import", ["more"])]


def test_missing_import_inside_handle_and_route_blocks_leaves_the_rest_parsed():
    tree = parse("""
        matrix.example.org {
        	handle /_matrix/* {
        		import proxy-headers {
        			header_up X-Extra 1
        		}
        		reverse_proxy localhost:8008
        	}
        	route /x {
        		import missing
        	}
        	respond "fallback" 404
        }
        """)
    assert tree.errors == []
    handle, route, respond = tree.directives[0].block
    imp, rp = handle.block
    # the import's block (its {block} arguments) goes with it: where it would land is unknown
    assert (imp.name, imp.args, imp.block) == ("import", ["proxy-headers"], None)
    assert tree.unresolved[0].span == Span("/cfg/Caddyfile", 3, 3, 3, 25)   # up to its `{`
    assert rp.args == ["localhost:8008"]
    assert [(d.name, d.args) for d in route.block] == [("import", ["missing"])]
    assert (respond.name, respond.args) == ("respond", ["fallback", "404"])


def test_an_undefined_snippet_name_is_unresolved():
    tree = parse("a.example {\n\timport cors\n}\n(cors) {\n\theader X 1\n}\n")
    assert tree.errors == []
    u, = tree.unresolved
    assert u.target == "cors" and u.reason.startswith("no snippet (cors) defined before it")


def test_a_missing_import_in_a_snippet_imported_twice_is_one_unresolved():
    tree = parse("""
        (common) {
        	import /etc/caddy/extra
        }
        a.example {
        	import common
        }
        b.example {
        	import common
        }
        """)
    assert tree.errors == []
    u, = tree.unresolved
    assert u.span == Span("/cfg/Caddyfile", 2, 2, 2, 25)       # where it is written: the snippet
    a, b = tree.directives
    assert [d.extra["unresolved"] for d in a.block + b.block] == [u, u]
    assert a.block[0].extra["import"].line == 5 and b.block[0].extra["import"].line == 8


def test_cycles_and_unreadable_imports_are_still_errors(tmp_path):
    write(tmp_path / "a.caddy", "import b.caddy\n")
    write(tmp_path / "b.caddy", "import a.caddy\n")
    main = write(tmp_path / "Caddyfile", "x.example {\n\timport a.caddy\n}\n")
    tree = load(str(main), env={}, load_options=LINT)
    err, = tree.errors
    # caddy adapt: "a cycle of imports exists between ..."
    assert "cycle" in err.message and (err.path, err.line, err.column) == (str(tmp_path / "b.caddy"), 1, 8)
    (tmp_path / "adir").mkdir()
    main = write(tmp_path / "Caddyfile", "x.example {\n\timport adir\n}\n")
    err, = load(str(main), env={}, load_options=LINT).errors
    assert "is a directory" in err.message and (err.line, err.column) == (2, 9)
    err = parse("(a) {\n\timport b\n}\n(b) {\n\timport a\n}\nx.example {\n\timport a\n}\n").errors[0]
    assert "cycle" in err.message and (err.line, err.column) == (5, 9)


def test_a_glob_whose_directory_exists_imports_nothing_one_whose_directory_is_nowhere_is_unknown(tmp_path):
    (tmp_path / "sites").mkdir()
    main = write(tmp_path / "Caddyfile", "import sites/*\nimport nosuchdir/*\nx.example {\n\trespond ok\n}\n")
    tree = load(str(main), env={}, load_options=LINT)
    # caddy adapt only warns "No files matching import glob pattern" for both; the empty
    # directory is in the checked tree, the other one is not
    assert tree.errors == []
    assert [u.target for u in tree.unresolved] == ["nosuchdir/*"]
    assert [d.name for d in tree.directives] == ["import", "site"]


# ---- where imports are looked for ----------------------------------------------------------

def test_an_absolute_import_reads_the_copy_in_the_checked_tree():
    """A temp dir (here: the data dir) whose Caddyfile imports /etc/caddy/snippets/x, with a copy
    at <dir>/snippets/x: the copy is read, by the longest suffix of the path that exists."""
    tree = load(str(DATA / "copied-tree" / "Caddyfile"), env={}, load_options=LINT)
    assert tree.errors == [] and tree.unresolved == [] and tree.outside == []
    copy = str(DATA / "copied-tree" / "snippets" / "matrix-proxy")
    assert tree.files == [str(DATA / "copied-tree" / "Caddyfile"), copy]
    rp, respond = tree.directives[0].block
    assert (rp.name, rp.span.path, rp.extra["import"].line) == ("reverse_proxy", copy, 3)


def test_the_copy_is_found_in_a_temporary_tree_too(tmp_path):
    write(tmp_path / "snippets" / "x", "header X-From copy\n")
    main = write(tmp_path / "Caddyfile", "a.example {\n\timport /etc/caddy/snippets/x\n}\n")
    tree = load(str(main), env={}, load_options=LINT)
    assert tree.unresolved == [] and tree.outside == []
    assert tree.directives[0].block[0].span.path == str(tmp_path / "snippets" / "x")
    # the file name alone is not enough evidence for an implicit root
    write(tmp_path / "y", "header X-Wrong 1\n")
    tree = load(str(write(tmp_path / "Caddyfile", "a.example {\n\timport /etc/caddy/other/y\n}\n")),
                env={}, load_options=LINT)
    assert [u.target for u in tree.unresolved] == ["/etc/caddy/other/y"]


def test_this_machine_is_read_outside_the_tree_but_never_with_a_prefix(tmp_path):
    elsewhere = write(tmp_path / "elsewhere" / "extra.caddy", "header X-Outside 1\n")
    main = write(tmp_path / "tree" / "Caddyfile", f"a.example {{\n\timport {elsewhere}\n}}\n")
    tree = load(str(main), env={}, load_options=LINT)
    assert tree.errors == [] and tree.unresolved == []
    assert tree.outside == [str(elsewhere)] and str(elsewhere) in tree.files
    assert tree.directives[0].block[0].args == ["X-Outside", "1"]
    # with a prefix, the tree is the prefix: what is not in it is unknown
    for tree in (load(str(main), env={}, load_options=LoadOptions(prefix=str(tmp_path / "tree"))),
                 load(str(main), env={}, prefix=str(tmp_path / "tree"))):
        assert tree.outside == [] and [u.target for u in tree.unresolved] == [str(elsewhere)]


def test_include_paths_answer_by_the_longest_suffix(tmp_path):
    write(tmp_path / "inc" / "snippets" / "cors.caddy", "header Access-Control-Allow-Origin *\n")
    write(tmp_path / "inc" / "tls.caddy", "tls internal\n")
    main = write(tmp_path / "site" / "Caddyfile",
                 "a.example {\n\timport /etc/caddy/snippets/cors.caddy\n\timport tls.caddy\n}\n")
    tree = load(str(main), env={}, load_options=LoadOptions(include_paths=(str(tmp_path / "inc"),)))
    assert tree.errors == [] and tree.unresolved == [] and tree.outside == []
    assert [d.name for d in tree.directives[0].block] == ["header", "tls"]
    tree = load(str(main), env={}, load_options=LINT)
    assert [u.target for u in tree.unresolved] == ["/etc/caddy/snippets/cors.caddy", "tls.caddy"]


def test_tree_roots_map_absolute_imports(tmp_path):
    write(tmp_path / "repo" / "caddy" / "snippets" / "x", "header X 1\n")
    main = write(tmp_path / "repo" / "sites" / "Caddyfile", "a.example {\n\timport /etc/caddy/snippets/x\n}\n")
    tree = load(str(main), env={}, load_options=LoadOptions(tree_roots=(str(tmp_path / "repo"),)))
    assert tree.unresolved == [] and tree.directives[0].block[0].span.path.endswith("caddy/snippets/x")


# ---- the model -----------------------------------------------------------------------------

SCOPES = """
import sites/*
{
	import globals
}
matrix.example.org {
	import site-level
	handle /_matrix/* {
		import handle-level
		reverse_proxy localhost:8008 {
			import upstream-level
		}
	}
	handle /.well-known/matrix/* {
		respond `{}`
	}
}
"""


def test_unknowns_are_where_the_import_would_apply():
    config = build(parse(SCOPES, "/nowhere/Caddyfile"))
    assert what(config.unknowns) == ["sites/*"]                     # could add whole sites
    site = next(s for s in config.sites if s.names == ["matrix.example.org"])
    assert what(site.unknowns) == ["globals", "site-level"]
    routes = routes_by_match(site)
    assert what(routes["/_matrix/*"].unknowns) == ["globals", "site-level", "upstream-level", "handle-level"]
    assert what(routes["/.well-known/matrix/*"].unknowns) == ["globals", "site-level"]
    catch_all = next(s for s in config.sites if s.facts.get("no_site"))
    assert what(catch_all.unknowns) == ["sites/*", "globals"]
    u = config.unknowns[0]
    assert (u.span.line, u.span.column) == (1, 1)


def test_a_block_the_request_runs_through_counts_too():
    config = build(parse("""
        a.example {
        	route {
        		import cors-everywhere
        	}
        	reverse_proxy /_matrix/* localhost:8008
        }
        """, "/nowhere/Caddyfile"))
    site = config.sites[0]
    assert what(site.unknowns) == []
    assert what(routes_by_match(site)["/_matrix/*"].unknowns) == ["cors-everywhere"]


def test_an_unresolved_import_is_not_a_handler():
    config = build(parse("a.example {\n\timport x\n\trespond ok\n}\n", "/nowhere/Caddyfile"))
    assert config.notes == []
    assert [r.action.kind for r in config.sites[0].routes] == ["respond"]


def test_lint_reports_the_unresolved_import_and_no_error(tmp_path):
    main = write(tmp_path / "Caddyfile", """
        matrix.example.org {
        	import /etc/caddy/matrix-common.caddy
        	reverse_proxy /_matrix/* localhost:8008
        }
        """)
    report = lint([str(main)], server="caddy")
    assert report.errors == []
    note, = [f for f in report.findings if f.rule.code == "MPL001"]
    assert (note.severity, note.span.line, note.span.column) == ("info", 2, 2)
    assert all(f.severity == "info" or not f.unless for f in report.findings)


# ---- directive snippets --------------------------------------------------------------------

def test_a_directives_only_file_is_the_body_of_an_anonymous_site():
    path = str(DATA / "matrix.caddy")
    tree = load(path, env={}, load_options=LINT)
    assert tree.errors == []
    site, = tree.directives
    assert (site.name, site.args, site.extra.get("fragment")) == ("site", [], True)
    assert [(d.name, d.span.line) for d in site.block] == [("reverse_proxy", 3), ("header", 4), ("encode", 5)]
    config = build(tree)
    context = f"the configuration that includes `{path}`"
    assert [u.what for u in config.unknowns] == [context]
    sites = [s for s in config.sites if not s.facts.get("no_site")]
    assert len(sites) == 1 and [u.what for u in sites[0].unknowns] == [context]
    assert sites[0].routes and all([u.what for u in r.unknowns] == [context] for r in sites[0].routes)
    assert all(u.span == Span(path, 1, 1, 1, 2) for u in sites[0].unknowns)


@pytest.mark.skipif(shutil.which("caddy") is None, reason="caddy not installed")
def test_caddy_accepts_the_snippet_imported_into_a_site_and_refuses_it_alone(tmp_path):
    shutil.copy(DATA / "matrix.caddy", tmp_path / "matrix.caddy")
    write(tmp_path / "Caddyfile", "matrix.example.org {\n\timport matrix.caddy\n}\n")

    def adapt(name):
        return subprocess.run(["caddy", "adapt", "--config", str(tmp_path / name), "--adapter", "caddyfile"],
                              capture_output=True, text=True, cwd=tmp_path)
    assert adapt("Caddyfile").returncode == 0
    alone = adapt("matrix.caddy")
    assert alone.returncode != 0 and "parsed 'reverse_proxy' as a site address" in alone.stderr


def test_the_snippet_is_read_as_caddy_would_without_load_options_and_as_an_entry_caddyfile(tmp_path):
    text = (DATA / "matrix.caddy").read_text()
    # load() on its own reads like `caddy adapt`: the first line is a site address, an error
    assert load(str(DATA / "matrix.caddy"), env={}).errors
    # an entry Caddyfile is always a whole Caddyfile
    entry = write(tmp_path / "Caddyfile", text)
    assert load(str(entry), env={}, load_options=LINT).errors
    assert lint([str(entry)], server="caddy").errors
    assert lint([str(DATA / "matrix.caddy")], server="caddy").errors == []


def test_matchers_handle_blocks_and_imports_make_a_snippet_too(tmp_path):
    path = write(tmp_path / "well-known.conf", """
        import /etc/caddy/cors
        @matrix path /.well-known/matrix/*
        handle @matrix {
        	header Content-Type application/json
        	respond /.well-known/matrix/server `{"m.server": "matrix.example.org:443"}`
        }
        """)
    tree = load(str(path), env={}, load_options=LINT)
    assert tree.errors == []
    site, = tree.directives
    assert site.extra.get("fragment") and [d.name for d in site.block] == ["import", "@matrix", "handle"]
    config = build(tree)
    site = config.sites[0]
    assert what(site.unknowns) == [str(path), "/etc/caddy/cors"]
    route = routes_by_match(site)["/.well-known/matrix/server"]
    assert what(route.unknowns) == [str(path), "/etc/caddy/cors"]


def test_a_site_address_first_keeps_the_file_a_caddyfile(tmp_path):
    for text in ("example.org\nreverse_proxy localhost:8008\n",
                 "example.org {\n\treverse_proxy localhost:8008\n}\n",
                 ":8448 {\n\treverse_proxy localhost:8008\n}\n",
                 "{\n\tauto_https off\n}\nhttp://example.org {\n\trespond ok\n}\n",
                 "reverse_proxy localhost:8008\nexample.org {\n\trespond ok\n}\n"):
        path = write(tmp_path / "site.caddy", text)
        tree = load(str(path), env={}, load_options=LINT)
        assert not any(d.extra.get("fragment") for d in tree.directives), text


def test_caddy_v1_snippets_stay_v1(tmp_path):
    path = write(tmp_path / "old.caddy", "header / {\n\tStrict-Transport-Security max-age=31536000\n}\n"
                                         "proxy /_matrix http://localhost:8008 {\n\ttransparent\n}\n")
    err, = lint([str(path)], server="caddy").errors
    assert err.message.startswith("Caddy v1 syntax")


def test_an_unset_environment_variable_is_unknown_when_linting(tmp_path):
    path = write(tmp_path / "Caddyfile", "{$MPL_TEST_UNSET_DOMAIN} {\n\treverse_proxy localhost:8008\n}\n")
    env = {k: v for k, v in os.environ.items() if k != "MPL_TEST_UNSET_DOMAIN"}
    tree = load(str(path), env=env, load_options=LINT)
    assert tree.errors == []
    assert tree.directives[0].args == ["{$MPL_TEST_UNSET_DOMAIN}"]
    # as Caddy reads it here (the variable is unset): the block is the global options
    assert "MPL_TEST_UNSET_DOMAIN" in load(str(path), env=env).errors[0].message


def test_engine_load_config_passes_the_load_options(tmp_path):
    write(tmp_path / "inc" / "x.caddy", "header X 1\n")
    main = write(tmp_path / "Caddyfile", "a.example {\n\timport /srv/conf/x.caddy\n}\n")
    report = Report()
    config = load_config(str(main), "caddy", Options(server="caddy", include_paths=(str(tmp_path / "inc"),)), report)
    assert report.errors == [] and config.tree.unresolved == []
    config = load_config(str(main), "caddy", Options(server="caddy", strict_includes=True), report)
    err, = report.errors
    assert "/srv/conf/x.caddy" in err.message and (err.line, err.column) == (2, 2)
