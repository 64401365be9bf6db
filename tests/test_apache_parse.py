"""The Apache httpd front end: positions, continuations, quoting, sections, includes, Define,
mod_macro and error messages. Every expected position below was counted by hand."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from linter.apache.parse import load, looks_like_apache, parse_string
from linter.syntax import LoadOptions, Span, walk

P = "/cfg/test.conf"


def S(line, column, end_line, end_column, path=P):
    return Span(path, line, column, end_line, end_column)


def parse(text, **kw):
    return parse_string(text, P, **kw)


def only(tree):
    assert tree.errors == []
    return tree.directives


# -- positions ---------------------------------------------------------------------------

def test_spans_of_directives_sections_and_arguments():
    tree = parse("ServerName example.org\n"
                 "\t<VirtualHost *:443>\n"
                 '\t\tProxyPass /_matrix "http://127.0.0.1:8008/_matrix" nocanon\n'
                 "\t</VirtualHost>\n")
    server_name, vhost = only(tree)
    assert server_name.span == S(1, 1, 1, 23)
    assert server_name.arg_spans == [S(1, 12, 1, 23)]
    assert (vhost.name, vhost.args, vhost.extra["section"]) == ("VirtualHost", ["*:443"], True)
    assert vhost.span == S(2, 2, 2, 21)            # from '<' through '>'
    assert vhost.arg_spans == [S(2, 15, 2, 20)]    # '*:443' without the '>'
    assert vhost.extra["block_end"] == S(4, 2, 4, 16)
    (proxy,) = vhost.block
    assert proxy.args == ["/_matrix", "http://127.0.0.1:8008/_matrix", "nocanon"]
    assert proxy.span == S(3, 3, 3, 61)
    assert proxy.arg_spans == [S(3, 13, 3, 21), S(3, 22, 3, 53), S(3, 54, 3, 61)]
    assert proxy.extra["quoted"] == [False, True, False]
    assert tree.files == [P]
    assert tree.server == "apache" and tree.root == P


def test_names_keep_their_spelling_and_key_lowercases():
    (d,) = only(parse("proxypassREVERSE / http://x/\n"))
    assert d.name == "proxypassREVERSE" and d.key == "proxypassreverse"


def test_crlf_line_endings():
    first, second = only(parse("ServerName a\r\nListen 80\r\n"))
    assert first.args == ["a"] and first.span == S(1, 1, 1, 13)
    assert second.span == S(2, 1, 2, 10)


def test_last_line_without_newline():
    (d,) = only(parse("Listen 80"))
    assert d.span == S(1, 1, 1, 10)


# -- continuations -----------------------------------------------------------------------

def test_continuation_lines_join_into_one_directive():
    (d,) = only(parse("ProxyPass /_matrix \\\n    http://127.0.0.1:8008/_matrix \\\n    nocanon\n"))
    assert d.args == ["/_matrix", "http://127.0.0.1:8008/_matrix", "nocanon"]
    assert d.span == S(1, 1, 3, 12)
    assert d.arg_spans == [S(1, 11, 1, 19), S(2, 5, 2, 34), S(3, 5, 3, 12)]


def test_continuation_inside_a_word_joins_without_a_blank():
    # httpd removes backslash-newline and nothing else: "ab\<nl>cd" is the word "abcd".
    (d,) = only(parse("Header set X-Long ab\\\ncd\n"))
    assert d.args == ["set", "X-Long", "abcd"]
    assert d.arg_spans[2] == S(1, 19, 2, 3)


def test_backslash_followed_by_blanks_is_not_a_continuation():
    first, second = only(parse("Foo a \\ \nBar b\n"))
    assert (first.name, first.args) == ("Foo", ["a", "\\"])
    assert (second.name, second.span.line) == ("Bar", 2)


def test_a_comment_ending_in_backslash_swallows_the_next_line():
    (d,) = only(parse("# note \\\nServerName hidden\nServerName shown\n"))
    assert d.args == ["shown"] and d.span.line == 3


def test_continuation_with_crlf():
    (d,) = only(parse("Foo a \\\r\n  b\r\n"))
    assert d.args == ["a", "b"] and d.arg_spans[1] == S(2, 3, 2, 4)


# -- quoting -----------------------------------------------------------------------------

def test_quoting_follows_ap_getword_conf():
    (d,) = only(parse("SetEnv always set X-A \"a \\\"b\\\" c\" 'it''s' \"abc\"def "
                      "foo\"bar baz\" # not a comment\n"))
    assert d.args == ["always", "set", "X-A", 'a "b" c', "it", "s", "abc", "def",
                      'foo"bar', 'baz"', "#", "not", "a", "comment"]
    assert d.extra["quoted"] == [False, False, False, True, True, True, True, False,
                                 False, False, False, False, False, False]
    assert d.arg_spans[3] == S(1, 23, 1, 34)
    assert d.arg_spans[4] == S(1, 35, 1, 39)
    assert d.arg_spans[5] == S(1, 39, 1, 42)
    assert d.arg_spans[7] == S(1, 48, 1, 51)


def test_backslashes():
    (rule, header) = only(parse('RewriteRule ^/a\\\\.b$ - [F]\nHeader set X "a\\d"\n'))
    assert rule.args[0] == "^/a\\.b$"       # \\ is one backslash, even unquoted
    assert header.args[2] == "a\\d"          # other escapes stay as written


def test_unterminated_quote_is_accepted_like_httpd_but_flagged():
    (d,) = only(parse('Header set X "abc def\n'))
    assert d.args == ["set", "X", "abc def"]
    assert d.extra["unterminated_quote"] is True


def test_empty_quoted_argument_and_empty_name():
    (d,) = only(parse("Foo Bar '' \"\"\n\"\" ignored like httpd does\n"))
    assert d.args == ["Bar", "", ""] and d.arg_spans[1] == S(1, 9, 1, 11)


# -- sections ----------------------------------------------------------------------------

def test_section_without_arguments_and_case_insensitive_closing_tag():
    tree = parse("<Location>\n</Location>\n<VirtualHost *:80 >\n</virtualhost>\n")
    # httpd: "<Location> directive requires additional arguments"
    assert [(e.line, e.message) for e in tree.errors] == [
        (1, "<Location> directive requires additional arguments")]
    location, vhost = tree.directives
    assert (location.name, location.args, location.block) == ("Location", [], [])
    assert location.span == S(1, 1, 1, 11)
    assert vhost.args == ["*:80"] and vhost.span == S(3, 1, 3, 20)


def test_section_headers_quoted_and_expression():
    loc, cond, vhost = only(parse('<Location "/a b">\n</Location>\n'
                                  "<If \"%{HTTP_HOST} == 'x'\">\n</If>\n"
                                  "<VirtualHost *:80> # a comment is ignored text\n</VirtualHost>\n"))
    assert loc.args == ["/a b"] and loc.extra["quoted"] == [True]
    assert cond.args == ["%{HTTP_HOST} == 'x'"]
    assert vhost.args == ["*:80"] and vhost.span == S(5, 1, 5, 19)


def test_nested_sections_and_else():
    (ifmod,) = only(parse("<IfModule mod_proxy.c>\n"
                          "  <If \"%{HTTPS} == 'on'\">\n    Header set A b\n  </If>\n"
                          "  <Else>\n    Header set A c\n  </Else>\n"
                          "</IfModule>\n"))
    assert [c.name for c in ifmod.block] == ["If", "Else"]
    assert ifmod.block[1].args == [] and ifmod.block[1].block[0].args == ["set", "A", "c"]


def test_mismatched_closing_tag_is_reported_where_it_is():
    tree = parse("<VirtualHost *:443>\n    <Location /a>\n    </VirtualHost>\n</VirtualHost>\n")
    (error,) = tree.errors
    assert (error.line, error.column) == (3, 5)
    assert "expected </Location>" in error.message and "</VirtualHost>" in error.message


def test_closing_tag_without_opening():
    tree = parse("Listen 80\n</Directory>\n")
    (error,) = tree.errors
    assert (error.line, error.column) == (2, 1)
    assert error.message == "</Directory> without matching <Directory> section"
    assert [d.name for d in tree.directives] == ["Listen"]


def test_unclosed_section_is_reported_at_its_header_and_kept():
    tree = parse("Listen 80\n<VirtualHost *:80>\n  <Directory /srv>\n  </Directory>\n")
    (error,) = tree.errors
    assert (error.line, error.column) == (2, 1)
    assert "<VirtualHost> is not closed" in error.message
    vhost = tree.directives[1]
    assert [c.name for c in vhost.block] == ["Directory"] and "block_end" not in vhost.extra


def test_header_without_closing_bracket():
    tree = parse("<Directory /srv\n</Directory>\n")
    (error,) = tree.errors
    assert (error.line, error.column) == (1, 1)
    assert "<Directory> is missing the closing '>'" in error.message
    assert tree.directives[0].args == ["/srv"]


def test_closing_tag_without_bracket():
    tree = parse("<Files x>\n</Files\n")
    (error,) = tree.errors
    assert (error.line, error.column, error.message) == (2, 1, "</Files> is missing its closing '>'")


def test_header_cut_at_last_bracket_even_in_an_open_quote():
    # A historical Matrix example; httpd accepts it (the last '>' ends the header).
    (loc,) = only(parse('<Location "/.well-known/matrix/client>\n  Header set A b\n</Location>\n'))
    assert loc.args == ["/.well-known/matrix/client"]
    assert loc.extra["unterminated_quote"] is True
    assert loc.arg_spans == [S(1, 11, 1, 38)]


# -- includes ----------------------------------------------------------------------------

def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_include_globs_sections_and_file_positions(tmp_path):
    main = write(tmp_path / "main.conf", "ServerName main\nInclude conf.d/*.conf\n<VirtualHost *:80>\n"
                 "    IncludeOptional missing/*.conf\n    Include vhost-extra.conf\n</VirtualHost>\n")
    a = write(tmp_path / "conf.d/a.conf", "Listen 80\n")
    b = write(tmp_path / "conf.d/b.conf", "\nListen 81\n")
    write(tmp_path / "conf.d/.hidden.conf", "Listen 99\n")
    write(tmp_path / "conf.d/c.txt", "Listen 98\n")
    extra = write(tmp_path / "vhost-extra.conf", "ProxyPass / http://x/\n")
    tree = load(main)
    assert tree.errors == []
    names = [(d.name, d.args) for d in tree.directives]
    assert names == [("ServerName", ["main"]), ("Include", ["conf.d/*.conf"]), ("Listen", ["80"]),
                     ("Listen", ["81"]), ("VirtualHost", ["*:80"])]
    include, listen80, listen81 = tree.directives[1:4]
    assert include.extra["includes"] == [a, b]
    assert listen80.span == Span(a, 1, 1, 1, 10)
    assert listen81.span == Span(b, 2, 1, 2, 10)
    assert listen80.extra["included_from"] == Span(main, 2, 1, 2, 22)
    optional, inc, proxy = tree.directives[4].block
    assert optional.extra["includes"] == [] and inc.extra["includes"] == [extra]
    assert proxy.span.path == extra and proxy.extra["included_from"] == Span(main, 5, 5, 5, 29)
    assert tree.files == [main, a, b, extra]


def test_include_of_a_directory_reads_everything_sorted(tmp_path):
    main = write(tmp_path / "main.conf", "Include conf.d\n")
    for name in ("b.conf", ".hidden", "a.txt", "sub/z.conf"):
        write(tmp_path / "conf.d" / name, f"Define F{len(name)}\n")
    tree = load(main)
    assert tree.errors == []
    assert [os.path.relpath(f, tmp_path) for f in tree.files[1:]] == [
        "conf.d/.hidden", "conf.d/a.txt", "conf.d/b.conf", "conf.d/sub/z.conf"]


def test_server_root_changes_where_relative_includes_point(tmp_path):
    main = write(tmp_path / "etc/main.conf", f'Include a.conf\nServerRoot "{tmp_path}/srv"\nInclude a.conf\n')
    write(tmp_path / "etc/a.conf", "Listen 1\n")
    write(tmp_path / "srv/a.conf", "Listen 2\n")
    # srv/ is part of the checked tree (outside it, a file of the tree would win: see
    # test_apache_open_world.py).
    tree = load(main, load_options=LoadOptions(tree_roots=(str(tmp_path),)))
    assert tree.errors == [] and tree.outside == []
    listens = [(d.args[0], d.span.path) for d in walk(tree.directives) if d.key == "listen"]
    assert listens == [("1", str(tmp_path / "etc/a.conf")), ("2", str(tmp_path / "srv/a.conf"))]


def test_missing_include_is_unresolved_at_its_line_not_an_error(tmp_path):
    # The open world: a file or directory we were not given is unknown, not absent (nor an
    # error), for Include and IncludeOptional alike. More in test_apache_open_world.py.
    main = write(tmp_path / "main.conf", "IncludeOptional nothere.conf\n<VirtualHost *>\n"
                 "    Include nothere.conf\n    Include conf.d/*.conf\n</VirtualHost>\n"
                 "IncludeOptional conf.d/*.conf\n")
    tree = load(main)
    assert tree.errors == []
    got = [(u.span.path, u.span.line, u.span.column, u.target, u.kind) for u in tree.unresolved]
    assert got == [(main, 1, 1, "nothere.conf", "include"), (main, 3, 5, "nothere.conf", "include"),
                   (main, 4, 5, "conf.d/*.conf", "include"), (main, 6, 1, "conf.d/*.conf", "include")]
    assert tree.unresolved[1].reason.startswith(f"not found (looked in {tmp_path}")
    include = tree.directives[1].block[0]
    assert include.extra["unresolved"] is tree.unresolved[1] and include.extra["includes"] == []


def test_include_with_an_undefined_variable_says_so(tmp_path):
    main = write(tmp_path / "main.conf", "Include ${CONFDIR}/x.conf\n")
    tree = load(main)
    assert tree.errors == []
    (unresolved,) = tree.unresolved
    assert (unresolved.span.line, unresolved.target) == (1, "${CONFDIR}/x.conf")
    assert unresolved.reason == "${CONFDIR} is not defined in the files read"
    write(tmp_path / "etc/x.conf", "Listen 1\n")
    tree = load(main, defines={"CONFDIR": str(tmp_path / "etc")})
    assert tree.errors == [] and tree.unresolved == []


def test_wildcard_without_match(tmp_path):
    main = write(tmp_path / "main.conf", "Include conf.d/*.conf\nIncludeOptional conf.d/*.conf\n")
    write(tmp_path / "conf.d/readme.txt", "x\n")
    (error,) = load(main).errors
    assert error.line == 1 and "no file matches the wildcard '*.conf'" in error.message


def test_include_cycle_is_an_error(tmp_path):
    a = write(tmp_path / "a.conf", "Listen 1\nInclude b.conf\n")
    b = write(tmp_path / "b.conf", "Listen 2\n\nInclude a.conf\n")
    tree = load(a)
    (error,) = tree.errors
    assert (error.path, error.line) == (b, 3) and "include cycle" in error.message
    assert [d.args[0] for d in tree.directives if d.key == "listen"] == ["1", "2"]


def test_prefix_maps_absolute_paths_into_a_copied_tree(tmp_path):
    copy = tmp_path / "copy"
    entry = write(copy / "apache2.conf", "Include /etc/apache2/sites-enabled/*.conf\n"
                  "IncludeOptional /etc/apache2/conf-enabled/*.conf\n")
    site = write(copy / "sites-enabled/matrix.conf", "ServerName matrix\n")
    tree = load(entry, prefix=str(copy))
    assert tree.errors == []
    # /etc/apache2 exists on a machine with Apache installed; the copy wins all the same,
    # and the learned /etc/apache2 -> copy pairing keeps conf-enabled inside the copy too.
    assert tree.files == [entry, site]


def test_prefix_is_tried_before_this_machine(tmp_path):
    real = write(tmp_path / "real/sites/x.conf", "Listen 1\n")
    copied = write(tmp_path / "copy/sites/x.conf", "Listen 2\n")
    entry = write(tmp_path / "copy/main.conf", f"Include {real}\n")
    tree = load(entry, prefix=str(tmp_path / "copy"))
    assert tree.files == [entry, copied]
    # Without a prefix the checked tree (the entry's directory) comes first all the same; this
    # machine's file is read only when the tree lacks it, and is then reported as outside.
    assert load(entry).files == [entry, copied]
    os.remove(copied)
    tree = load(entry)
    assert tree.files == [entry, real] and tree.outside == [real]
    assert load(entry, prefix=str(tmp_path / "copy")).files == [entry]


def test_prefix_maps_server_root(tmp_path):
    copy = tmp_path / "copy"
    entry = write(copy / "conf/httpd.conf", 'ServerRoot "/etc/httpd-mpl-test"\nInclude conf.d/*.conf\n')
    extra = write(copy / "conf.d/ssl.conf", "Listen 443\n")
    tree = load(entry, prefix=str(copy))
    assert tree.errors == [] and tree.files == [entry, extra]


def test_server_root_missing_here_falls_back_to_a_same_named_ancestor(tmp_path):
    entry = write(tmp_path / "httpd-mpl-test/conf/httpd.conf",
                  'ServerRoot "/nonexistent-mpl/httpd-mpl-test"\nInclude conf.modules.d/*.conf\n')
    module = write(tmp_path / "httpd-mpl-test/conf.modules.d/00-base.conf", "LoadModule x y\n")
    tree = load(entry)
    assert tree.errors == [] and tree.files == [entry, module]


def test_load_a_directory_reads_its_main_file(tmp_path):
    entry = write(tmp_path / "apache2.conf", "Listen 80\n")
    tree = load(str(tmp_path))
    assert tree.root == entry and tree.files == [entry] and tree.errors == []
    (error,) = load(str(tmp_path / "nothing-here-mpl")).errors
    assert error.message.startswith("cannot read ")


def test_parse_string_default_path():
    (d,) = parse_string("Listen 80\n").directives
    assert d.span == Span("<string>", 1, 1, 1, 10)


def test_unreadable_entry_file(tmp_path):
    tree = load(str(tmp_path / "nope.conf"))
    (error,) = tree.errors
    assert error.message.startswith("cannot read ") and tree.directives == []


# -- Define and IfDefine -----------------------------------------------------------------

DEFINES = ("Define HOST matrix.example.org\n"
           "Define PORT\n"
           "ServerName ${HOST}\n"
           "Listen ${UNDEFINED}\n"
           "Listen ${PORTX?=8448}\n"
           "<IfDefine PORT>\n  Header set A b\n</IfDefine>\n"
           "<IfDefine !PORT>\n  Header set C d\n</IfDefine>\n"
           "<IfDefine SSL>\n  Listen 443\n</IfDefine>\n")


def test_define_substitutes_variables_in_arguments():
    directives = only(parse(DEFINES))
    server_name, undefined, default = directives[2:5]
    assert server_name.args == ["matrix.example.org"]
    assert server_name.extra["raw_args"] == ["${HOST}"]
    assert server_name.arg_spans == [S(3, 12, 3, 19)]   # still where ${HOST} is written
    assert undefined.args == ["${UNDEFINED}"] and "raw_args" not in undefined.extra
    assert default.args == ["8448"]


def test_ifdefine_is_evaluated_only_when_decidable():
    port, not_port, ssl = only(parse(DEFINES))[5:]
    assert port.extra["active"] is True and [d.args for d in port.block] == [["set", "A", "b"]]
    assert not_port.extra["active"] is False and not_port.block == []
    assert [d.args for d in not_port.extra["inactive_block"]] == [["set", "C", "d"]]
    assert ssl.extra["active"] is None and [d.args for d in ssl.block] == [["443"]]


def test_defines_argument_makes_every_ifdefine_decidable():
    ssl = only(parse(DEFINES, defines={}))[-1]
    assert ssl.extra["active"] is False and ssl.block == []
    ssl = only(parse(DEFINES, defines={"SSL": None}))[-1]
    assert ssl.extra["active"] is True
    server_name = only(parse(DEFINES, defines={"HOST": "from-cli"}))[2]
    assert server_name.args == ["matrix.example.org"]   # the later Define wins
    (listen,) = only(parse("Listen ${P}\n", defines={"P": "8008"}))
    assert listen.args == ["8008"]


def test_inactive_ifdefine_executes_nothing():
    tree = parse("<IfDefine NOPE>\n  Define X 1\n  Include /nonexistent/file.conf\n"
                 "  <Macro M>\n  </Macro>\n</IfDefine>\nListen ${X}\nUse M\n", defines={})
    (error,) = tree.errors
    assert (error.line, error.message) == (8, "macro 'M' is not defined (a <Macro> must come before its Use)")
    assert tree.directives[1].args == ["${X}"]


def test_undefine_makes_ifdefine_decidable():
    listen, section = only(parse("Define A 1\nUnDefine A\nListen ${A}\n<IfDefine A>\nListen 2\n</IfDefine>\n"))[2:]
    assert listen.args == ["${A}"] and section.extra["active"] is False


# -- mod_macro ---------------------------------------------------------------------------

MACRO = ("<Macro MatrixVHost $domain $port>\n"
         "  <VirtualHost *:$port>\n"
         "    ServerName $domain\n"
         "    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon\n"
         "  </VirtualHost>\n"
         "</Macro>\n"
         "Use MatrixVHost matrix.example.org 8448\n"
         "Use MatrixVHost other.example.org 443\n")


def test_use_expands_in_place_with_spans_in_the_macro_body():
    directives = only(parse(MACRO))
    assert [(d.name, d.args) for d in directives] == [
        ("Macro", ["MatrixVHost", "$domain", "$port"]),
        ("Use", ["MatrixVHost", "matrix.example.org", "8448"]), ("VirtualHost", ["*:8448"]),
        ("Use", ["MatrixVHost", "other.example.org", "443"]), ("VirtualHost", ["*:443"])]
    macro, use, vhost = directives[:3]
    assert macro.block == [] and macro.extra["macro_body"].startswith("  <VirtualHost *:$port>\n")
    assert vhost.span == S(2, 3, 2, 24)
    assert vhost.arg_spans == [S(2, 16, 2, 23)]          # '*:$port' as written in the body
    server_name, proxy = vhost.block
    assert server_name.args == ["matrix.example.org"]
    assert server_name.span == S(3, 5, 3, 23) and server_name.arg_spans == [S(3, 16, 3, 23)]
    assert proxy.span.line == 4
    for d in (vhost, server_name, proxy):
        assert d.extra["use"] == S(7, 1, 7, 40)
    assert directives[4].block[0].extra["use"] == S(8, 1, 8, 38)
    assert directives[4].block[0].args == ["other.example.org"]


def test_at_parameters_are_substituted_quoted():
    (_, _, header) = only(parse('<Macro Hdr @value $name>\nHeader set $name @value\n</Macro>\n'
                                'Use Hdr "a \\"quoted\\" b" X-Test\n'))
    assert header.args == ["set", "X-Test", 'a "quoted" b']
    assert header.extra["quoted"] == [False, False, True]


def test_longest_parameter_name_wins_and_values_are_not_rescanned():
    directives = only(parse("<Macro M $d $dir>\nSetEnv $dir $d\n</Macro>\nUse M 5 /x\n"
                            "<Macro Foo $x $y>\nWarning \"x=$x y=$y\"\n</Macro>\nUse Foo $y $x\n"))
    assert directives[2].args == ["/x", "5"]
    assert directives[5].args == ["x=$y y=$x"]


def test_macro_defined_by_a_macro():
    directives = only(parse("<Macro Outer $arg>\n<Macro $arg.in>\nSetEnv $arg\n</Macro>\n</Macro>\n"
                            "Use Outer one\nUse one.in\n"))
    listen = directives[-1]
    assert listen.args == ["one"] and listen.span == S(3, 1, 3, 12)
    assert listen.extra["use"] == S(7, 1, 7, 11)


def test_macro_header_and_use_with_continuations_and_comments_in_body():
    directives = only(parse("<Macro Line \\\n  $start \\\n  $stop>\n  # a comment\n  Listen $start\n"
                            "</Macro>\nUse Line \\\n  80 81\n"))
    listen = directives[-1]
    assert listen.args == ["80"] and listen.span == S(5, 3, 5, 16)
    assert listen.extra["use"] == S(7, 1, 8, 8)


def test_macro_names_are_case_insensitive():
    directives = only(parse("<macro Foo>\nListen 1\n</MACRO>\nuse FOO\n"))
    assert directives[-1].args == ["1"]


def test_macro_errors_unknown_arity_and_recursion():
    tree = parse("Use Nope a\n"
                 "<Macro M $a>\nListen $a\n</Macro>\n"
                 "Use M\n"
                 "Use M 1 2\n"
                 "<Macro A>\nUse B\n</Macro>\n"
                 "<Macro B>\n  Use A\n</Macro>\n"
                 "Use A\n"
                 "UndefMacro M\nUse M 1\n")
    got = [(e.line, e.column, e.message) for e in tree.errors]
    # 'Nope' is defined in no file read: a macro from elsewhere, unresolved, not an error.
    (nope,) = tree.unresolved
    assert (nope.span.line, nope.span.column, nope.target, nope.kind) == (1, 1, "Nope", "macro")
    assert got[0][:2] == (5, 1) and "macro 'M' (defined at /cfg/test.conf:2:1) takes 1 argument, " \
        "but this Use gives 0" == got[0][2]
    assert got[1][:2] == (6, 1) and got[1][2].endswith("but this Use gives 2")
    assert got[2] == (11, 3, "recursive use of macro 'A'")   # the Use A inside B's body
    assert got[3] == (15, 1, "macro 'M' is not defined (a <Macro> must come before its Use)")
    assert len(got) == 4


def test_macro_definition_errors():
    tree = parse("<Macro>\n</Macro>\n<Macro Dup $a $a>\n</Macro>\n<Macro E ''>\n</Macro>\n")
    assert [(e.line, e.message) for e in tree.errors] == [
        (1, "<Macro> needs a macro name, as in <Macro VHost $host>"),
        (3, "macro 'Dup': parameter '$a' is declared twice (#1 and #2)"),
        (5, "macro 'E': parameter #1 has an empty name")]


def test_unclosed_macro_swallows_the_rest_of_the_file():
    tree = parse("Listen 1\n<Macro M>\nListen 2\n")
    (error,) = tree.errors
    assert (error.line, error.column) == (2, 1) and "<Macro> is not closed" in error.message
    assert [d.args for d in tree.directives] == [["1"]]


def test_unbalanced_macro_body_is_an_error_at_the_body_line():
    # httpd only warns here (the section may be closed after the Use); see macros.py.
    tree = parse("<Macro Close>\n</Directory>\n</Macro>\n<Directory /tmp>\nUse Close\n")
    messages = [(e.line, e.message.split(" (in macro")[0]) for e in tree.errors]
    assert (2, "</Directory> without matching <Directory> section") in messages
    assert any("used at /cfg/test.conf:5:1" in e.message for e in tree.errors)


def test_include_inside_a_macro(tmp_path):
    write(tmp_path / "snippet.conf", "Header set A b\n")
    main = write(tmp_path / "main.conf", "<Macro V $h>\n<VirtualHost $h>\nInclude snippet.conf\n"
                 "</VirtualHost>\n</Macro>\nUse V a:80\n")
    tree = load(main)
    assert tree.errors == []
    vhost = tree.directives[-1]
    include, header = vhost.block
    assert header.span.path == str(tmp_path / "snippet.conf")
    assert header.extra["included_from"] == include.span and header.extra["use"].line == 6


# -- errors are readable -----------------------------------------------------------------

# `Use X` and `Include /nonexistent/mpl.conf` are no errors any more: they are unresolved
# (test_apache_open_world.py).
BAD = ["<VirtualHost *:80>\n", "</Location>\n", "<A>\n</B>\n", "<Directory /x\n</Directory>\n",
       "<Macro>\n</Macro>\n", "<Macro M>\n", "< >\n</>\n", "<Files x>\n</Files\n", "<\n"]


@pytest.mark.parametrize("text", BAD)
def test_error_messages_are_words_with_positions(text):
    tree = parse(text)
    assert tree.errors
    for error in tree.errors:
        assert not re.search(r"\b(_NL|SECTION_OPEN|SECTION_CLOSE|DQUOTED|SQUOTED|WORD|\$END|"
                             r"_COMMENT|Token|UnexpectedToken)\b", error.message), error.message
        assert error.line >= 1 and error.column >= 1
        assert str(error).startswith(f"{P}:{error.line}:{error.column}: ")


# -- real Matrix configs (see tests/data/apache/matrix/SOURCES.md) -----------------------

DATA = os.path.join(os.path.dirname(__file__), "data", "apache", "matrix")


def test_continuwuity_example_keeps_trailing_hash_words_as_arguments():
    tree = load(os.path.join(DATA, "continuwuity-deploy-block07.conf"), defines={})
    listen, vhost = tree.directives
    assert vhost.args == ["*:443", "*:8448"]
    server_name = vhost.block[0]
    # httpd has no trailing comments: this line is an error for httpd ("takes one argument").
    assert server_name.args == ["your.server.name", "#", "EDIT", "THIS"]
    assert [(e.line, e.message) for e in tree.errors] == [(5, "ServerName takes one argument, not 4")]
    # /etc/letsencrypt/options-ssl-apache.conf is not on this machine: certbot's, as shipped.
    assert tree.unresolved == []
    include = vhost.block[4]
    assert include.key == "include" and include.extra["known"][0].paths == (
        "/etc/letsencrypt/options-ssl-apache.conf",)
    assert vhost.block[5].key == "sslengine" and vhost.block[5].span == include.span


def test_dfuchss_template():
    tree = load(os.path.join(DATA, "dfuchss-matrix-apache.conf"))
    assert tree.errors == []
    (vhost,) = tree.directives
    proxies = [d.args for d in vhost.block if d.key == "proxypass"]
    assert proxies == [["/_matrix", "http://127.0.0.1:8008/_matrix", "nocanon"],
                       ["/_synapse", "http://127.0.0.1:8008/_synapse", "nocanon"]]
    assert vhost.block[1].args == ["${APACHE_LOG_DIR}/error-<<SERVER_NAME>>.log"]


# -- detection and startup ---------------------------------------------------------------

@pytest.mark.parametrize("text, path, expected", [
    ("<VirtualHost *:443>\n</VirtualHost>\n", "x.conf", True),
    ("ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon\n", "snippet", True),
    ("Listen 80\nServerName x\n", "/etc/apache2/ports.conf", True),
    ("server {\n  listen 80;\n  server_name x;\n}\n", "/etc/nginx/sites-enabled/x", False),
    ("example.org {\n\treverse_proxy /_matrix/* localhost:8008\n}\n", "Caddyfile", False),
    ("frontend fe\n    bind :443\n    default_backend be\n", "haproxy.cfg", False),
    ("location /_matrix {\n  proxy_pass http://x;\n}\n", "/etc/apache2/x.conf", False),
])
def test_looks_like_apache(text, path, expected):
    assert looks_like_apache(text, path) is expected


def test_lark_is_imported_only_when_parsing():
    code = ("import sys, linter.apache.parse as p\n"
            "before = 'lark' in sys.modules\n"
            "p.parse_string('Listen 80\\n')\n"
            "print(before, 'lark' in sys.modules)\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # this checkout's linter
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=root)
    assert out.stdout.split() == ["False", "True"]


def test_parser_is_built_once_per_process():
    from linter.apache import structure

    parse("Listen 80\n")
    assert structure._parser() is structure._parser()
