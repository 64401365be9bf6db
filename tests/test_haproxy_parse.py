"""The HAProxy front end: words and quoting, positions, sections, ACL conditions, `.if` blocks,
environment variables, sample expressions, several files, errors.

Every expected line/column below was counted by hand from the input shown next to it.
Columns are 1-based characters; `end_column` is exclusive; a tab is one column.
The quoting and `.if` rules follow haproxy's src/tools.c (parse_line) and src/cfgcond.c.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from linter.haproxy.parse import SECTION_KEYWORDS, load, looks_like_haproxy, parse_string
from linter.syntax import Span, walk

DATA = Path(__file__).resolve().parent / "data" / "haproxy"


def parse(text: str, **options):
    options.setdefault("env", {})
    return parse_string(text, "t.cfg", **options)


def find(tree, name, nth=0):
    return [d for d in walk(tree.directives) if d.name == name][nth]


def where(span: Span) -> tuple:
    return (span.line, span.column, span.end_line, span.end_column)


def errors(tree) -> list[tuple]:
    return [(e.line, e.column, e.message) for e in tree.errors]


def one_line(line: str, **options):
    """The directive made of `line` inside a frontend (line 2 of the text)."""
    tree = parse("frontend fe\n" + line + "\n", **options)
    assert tree.errors == []
    return tree.directives[0].block[0]


# --- words, quoting and escapes ---------------------------------------------------------------

def test_words_are_split_at_blanks_and_keep_their_columns():
    d = one_line("  bind :443 ssl\tcrt /etc/h.pem")
    assert (d.name, d.args) == ("bind", [":443", "ssl", "crt", "/etc/h.pem"])
    assert where(d.span) == (2, 3, 2, 31)
    assert [where(s) for s in d.arg_spans] == [
        (2, 8, 2, 12), (2, 13, 2, 16), (2, 17, 2, 20), (2, 21, 2, 31)]
    assert d.extra["quoted"] == [False, False, False, False]


def test_quotes_join_inside_a_word_and_their_span_includes_them():
    #        1234567890123456789012
    d = one_line("x a'b c'd \"e f\" 'g#h'")
    assert d.args == ["ab cd", "e f", "g#h"]
    assert [where(s) for s in d.arg_spans] == [(2, 3, 2, 10), (2, 11, 2, 16), (2, 17, 2, 22)]
    assert d.extra["quoted"] == [True, True, True]


def test_backslash_escapes_outside_single_quotes():
    d = one_line(r'x a\ b \#c "q\"q" \x41\t \. ' + r"'\n\ '")
    # \ and \# give the character; \x41 is A, \t a tab; \. is no escape and stays;
    # inside single quotes a backslash is literal
    assert d.args == ["a b", "#c", 'q"q', "A\t", "\\.", "\\n\\ "]


def test_dollar_is_escaped_only_inside_double_quotes():
    d = one_line(r'x \$a "\$b"')
    assert d.args == ["\\$a", "$b"]


def test_comments_start_at_an_unquoted_hash_even_inside_a_word():
    d = one_line('x a#b "c#d" e # f')
    assert d.args == ["a"]
    d = one_line('x "c#d" e # f')
    assert d.args == ["c#d", "e"]
    assert where(d.span) == (2, 1, 2, 10)


def test_a_carriage_return_ends_the_line():
    tree = parse("frontend fe\r\n  mode http\r\n")
    assert tree.errors == []
    assert tree.directives[0].args == ["fe"]
    assert tree.directives[0].block[0].args == ["http"]


def test_unmatched_quote_is_an_error_at_the_opening_quote_and_the_line_is_skipped():
    tree = parse('frontend fe\n  http-request set-header X "abc\n  mode http\n')
    assert errors(tree) == [(2, 29, "unmatched double quote: the string is never closed")]
    assert [d.name for d in tree.directives[0].block] == ["mode"]
    tree = parse("frontend fe\n  x 'abc\n")
    assert errors(tree) == [(2, 5, "unmatched single quote: the string is never closed")]


def test_bad_hexadecimal_escape_is_an_error():
    tree = parse("frontend fe\n  x a\\x4z\n")
    assert [(line, column) for line, column, _ in errors(tree)] == [(2, 6)]
    assert "hexadecimal" in tree.errors[0].message


def test_empty_quoted_word_is_an_error_since_it_ends_haproxys_argument_list():
    tree = parse('frontend fe\n  http-request set-header X "" if foo\n')
    assert [(line, column) for line, column, _ in errors(tree)] == [(2, 29)]
    assert tree.errors[0].message.startswith("empty argument")


def test_more_than_64_words_is_an_error_at_the_65th():
    line = "x" + " a" * 64          # 65 words; the k-th "a" is at column 1 + 2k
    tree = parse("frontend fe\n" + line + "\n")
    assert [(l, c) for l, c, _ in errors(tree)] == [(2, 129)]
    assert tree.directives[0].block == []


# --- environment variables ----------------------------------------------------------------------

def test_set_variables_are_substituted_inside_double_quotes_only():
    d = one_line('x "${HOST}" "$HOST:8448" ${HOST} \'${HOST}\'', env={"HOST": "m.org"})
    assert d.args == ["m.org", "m.org:8448", "${HOST}", "${HOST}"]
    assert d.extra["quoted"] == [True, True, False, True]
    assert "opaque" not in d.extra      # written outside double quotes: plain text


def test_unset_variables_stay_as_written_and_defaults_apply():
    d = one_line('timeout client "${T-5s}" "${NOPE}" "a${NOPE}b" "${E-}x"')
    assert d.args == ["client", "5s", "${NOPE}", "a${NOPE}b", "x"]
    assert d.extra["opaque"] == [False, False, True, True, False]
    # the span of a substituted word is where it is written
    assert where(d.arg_spans[1]) == (2, 16, 2, 25)


def test_a_set_variable_wins_over_its_default():
    assert one_line('x "${T-5s}"', env={"T": "30s"}).args == ["30s"]


def test_word_expansion_splits_a_variable_into_several_words():
    d = one_line('bind "${ADDRS[*]}" ssl', env={"ADDRS": ":443  :8448"})
    assert d.args == [":443", ":8448", "ssl"]
    assert one_line('bind "${ADDRS[*]}" ssl', env={"ADDRS": ""}).args == ["ssl"]


def test_pseudo_variables_line_file_and_section():
    tree = parse('global\nbackend be\n  x "$.LINE" "${.FILE}" "${.SECTION}"\n')
    assert tree.errors == []
    assert tree.directives[1].block[0].args == ["3", "t.cfg", "be"]


def test_bad_variable_syntax_is_an_error():
    tree = parse('frontend fe\n  x "${A"\n  y "$1"\n  z "${A[x]}"\n  w "${.NOPE}"\n')
    assert [(line, column) for line, column, _ in errors(tree)] == [
        (2, 7), (3, 7), (4, 9), (5, 8)]
    assert "missing '}'" in tree.errors[0].message
    assert "environment variable name" in tree.errors[1].message
    assert "[*]" in tree.errors[2].message


def test_a_dollar_at_the_end_of_a_double_quoted_regex_is_an_error_like_in_haproxy():
    # haproxy points at the character that cannot start a name: here the closing quote
    tree = parse('frontend fe\n  acl a path_reg "^/x$"\n')
    assert [(line, column) for line, column, _ in errors(tree)] == [(2, 23)]


# --- sections -------------------------------------------------------------------------------------

CONFIG = """\
global
    maxconn 100
defaults base
    mode http
defaults tcp from base
    mode tcp
frontend web from base
    bind :443
  backend synapse
    server s1 127.0.0.1:8008
"""


def test_sections_are_directives_with_their_lines_as_block():
    tree = parse(CONFIG)
    assert tree.errors == []
    assert [(d.name, d.args) for d in tree.directives] == [
        ("global", []), ("defaults", ["base"]), ("defaults", ["tcp", "from", "base"]),
        ("frontend", ["web", "from", "base"]), ("backend", ["synapse"])]
    assert all(d.extra["section"] is True for d in tree.directives)
    assert [[c.name for c in d.block] for d in tree.directives] == [
        ["maxconn"], ["mode"], ["mode"], ["bind"], ["server"]]


def test_an_unnamed_defaults_section_may_inherit_too():
    tree = parse("defaults base\n  mode http\ndefaults from base\n  timeout client 5s\n")
    assert tree.errors == []
    assert [(d.name, d.args) for d in tree.directives] == [
        ("defaults", ["base"]), ("defaults", ["from", "base"])]


def test_section_span_is_its_header_line():
    tree = parse(CONFIG)
    assert where(tree.directives[2].span) == (5, 1, 5, 23)
    assert [where(s) for s in tree.directives[2].arg_spans] == [
        (5, 10, 5, 13), (5, 14, 5, 18), (5, 19, 5, 23)]
    # indentation does not matter: the keyword starts the section
    assert where(tree.directives[4].span) == (9, 3, 9, 18)


def test_every_known_section_keyword_starts_a_section():
    text = "".join(f"{k} n\n    x 1\n" for k in sorted(SECTION_KEYWORDS))
    tree = parse(text)
    assert tree.errors == []
    assert [d.name for d in tree.directives] == sorted(SECTION_KEYWORDS)
    for keyword in ("crt-store", "log-forward", "traces", "http-errors", "ring", "program",
                    "userlist", "peers", "resolvers", "mailers", "cache", "acme"):
        assert keyword in SECTION_KEYWORDS


def test_an_unknown_future_section_is_read_as_lines_of_the_section_before_it():
    tree = parse("backend be\n    server s 1.2.3.4:80\nquic-future q\n    knob 1\n")
    assert tree.errors == []
    assert [d.name for d in tree.directives] == ["backend"]
    assert [(d.name, d.args) for d in tree.directives[0].block] == [
        ("server", ["s", "1.2.3.4:80"]), ("quic-future", ["q"]), ("knob", ["1"])]


def test_lines_before_the_first_section_are_one_error_at_the_first_of_them():
    tree = parse("# hello\n  maxconn 1\nbind :80\nglobal\n  daemon\n")
    assert errors(tree) == [(2, 3, "'maxconn' is outside any section (and 1 more lines): a "
                             "configuration starts with a section keyword such as global, "
                             "defaults, frontend, backend or listen")]
    assert [d.name for d in tree.directives] == ["global"]


def test_multi_word_keywords_keep_the_first_word_as_name():
    tree = parse("backend b\n  option httpchk GET /health\n  no option forwardfor\n"
                 "  tcp-request content accept\n")
    assert [(d.name, d.args) for d in tree.directives[0].block] == [
        ("option", ["httpchk", "GET", "/health"]), ("no", ["option", "forwardfor"]),
        ("tcp-request", ["content", "accept"])]


def test_scope_lines_name_the_scope_of_the_next_sections():
    tree = parse("[agent-a]\nspoe-agent a\n  messages m\n[b]\nspoe-message m\n  args ip=src\n")
    assert tree.errors == []
    assert [d.extra.get("scope") for d in tree.directives] == ["agent-a", "b"]
    tree = parse("[]\n[a b]\n[x] y\n")
    assert [(line, column) for line, column, _ in errors(tree)] == [(1, 1), (2, 1), (3, 5)]


# --- sample expressions ---------------------------------------------------------------------------

def test_sample_expressions_with_their_spans():
    # "http-request" 3-14, "set-header" 16-25, "X-Host" 27-32, the quote 34, `%[` 35-36,
    # "req.hdr(host),lower" 37-55, `]` 56, `:` 57, `%[` 58-59, "dst_port" 60-67, `]` 68
    d = one_line('  http-request set-header X-Host "%[req.hdr(host),lower]:%[dst_port]"')
    assert [(s.arg, s.expression) for s in d.extra["samples"]] == [
        (2, "req.hdr(host),lower"), (2, "dst_port")]
    assert [where(s.span) for s in d.extra["samples"]] == [(2, 35, 2, 57), (2, 58, 2, 69)]


def test_brackets_inside_converter_arguments_do_not_end_a_sample():
    d = one_line("  http-request set-path %[path,regsub(^/[a-z]+/,/)] if x")
    assert [s.expression for s in d.extra["samples"]] == ["path,regsub(^/[a-z]+/,/)"]


def test_log_format_flags_and_literal_percent():
    d = one_line('  log-format "%{+Q}[ssl_fc] 100%% %[src" %ci')
    # %{+Q}[...] has flags; %% is a percent sign; "%[src" never closes, so it is no sample
    assert [(s.arg, s.expression) for s in d.extra["samples"]] == [(0, "ssl_fc")]
    # the quote is at 14, `%{+Q}[` 15-20, "ssl_fc" 21-26, `]` 27
    assert where(d.extra["samples"][0].span) == (2, 15, 2, 28)


# --- ACL conditions -------------------------------------------------------------------------------

def test_condition_is_an_or_of_and_groups_with_negations_and_anonymous_acls():
    line = "  use_backend m if host path || !local or { hdr(host) -i \"a b\" } !!x"
    d = one_line(line)
    condition = d.extra["condition"]
    assert condition == [
        [(False, "host"), (False, "path")],
        [(True, "local")],
        [(False, ("hdr(host)", "-i", "a b")), (False, "x")],
    ]
    assert (condition.keyword, condition.index) == ("if", 1)
    assert condition.acl_names() == ["host", "path", "local", "x"]
    # the condition's words stay in args
    assert d.args[:3] == ["m", "if", "host"]
    assert d.args[-1] == "!!x"


def test_condition_positions():
    # "http-request" 3-14, "deny" 16-19, "unless" 21-26, "!{" 28-29, "src" 31-33,
    # "10.0.0.0/8" 35-44, "}" 46, "||" 48-49, "ok" 51-52
    d = one_line("  http-request deny unless !{ src 10.0.0.0/8 } || ok")
    condition = d.extra["condition"]
    assert condition.keyword == "unless"
    assert condition.index == 1
    assert where(condition.span) == (2, 21, 2, 53)
    [[anonymous], [named]] = condition
    assert anonymous == (True, ("src", "10.0.0.0/8"))
    assert anonymous.negated and anonymous.anonymous
    assert where(anonymous.span) == (2, 28, 2, 47)
    assert where(named.span) == (2, 51, 2, 53)


def test_separated_bang_negates_the_next_term_and_empty_groups_vanish():
    condition = one_line("  redirect location / if ! a || || b ! !c").extra["condition"]
    assert condition == [[(True, "a")], [(False, "b"), (False, "c")]]


def test_the_first_if_counts_and_acl_lines_have_no_condition():
    tree = parse("frontend fe\n  acl if hdr(x) if\n  http-request set-var(txn.a) str(if) if b\n")
    acl, rule = tree.directives[0].block
    assert "condition" not in acl.extra
    assert rule.extra["condition"] == [[(False, "b")]]
    assert rule.extra["condition"].index == 2


def test_conditions_are_only_read_in_proxy_and_spoe_message_sections():
    tree = parse("global\n  x if y\nbackend b\n  x if y\nspoe-message m\n"
                 "  event on-client-session if ! { src -f /b.lst }\n")
    glob, backend, message = tree.directives
    assert "condition" not in glob.block[0].extra
    assert backend.block[0].extra["condition"] == [[(False, "y")]]
    assert message.block[0].extra["condition"] == [[(True, ("src", "-f", "/b.lst"))]]


def test_an_anonymous_acl_without_closing_brace_is_an_error():
    # "if" is at 21-22 and the "{" at 24; "}x" is not the closing "}" word
    tree = parse("frontend fe\n  http-request deny if { src 1.2.3.4 }x y\n  mode http\n")
    assert errors(tree) == [(2, 24, "missing closing '}' in the condition")]
    rule = tree.directives[0].block[0]
    assert rule.extra["condition"] == [[(False, ("src", "1.2.3.4", "}x", "y"))]]
    assert tree.directives[0].block[1].name == "mode"


# --- .if blocks -----------------------------------------------------------------------------------

def names(tree) -> list[str]:
    return [d.name for d in walk(tree.directives)]


def test_decidable_conditions_keep_or_drop_their_lines():
    tree = parse("global\n.if 1\n  a\n.else\n  b\n.endif\n.if 0x0\n  c\n.elif !0\n  d\n"
                 ".endif\n")
    assert tree.errors == []
    assert names(tree) == ["global", "a", "d"]
    assert all("if" not in d.extra for d in walk(tree.directives))


def test_undecidable_conditions_are_recorded_on_each_branch():
    text = ("global\n.if feature(QUIC)\n  a\n.elif defined(X)\n  b\n.elif feature(A) || 1\n"
            "  c\n.else\n  d\n.endif\n")
    tree = parse(text, env={"X": ""})
    assert tree.errors == []
    # defined(X) is true, so after it nothing else applies
    assert [(d.name, d.extra.get("if")) for d in walk(tree.directives)] == [
        ("global", None), ("a", ["feature(QUIC)"]), ("b", ["!(feature(QUIC))"])]
    tree = parse(text)
    assert [(d.name, d.extra.get("if")) for d in walk(tree.directives)] == [
        ("global", None), ("a", ["feature(QUIC)"]), ("c", ["!(feature(QUIC))"])]


def test_else_after_undecided_branches_carries_their_negation():
    tree = parse("global\n.if feature(A)\n  a\n.elif enabled(B)\n  b\n.else\n  c\n.endif\n")
    assert [(d.name, d.extra.get("if")) for d in walk(tree.directives)] == [
        ("global", None), ("a", ["feature(A)"]), ("b", ["!(feature(A)) && (enabled(B))"]),
        ("c", ["!(feature(A)) && !(enabled(B))"])]


def test_nested_blocks_list_their_guards_outermost_first_and_false_parents_hide_all():
    tree = parse("global\n.if feature(A)\n.if feature(B)\n  ab\n.endif\n.endif\n"
                 ".if 0\n.if 1\n  never\n.else\n  never2\n.endif\n.endif\n")
    assert tree.errors == []
    assert [(d.name, d.extra.get("if")) for d in walk(tree.directives)] == [
        ("global", None), ("ab", ["feature(A)", "feature(B)"])]


def test_if_blocks_may_span_sections():
    tree = parse("global\n.if feature(QUIC)\nfrontend quic\n  bind quic4@:443\n.endif\n"
                 "  mode http\n")
    frontend = tree.directives[1]
    assert frontend.extra["if"] == ["feature(QUIC)"]
    assert [(d.name, d.extra.get("if")) for d in frontend.block] == [
        ("bind", ["feature(QUIC)"]), ("mode", None)]


def test_version_predicates_need_a_target_version():
    text = "global\n.if version_atleast(2.5-dev0)\n  new\n.else\n  old\n.endif\n"
    assert names(parse(text, version="2.6.12")) == ["global", "new"]
    assert names(parse(text, version="2.4.22")) == ["global", "old"]
    assert names(parse(text, version="2.5-dev0")) == ["global", "new"]
    assert [d.extra.get("if") for d in walk(parse(text).directives)] == [
        None, ["version_atleast(2.5-dev0)"], ["!(version_atleast(2.5-dev0))"]]


def test_string_predicates_are_decided_unless_a_variable_is_unset():
    text = 'global\n.if streq("$SOCK",quic)\n  q\n.else\n  t\n.endif\n'
    assert names(parse(text, env={"SOCK": "quic"})) == ["global", "q"]
    assert names(parse(text, env={"SOCK": "tcp"})) == ["global", "t"]
    # unset: undecided, recorded as written
    assert [d.extra.get("if") for d in walk(parse(text).directives)] == [
        None, ["streq($SOCK,quic)"], ["!(streq($SOCK,quic))"]]
    assert names(parse('global\n.if strstr("abc",b) && strneq(a,a)\n x\n.endif\n')) == [
        "global"]


def test_dropped_lines_are_not_checked_beyond_their_words():
    tree = parse('global\n.if 0\n  .bogus\n  "" x\n.endif\n')
    assert tree.errors == []
    tree = parse("global\n.if 0\n  x 'open\n.endif\n")
    assert [(line, column) for line, column, _ in errors(tree)] == [(3, 5)]


def test_if_block_errors():
    tree = parse("global\n.if feature(A)\n  x\n")
    assert errors(tree) == [(2, 1, "this '.if' block is never closed with '.endif'")]
    tree = parse("global\n.endif\n.else\n.elif 1\n")
    assert errors(tree) == [(2, 1, "'.endif' without a matching '.if'"),
                            (3, 1, "'.else' without a matching '.if'"),
                            (4, 1, "'.elif' without a matching '.if'")]
    tree = parse("global\n.if 0\n.else\n.elif 1\n.else\n.endif x\n")
    assert errors(tree) == [(4, 1, "'.elif' after '.else' is not allowed"),
                            (5, 1, "'.else' after '.else' is not allowed"),
                            (6, 8, "unexpected argument 'x' after '.endif'")]


def test_unparsable_conditions_are_errors_pointing_into_the_condition():
    tree = parse("global\n.if nope(1)\n.endif\n.if 1 2\n.endif\n.if defined\n.endif\n"
                 ".if (1\n.endif\n")
    assert [(line, column) for line, column, _ in errors(tree)] == [
        (2, 5), (4, 7), (6, 12), (8, 7)]
    assert errors(tree)[0][2] == "unknown predicate 'nope' in the condition after '.if'"


def test_messages_and_unknown_dot_directives():
    tree = parse('.notice "starting"\nglobal\n  .warning "w"\n  .diag a b\n  .include x\n')
    assert [(d.name, d.args) for d in walk(tree.directives)] == [
        (".notice", ["starting"]), ("global", []), (".warning", ["w"])]
    assert [(line, column) for line, column, _ in errors(tree)] == [(4, 11), (5, 3)]
    assert "unknown directive '.include'" in tree.errors[1].message


# --- file-level errors ----------------------------------------------------------------------------

def test_missing_line_feed_at_the_end_is_an_error_like_in_haproxy():
    tree = parse("global\n  maxconn 1")
    assert errors(tree) == [(2, 12, "the last line has no line feed at its end (haproxy "
                             "refuses such a file as possibly truncated)")]
    assert find(tree, "maxconn").args == ["1"]


def test_nul_character_is_an_error():
    tree = parse("global\n  maxconn\x001\n  daemon\n")
    assert [(line, column) for line, column, _ in errors(tree)] == [(2, 10)]
    assert names(tree) == ["global", "daemon"]


def test_empty_input():
    tree = parse("")
    assert (tree.directives, tree.errors, tree.server, tree.files) == ([], [], "haproxy",
                                                                        ["t.cfg"])


# --- several files --------------------------------------------------------------------------------

def test_files_are_read_in_the_order_given(tmp_path):
    (tmp_path / "a.cfg").write_text("global\n  maxconn 1\n")
    (tmp_path / "b.cfg").write_text("frontend fe\n  bind :80\n")
    tree = load([str(tmp_path / "b.cfg"), str(tmp_path / "a.cfg")], env={})
    assert [d.name for d in tree.directives] == ["frontend", "global"]
    assert tree.files == [str(tmp_path / "b.cfg"), str(tmp_path / "a.cfg")]
    assert tree.root == str(tmp_path / "b.cfg")
    assert tree.directives[1].span.path == str(tmp_path / "a.cfg")


def test_each_file_starts_outside_any_section(tmp_path):
    (tmp_path / "a.cfg").write_text("backend b\n")
    (tmp_path / "b.cfg").write_text("  server s 1.2.3.4:80\n.if 1\n")
    tree = load([str(tmp_path / "a.cfg"), str(tmp_path / "b.cfg")], env={})
    assert [(e.path, e.line, e.column) for e in tree.errors] == [
        (str(tmp_path / "b.cfg"), 1, 3), (str(tmp_path / "b.cfg"), 2, 1)]


def test_a_directory_means_its_cfg_files_in_lexical_order():
    tree = load(str(DATA / "conf.d"), env={})
    assert tree.errors == []
    assert [Path(f).name for f in tree.files] == ["10-global.cfg", "20-frontend.cfg",
                                                  "30-backend.cfg", "Z-extra.cfg"]
    assert [d.name for d in tree.directives] == ["global", "frontend", "backend", "backend"]


def test_prefix_resolves_relative_paths_and_missing_files_are_errors():
    tree = load(["conf.d/10-global.cfg", "nope.cfg"], prefix=str(DATA), env={})
    assert [d.name for d in tree.directives] == ["global"]
    assert tree.files == [str(DATA / "conf.d" / "10-global.cfg")]
    assert [e.message for e in tree.errors] == [
        f"cannot read {DATA / 'nope.cfg'}: No such file or directory"]


def test_a_directory_without_cfg_files_is_an_error(tmp_path):
    (tmp_path / "notes.txt").write_text("global\n")
    tree = load(str(tmp_path))
    assert [e.message for e in tree.errors] == [
        f"no configuration file (*.cfg) in directory {tmp_path}"]


# --- detection -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, path, expected", [
    ("", "/etc/haproxy/haproxy.cfg", True),
    ("", "/etc/haproxy/haproxy-matrix.cfg", True),
    ("global\n    daemon\nfrontend web\n    bind :443\n", "site.conf", True),
    ("defaults from base\n    mode http\n", "x", True),
    ("server {\n    listen 80;\n    location / { return 200; }\n}\n", "nginx.conf", False),
    ("<VirtualHost *:443>\n    ServerName m\n</VirtualHost>\n", "a.conf", False),
    ("resolvers 8.8.8.8 8.8.4.4\n", "Caddyfile", False),
    ("example.com {\n    reverse_proxy /_matrix/* localhost:8008\n}\n", "Caddyfile", False),
])
def test_looks_like_haproxy(text, path, expected):
    assert looks_like_haproxy(text, path) is expected


# --- startup cost ---------------------------------------------------------------------------------

def test_lark_is_imported_only_when_a_file_is_parsed():
    code = ("import sys, linter.haproxy.parse as p; assert 'lark' not in sys.modules; "
            "p.parse_string('global\\n'); assert 'lark' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_parser_is_built_once():
    from linter.haproxy import grammar
    assert grammar.parser() is grammar.parser()
