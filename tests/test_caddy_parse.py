"""The Caddyfile front end: tokens, positions, structure, snippets/imports, v1, errors.

Expectations are written by hand from the Caddyfile rules (and checked against `caddy adapt`
2.11.7 where Caddy's behaviour is surprising); columns are 1-based, end_column exclusive.
"""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from linter.caddy.parse import caddy_v1_reason, load, looks_like_caddy, parse_string
from linter.syntax import Span, walk

DATA = Path(__file__).resolve().parent / "data" / "caddy"


def parse(text, path="/cfg/Caddyfile", **kw):
    kw.setdefault("env", {})
    return parse_string(textwrap.dedent(text).lstrip("\n"), path, **kw)


def ok(text, **kw):
    tree = parse(text, **kw)
    assert tree.errors == [], tree.errors
    return tree


def only_error(text, **kw):
    tree = parse(text, **kw)
    assert len(tree.errors) == 1, tree.errors
    return tree.errors[0]


def site_body(tree, index=0):
    sites = [d for d in tree.directives if d.name == "site"]
    return sites[index].block


def find(tree, name):
    return [d for d in walk(tree.directives) if d.name == name]


# ---- tokens and positions -----------------------------------------------------------------

def test_bare_words_and_their_spans():
    tree = ok("example.com {\n\treverse_proxy /api/* localhost:8008\n}\n")
    rp = site_body(tree)[0]
    assert (rp.name, rp.args) == ("reverse_proxy", ["/api/*", "localhost:8008"])
    assert rp.span == Span("/cfg/Caddyfile", 2, 2, 2, 37)
    assert rp.arg_spans == [Span("/cfg/Caddyfile", 2, 16, 2, 22),
                            Span("/cfg/Caddyfile", 2, 23, 2, 37)]
    assert rp.block is None
    assert rp.extra["quoted"] == [False, False]


def test_double_quotes_only_escape_quotes_and_keep_other_backslashes():
    tree = ok('a.example {\n\trespond "say \\"hi\\" \\d" 200\n}\n')
    respond = site_body(tree)[0]
    assert respond.args == ['say "hi" \\d', "200"]
    # the span includes the quotes: `"say \"hi\" \d"` is 15 characters from column 10
    assert respond.arg_spans[0] == Span("/cfg/Caddyfile", 2, 10, 2, 25)
    assert respond.extra["quoted"] == [True, False]


def test_quotes_inside_a_word_and_hash_inside_a_word_are_literal():
    tree = ok('a.example {\n\theader X-A foo"bar" # comment\n\trespond a#b\n}\n')
    header, respond = site_body(tree)
    assert header.args == ["X-A", 'foo"bar"']
    assert respond.args == ["a#b"]


def test_backtick_string_spans_lines_and_keeps_backslashes():
    tree = ok('a.example {\n\trespond `{"a": "b\\n",\n  "c": 1}` 200\n}\n')
    respond = site_body(tree)[0]
    assert respond.args == ['{"a": "b\\n",\n  "c": 1}', "200"]
    assert respond.arg_spans[0] == Span("/cfg/Caddyfile", 2, 10, 3, 11)
    assert respond.arg_spans[1] == Span("/cfg/Caddyfile", 3, 12, 3, 15)


def test_heredoc_strips_the_closing_marker_indentation():
    text = ("a.example {\n"
            "\trespond <<HTML\n"
            "\t\t<p>\n"
            "\t\t  hi\n"
            "\t\t</p>\n"
            "\t\tHTML 201\n"
            "\theader X 1\n"
            "}\n")
    tree = ok(text)
    respond, header = site_body(tree)
    assert respond.args == ["<p>\n  hi\n</p>", "201"]
    # from `<<` (line 2, column 10) to the end of the closing marker (line 6, columns 3-6)
    assert respond.arg_spans[0] == Span("/cfg/Caddyfile", 2, 10, 6, 7)
    assert respond.arg_spans[1] == Span("/cfg/Caddyfile", 6, 8, 6, 11)
    assert respond.extra["quoted"] == [True, False]
    assert header.args == ["X", "1"]


def test_escaped_heredoc_start_is_a_plain_word():
    tree = ok("a.example {\n\trespond \\<<EOF\n}\n")
    assert site_body(tree)[0].args == ["<<EOF"]


def test_backslash_newline_continues_the_directive_on_the_next_line():
    tree = ok("a.example {\n\treverse_proxy one:80 \\\n\t\ttwo:80\n\tencode gzip\n}\n")
    rp, encode = site_body(tree)
    assert rp.args == ["one:80", "two:80"]
    assert rp.arg_spans[1] == Span("/cfg/Caddyfile", 3, 3, 3, 9)
    assert encode.args == ["gzip"]


def test_backslash_in_a_comment_joins_the_next_line_like_caddy_does():
    # Caddy's escape flag survives through a comment (checked with `caddy adapt`)
    tree = ok("a.example {\n\trespond ok # C:\\path\n\theader X y\n}\n")
    body = site_body(tree)
    assert len(body) == 1
    assert body[0].args == ["ok", "header", "X", "y"]


def test_env_placeholders_are_substituted_before_lexing():
    env = {"UPSTREAM": "synapse:8008", "TWO": "a b"}
    tree = ok("a.example {\n\treverse_proxy {$UPSTREAM} {$MISSING:backup:9000}\n"
              "\trespond {$TWO}\n\theader X {$UNSET}\n}\n", env=env)
    rp, respond, header = site_body(tree)
    assert rp.args == ["synapse:8008", "backup:9000"]
    # positions point at the placeholders as written
    assert rp.arg_spans == [Span("/cfg/Caddyfile", 2, 16, 2, 27),
                            Span("/cfg/Caddyfile", 2, 28, 2, 50)]
    assert rp.extra["env"] == ["MISSING", "UPSTREAM"]
    assert respond.args == ["a", "b"]          # a value with a space makes two tokens
    assert header.args == ["X"]                # unset without default: empty, like Caddy


def test_runtime_placeholders_stay_as_text():
    tree = ok("a.example {\n\theader X-Host {http.request.host} {env.HOME}\n}\n")
    assert site_body(tree)[0].args == ["X-Host", "{http.request.host}", "{env.HOME}"]


def test_byte_order_mark_is_ignored_and_columns_stay_editor_columns():
    tree = ok("\ufeffa.example {\n\trespond ok\n}\n")
    site = tree.directives[0]
    assert site.args == ["a.example"]
    assert site.arg_spans[0].column == 1


def test_crlf_line_endings():
    tree = ok("a.example {\r\n\trespond ok 200\r\n}\r\n")
    respond = site_body(tree)[0]
    assert respond.args == ["ok", "200"]
    assert respond.arg_spans[1] == Span("/cfg/Caddyfile", 2, 13, 2, 16)


# ---- global options, sites, named routes --------------------------------------------------

def test_global_options_block():
    tree = ok("""
        {
        	admin off
        	servers {
        		trusted_proxies static private_ranges
        	}
        }
        a.example {
        	respond ok
        }
        """)
    glob, site = tree.directives
    assert (glob.name, glob.args, glob.extra["kind"]) == ("global", [], "global")
    assert glob.span == Span("/cfg/Caddyfile", 1, 1, 1, 2)
    assert [d.name for d in glob.block] == ["admin", "servers"]
    assert glob.block[1].block[0].args == ["static", "private_ranges"]
    assert site.extra == {"kind": "site", "braces": True}


def test_global_block_after_a_site_is_an_error():
    err = only_error("a.example {\n\trespond ok\n}\n{\n\tadmin off\n}\n")
    assert (err.line, err.column) == (4, 1)
    assert "global options" in err.message and "first" in err.message


def test_many_addresses_in_one_site_block():
    tree = ok("a.example, b.example:8448 http://c.example *.d.example :8080 {\n\trespond ok\n}\n")
    site = tree.directives[0]
    assert site.args == ["a.example", "b.example:8448", "http://c.example", "*.d.example",
                         ":8080"]
    assert site.arg_spans[0] == Span("/cfg/Caddyfile", 1, 1, 1, 11)   # the comma is not in it
    assert site.arg_spans[1] == Span("/cfg/Caddyfile", 1, 12, 1, 26)
    assert site.span == Span("/cfg/Caddyfile", 1, 1, 1, 63)           # up to and with `{`


def test_a_trailing_comma_continues_the_addresses_on_the_next_line():
    tree = ok("a.example,\n    b.example {\n\trespond ok\n}\n")
    site = tree.directives[0]
    assert site.args == ["a.example", "b.example"]
    assert site.arg_spans[1].line == 2
    assert [d.name for d in site.block] == ["respond"]


def test_brace_on_the_next_line_of_a_site_address_is_accepted():
    tree = ok("a.example\n{\n\trespond ok\n}\n")
    assert tree.directives[0].args == ["a.example"]
    assert tree.directives[0].extra["braces"] is True


def test_single_site_without_braces():
    tree = ok("localhost:8080\n\nreverse_proxy localhost:8008\nencode gzip\n")
    site, = tree.directives
    assert site.args == ["localhost:8080"]
    assert site.extra["braces"] is False
    assert [d.name for d in site.block] == ["reverse_proxy", "encode"]


def test_second_site_without_braces_is_reported():
    err = only_error("a.example\nrespond one\n\nb.example\nrespond two\n")
    assert (err.line, err.column) == (4, 1)
    assert "b.example" in err.message and "braces" in err.message


def test_named_route_is_kept():
    tree = ok("&(api) {\n\trespond ok\n}\na.example {\n\tinvoke api\n}\n")
    route = tree.directives[0]
    assert (route.name, route.args, route.extra["kind"]) == ("named_route", ["api"],
                                                             "named_route")
    assert route.block[0].name == "respond"


def test_site_address_checks():
    assert "ends with '{'" in only_error("a.example{\n}\n").message
    assert "comma" in only_error("a.example,b.example {\n}\n").message
    err = only_error("@api path /x\n")
    assert "inside a site block" in err.message and (err.line, err.column) == (1, 1)
    assert "out of range" in only_error(":70000 {\n}\n").message
    assert "unsupported URL scheme ftp://" in only_error("ftp://a.example {\n}\n").message
    err = only_error("handle {\n\trespond ok\n}\n")
    assert "'handle'" in err.message and "directive" in err.message


def test_unset_env_variable_as_the_only_address_is_explained():
    err = only_error("{$DOMAIN} {\n\treverse_proxy synapse:8008\n}\n")
    assert "{$DOMAIN}" in err.message and "not set" in err.message
    tree = ok("{$DOMAIN} {\n\treverse_proxy synapse:8008\n}\n", env={"DOMAIN": "m.example"})
    assert tree.directives[0].args == ["m.example"]
    assert tree.directives[0].extra["env"] == ["DOMAIN"]


# ---- directives, matchers, nesting --------------------------------------------------------

def test_named_matchers_single_line_and_block():
    tree = ok("""
        a.example {
        	@federation path /_matrix/federation/* /_matrix/key/*
        	@options {
        		method OPTIONS
        		path /_matrix/*
        	}
        	respond @options 204
        	reverse_proxy @federation synapse:8008
        }
        """)
    fed, options, respond, rp = site_body(tree)
    assert (fed.name, fed.args, fed.block) == ("@federation", ["path", "/_matrix/federation/*",
                                                               "/_matrix/key/*"], None)
    assert options.name == "@options" and options.args == []
    assert [(d.name, d.args) for d in options.block] == [("method", ["OPTIONS"]),
                                                         ("path", ["/_matrix/*"])]
    assert options.span == Span("/cfg/Caddyfile", 3, 2, 3, 12)
    assert respond.args == ["@options", "204"]
    assert rp.args == ["@federation", "synapse:8008"]


def test_nested_blocks():
    tree = ok("""
        a.example {
        	handle_path /sliding-sync/* {
        		reverse_proxy sync:8009
        	}
        	route {
        		handle /_matrix/* {
        			reverse_proxy synapse:8008 {
        				transport http {
        					versions h2c
        				}
        			}
        		}
        	}
        	handle_errors {
        		respond "{err.status_code}"
        	}
        }
        """)
    handle_path, route, errors = site_body(tree)
    assert handle_path.args == ["/sliding-sync/*"]
    assert handle_path.span == Span("/cfg/Caddyfile", 2, 2, 2, 31)
    transport = route.block[0].block[0].block[0]
    assert (transport.name, transport.args) == ("transport", ["http"])
    assert transport.block[0].args == ["h2c"]
    assert errors.block[0].args == ["{err.status_code}"]


def test_braces_sharing_a_line_with_words_where_caddy_allows_it():
    # all four checked with `caddy adapt`
    tree = ok("a.example { respond ok\n}\nb.example {\n\thandle {\n\t\trespond two }\n"
              "} c.example {\n}\n")
    a, b, c = tree.directives
    assert a.block[0].args == ["ok"]
    assert b.block[0].block[0].args == ["two"]
    assert c.args == ["c.example"] and c.block == []
    err = only_error("a.example {\n\trespond ok }\n")
    assert (err.line, err.column) == (2, 13) and "line of its own" in err.message
    err = only_error("a.example {\n\thandle {\n\t\trespond ok\n\t} }\n")
    assert (err.line, err.column) == (4, 4)


def test_directive_fragment_file_is_wrapped_in_an_address_less_site(tmp_path):
    path = tmp_path / "doc.caddy-d.Caddyfile"
    path.write_text("reverse_proxy /api/* localhost:9000\n@x path /x\n")
    tree = load(str(path), env={})
    assert tree.errors == []
    site, = tree.directives
    assert (site.name, site.args) == ("site", [])
    assert site.extra == {"kind": "site", "braces": False, "fragment": True}
    assert [d.name for d in site.block] == ["reverse_proxy", "@x"]
    # the same text as a whole Caddyfile is a site with two "addresses"
    assert parse_string(path.read_text(), env={}).directives[0].args == [
        "reverse_proxy", "/api/*", "localhost:9000"]


def test_missing_final_brace_is_accepted_like_caddy_and_marked():
    tree = ok("a.example {\n\thandle {\n\t\trespond ok\n\t}\n")
    site, = tree.directives
    assert site.extra["missing_brace"] is True
    assert site.block[0].block[0].args == ["ok"]


# ---- snippets and imports -----------------------------------------------------------------

def test_snippet_with_positional_and_variadic_args_and_block():
    tree = ok("""
        (proxy) {
        	reverse_proxy {args[0]} {
        		header_up X-Name {args.1}
        		{block}
        	}
        	header X-All {args[:]}
        }
        a.example {
        	import proxy synapse:8008 matrix {
        		header_up X-Extra 1
        	}
        }
        """)
    rp, header = site_body(tree)
    assert rp.args == ["synapse:8008"]
    assert rp.span.line == 2                            # where the snippet line is written
    assert rp.extra["import"] == Span("/cfg/Caddyfile", 9, 2, 9, 36)
    assert rp.extra["import_chain"] == [rp.extra["import"]]
    assert [(d.name, d.args) for d in rp.block] == [("header_up", ["X-Name", "matrix"]),
                                                    ("header_up", ["X-Extra", "1"])]
    # the {block} tokens come from the import site and keep their own position
    assert rp.block[1].span.line == 10 and "import" not in rp.block[1].extra
    assert header.args == ["X-All", "synapse:8008", "matrix"]
    # snippet definitions are not in the tree
    assert [d.name for d in tree.directives] == ["site"]


def test_blocks_named_in_an_import():
    tree = ok("""
        (two) {
        	handle /a {
        		{blocks.first}
        	}
        	handle /b {
        		{blocks.second}
        	}
        }
        a.example {
        	import two {
        		first {
        			respond one
        		}
        		second {
        			respond two
        		}
        	}
        }
        """)
    a, b = site_body(tree)
    assert a.block[0].args == ["one"] and b.block[0].args == ["two"]


def test_nested_snippet_imports_record_the_whole_chain():
    tree = ok("(inner) {\n\theader X 1\n}\n(outer) {\n\timport inner\n}\n"
              "a.example {\n\timport outer\n}\n")
    header, = site_body(tree)
    assert header.span.line == 2
    assert header.extra["import"].line == 5                  # `import inner` in the snippet
    assert [s.line for s in header.extra["import_chain"]] == [8, 5]


def test_import_files_relative_to_the_importing_file_with_a_glob():
    tree = load(str(DATA / "imports" / "Caddyfile"), env={})
    assert tree.errors == []
    site, = tree.directives
    assert site.args == ["matrix.example.org"]
    names = [(d.name, d.args) for d in site.block]
    assert names == [("header", ["X-From", "common"]),
                     ("reverse_proxy", ["/_matrix/*", "synapse:8008"]),
                     ("respond", ["/.well-known/matrix/server", '{"m.server": "x:443"}'])]
    common = str((DATA / "imports" / "snippets" / "common.caddy").resolve())
    assert site.block[0].span.path == common
    assert site.block[0].extra["import"] == Span(tree.root, 4, 2, 4, 30)
    assert common in tree.files and len(tree.files) == 4


def test_import_cycle_is_an_error():
    err = only_error("(a) {\n\timport b\n}\n(b) {\n\timport a\n}\nx.example {\n\timport a\n}\n")
    assert "cycle" in err.message and (err.line, err.column) == (5, 9)


def test_import_of_a_missing_file_is_unresolved_at_its_position():
    # open world: a file we cannot see is unknown, not an error (see test_caddy_open_world.py)
    tree = parse("a.example {\n\timport nothing-here\n\trespond ok\n}\n")
    assert tree.errors == []
    u, = tree.unresolved
    assert (u.span.line, u.span.column, u.target, u.kind) == (2, 2, "nothing-here", "import")
    assert "not found" in u.reason
    imp, respond = site_body(tree)                             # the rest is still parsed
    assert (imp.name, imp.args, imp.extra["unresolved"]) == ("import", ["nothing-here"], u)
    assert respond.name == "respond"


def test_snippet_must_be_defined_before_it_is_imported():
    tree = parse("a.example {\n\timport later\n}\n(later) {\n\trespond ok\n}\n")
    assert tree.errors == []
    u, = tree.unresolved
    assert u.target == "later" and "no snippet (later) defined before it" in u.reason


def test_snippet_defined_twice():
    err = only_error("(s) {\n}\n(s) {\n}\n")
    assert "defined twice" in err.message and err.line == 3


def test_absolute_import_is_resolved_under_prefix(tmp_path):
    (tmp_path / "root" / "etc" / "caddy").mkdir(parents=True)
    (tmp_path / "root" / "etc" / "caddy" / "extra.caddy").write_text("header X 1\n")
    (tmp_path / "copy" / "snippets").mkdir(parents=True)
    (tmp_path / "copy" / "snippets" / "cors.caddy").write_text("header Y 2\n")
    main = tmp_path / "Caddyfile"
    main.write_text("a.example {\n\timport /etc/caddy/extra.caddy\n"
                    "\timport /etc/caddy/snippets/*.caddy\n}\n")
    # a copy of a whole root file system: the full path exists under the prefix
    tree = load(str(main), prefix=str(tmp_path / "root"), env={})
    # the glob's directory is in no copy: what it matches is unknown, not nothing
    assert [d.args for d in site_body(tree)] == [["X", "1"], ["/etc/caddy/snippets/*.caddy"]]
    assert [u.target for u in tree.unresolved] == ["/etc/caddy/snippets/*.caddy"]
    # a copy of /etc/caddy: found by the longest suffix that exists (snippets/*.caddy)
    tree = load(str(main), prefix=str(tmp_path / "copy"), env={})
    assert tree.errors == [] and [u.target for u in tree.unresolved] == ["/etc/caddy/extra.caddy"]
    assert [d.args for d in site_body(tree)] == [["/etc/caddy/extra.caddy"], ["Y", "2"]]
    assert site_body(tree)[1].span.path == str(tmp_path / "copy" / "snippets" / "cors.caddy")


# ---- Caddy v1 -----------------------------------------------------------------------------

V1 = "example.com {\n  proxy /_matrix http://localhost:8008 {\n    transparent\n  }\n}\n"


def test_caddy_v1_file_is_reported_as_such():
    err = only_error(V1)
    assert err.message.startswith("Caddy v1 syntax: the 'proxy' directive")
    assert err.message.endswith("not understood by Caddy 2")
    assert (err.line, err.column) == (2, 3)


def test_caddy_v1_reason_from_text_and_tree():
    assert caddy_v1_reason(V1) == ("the 'proxy' directive (Caddy 2 uses reverse_proxy) "
                                   "(<string>:2:3)")
    leftover = "a.example {\n\treverse_proxy synapse:8008 {\n\t\theader_upstream Host x\n\t}\n}\n"
    assert "'header_upstream'" in caddy_v1_reason(leftover)
    assert caddy_v1_reason("a.example {\n\tencode gzip\n\treverse_proxy /x y:1\n}\n") is None
    tree = ok("proxy.example.org {\n\treverse_proxy synapse:8008\n}\n")
    assert caddy_v1_reason(tree) is None


def test_caddy_v1_gzip_and_rewrite_block():
    assert "'gzip'" in only_error("localhost:2015\ngzip\nroot /srv\n").message
    err = only_error("a.example {\n\trewrite {\n\t\tr ^/x\n\t\tto /y\n\t}\n}\n")
    assert "rewrite" in err.message and err.line == 2


# ---- errors and their positions -----------------------------------------------------------

@pytest.mark.parametrize("text, line, column, words", [
    ("a.example {\n\thandle {\n\t\trespond ok\n\t}\n\trespond x\n", 1, 11, "never closed"),
    ("a.example {\n\thandle {\n\t\trespond ok\n", 2, 9, "never closed"),
    ("a.example {\n\trespond ok\n}\n}\n", 4, 1, "no open '{'"),
    ("a.example {\n\thandle\n\t{\n\t\trespond ok\n\t}\n}\n", 3, 2, "line of its own"),
    ("a.example {\n\thandle { respond ok\n\t}\n}\n", 2, 11, "next line"),
    ("a.example {\n\ttls x@y.z { }\n}\n", 2, 14, "same line"),
    ("a.example {\n\thandle {\n\t}  respond x\n}\n", 3, 5, "after '}'"),
    ('a.example {\n\trespond "oops\n}\n', 2, 10, "unterminated"),
    ("a.example {\n\trespond `oops\n}\n", 2, 10, "unterminated"),
    ("a.example {\n\trespond <<END\n\thello\n}\n", 2, 10, "never closed"),
    ("a.example {\n\trespond <<END!\n\tEND!\n}\n", 2, 10, "marker"),
    ("a.example {\n\trespond <<<END\n\tEND\n}\n", 2, 10, "too many '<'"),
    ("a.example {\n\trespond <<END\n\t\tx\n\t  y\n\t\tEND\n}\n", 4, 1, "indentation"),
    ("a.example {\n\trespond << \n\tHello\n}\n", 2, 10, "heredoc"),
    ("(s) {\n\trespond ok\n", 1, 5, "never closed"),
])
def test_error_positions(text, line, column, words):
    err = only_error(text)
    assert (err.line, err.column) == (line, column), err
    assert words in err.message
    assert err.path == "/cfg/Caddyfile"
    for jargon in ("_NL", "RBRACE", "LBRACE", "WORDS", "$END"):
        assert jargon not in err.message


def test_structural_error_leaves_no_directives():
    tree = parse("a.example {\n\trespond ok\n}\n}\n")
    assert tree.directives == [] and len(tree.errors) == 1


def test_empty_file_is_refused_like_caddy_but_comments_only_is_fine():
    assert "empty" in only_error("").message
    assert ok("# nothing here\n").directives == []


def test_unreadable_file_is_an_error_not_a_traceback(tmp_path):
    tree = load(str(tmp_path / "missing" / "Caddyfile"))
    assert tree.directives == [] and "cannot read" in tree.errors[0].message
    tree = load(str(tmp_path))
    assert "directory" in tree.errors[0].message


# ---- format detection and laziness --------------------------------------------------------

@pytest.mark.parametrize("path, text, expected", [
    ("/etc/caddy/Caddyfile", "", True),
    ("conf/site.caddy", "anything", True),
    ("x/matrix.Caddyfile", "", True),
    ("conf.d/matrix", "matrix.example.org {\n\treverse_proxy /_matrix/* synapse:8008\n}\n",
     True),
    ("conf.d/matrix", "@api path /x\nrespond @api 204\n", True),
    ("conf.d/matrix", "{\n\temail a@b.c\n}\n\nexample.org\n", True),
    ("conf.d/matrix", "server {\n\tlisten 443 ssl;\n\tlocation / {\n\t\tproxy_pass http://x;\n"
                      "\t}\n}\n", False),
    ("conf.d/matrix", "<VirtualHost *:443>\n\tServerName a\n</VirtualHost>\n", False),
    ("haproxy.cfg", "frontend https\n\tbind :443\n\tdefault_backend synapse\n", False),
    ("notes.txt", "", False),
])
def test_looks_like_caddy(path, text, expected):
    assert looks_like_caddy(text, path) is expected


def test_importing_the_front_end_does_not_import_lark():
    code = "import sys, linter.caddy.parse; print('lark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


# ---- plugin directives named by the user (options["caddy_directives"]) -----------------------

def test_directives_of_the_users_build_are_accepted_by_the_builder():
    from linter.caddy.build import build

    text = ("{\n\torder crowdsec first\n}\nexample.com {\n\tcrowdsec\n\thandle /x {\n\t\trate_limit 1\n\t}\n"
            "\thandle_response {\n\t}\n\treverse_proxy localhost:8008\n}\n")
    tree = parse_string(text, env={})
    assert sorted(getattr(e, "caddy_directive", None) for e in tree.errors) == \
        ["crowdsec", "crowdsec", "handle_response", "rate_limit"]
    assert all("--caddy-directive" in e.message for e in tree.errors if e.line != 9)
    config = build(tree, {"caddy_directives": ("crowdsec", "rate_limit")})
    # handle_response is no plugin's: a standard subdirective out of place stays refused
    assert [(e.line, e.message.split(" (")[0]) for e in tree.errors] == \
        [(9, "unrecognized directive: handle_response")]
    assert any("crowdsec` comes from a plugin" in n for n in config.notes)


def test_a_plugin_handler_may_answer():
    from linter.caddy.build import build
    from linter.select import select_route

    tree = parse_string("example.com {\n\troute {\n\t\tcrowdsec\n\t\treverse_proxy localhost:8008\n\t}\n}\n",
                        env={})
    config = build(tree, {"caddy_directives": ("crowdsec",)})
    assert tree.errors == []
    route, unknowns = select_route(config.sites[0], "GET", "/_matrix/client/versions")
    assert route.action.kind == "proxy"
    assert any("crowdsec" in u and "may answer" in u for u in unknowns)


def test_plugin_directives_reach_the_builder_through_the_engine(tmp_path):
    from linter.engine import lint

    path = tmp_path / "Caddyfile"
    path.write_text("example.com {\n\troute {\n\t\tcrowdsec\n\t\treverse_proxy localhost:8008\n\t}\n}\n")
    assert [e.message.split(" inside")[0] for e in lint([str(path)], server="caddy").errors] == \
        ["unrecognized directive: crowdsec"]
    assert lint([str(path)], server="caddy", caddy_directives=("crowdsec",)).errors == []
