"""The nginx front end on hostile and broken input: a clear error with file:line:column, never a
traceback, a hang or unbounded memory; and what `nginx -t` refuses is never reported clean.

Each test is a crash signature or a fail-open case found by hand or by comparing with the real
`nginx -t` (1.22), kept at the place it was fixed:
- build.py / levels.py: directives with missing arguments, numbers `str.isdigit` accepts but
  `int` does not (`4²3`), a regex Python cannot compile;
- sources.py / parse.py / includes.py: every file read through `linter.inputs.read_config` on
  one budget per load; a directory matched by an include is an error, as in nginx;
- refusals.py: what nginx refuses that crossplane's analyzer does not see (`map { x { } }`,
  `listen 4²3`, `location /b` inside `location /a`, ...);
- includes.py / structure.py: nesting bounded in the expanded tree (deep includes), so every
  recursive pass (and the shared `walk`) stays shallow;
- lexer.py / sniff.py: linear time and memory on one huge line, a huge word or string, a Lua
  body full of broken strings.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tracemalloc
from pathlib import Path

import pytest

from linter.engine import lint
from linter.nginx.build import build
from linter.nginx.lexer import tokenize
from linter.nginx.parse import MAX_ERRORS_PER_FILE, load, parse_string
from linter.nginx.sniff import looks_like_nginx
from linter.nginx.structure import MAX_NESTING
from linter.syntax import LoadOptions, walk

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def write(path: Path, text, mode: str = "w") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, mode) as f:
        f.write(text)
    return str(path)


def errors(tree) -> list:
    return [(e.line, e.column, e.message) for e in tree.errors]


def depth(directives, level: int = 1) -> int:
    """How deep blocks nest (iteratively: this helper must not recurse itself)."""
    deepest, stack = 0, [(d, level) for d in directives]
    while stack:
        d, n = stack.pop()
        deepest = max(deepest, n)
        stack.extend((c, n + 1) for c in d.block or ())
    return deepest


def nginx_refuses(tmp_path: Path, http_text: str) -> str:
    """`nginx -t`'s error for `http_text` in an http block ('' when it accepts it)."""
    root = tmp_path / "nginx-t"
    (root / "logs").mkdir(parents=True, exist_ok=True)
    write(root / "case.conf", http_text + "\n")
    write(root / "nginx.conf", "events {}\nhttp {\ninclude case.conf;\n}\n")
    done = subprocess.run([NGINX, "-t", "-q", "-p", str(root), "-c", str(root / "nginx.conf"),
                           "-g", f"error_log stderr; pid {root}/nginx.pid;"],
                          capture_output=True, text=True, timeout=30)
    if done.returncode == 0:
        return ""
    return next((line for line in done.stderr.splitlines() if "[emerg]" in line), done.stderr)


# --- 1. directives with missing or odd arguments: errors and a model ----------------------

def test_root_without_an_argument_is_an_error_and_the_model_still_builds():
    tree = parse_string("server { location / { root; } }", "site.conf")
    assert errors(tree) == [(1, 23, 'invalid number of arguments in "root" directive')]
    config = build(tree)      # IndexError in _Builder._action before
    [route] = config.sites[0].routes
    assert route.action.kind == "none"   # `root;` sets nothing (nginx refuses it)


@pytest.mark.parametrize("directive", [
    "root;", "alias;", "listen;", "return;", "proxy_pass;", "add_header;", "add_header X;",
    "proxy_set_header X;", "proxy_hide_header;", "rewrite;", "rewrite ^;", "set;", "set $a;",
    "client_max_body_size;", "default_type;", "auth_basic;", "auth_request;",
    "proxy_http_version;", "add_header_inherit;", "more_set_headers -s;", "try_files;",
    "allow;", "deny;", "server_name;", "ssl;", "error_page;",
])
@pytest.mark.parametrize("where", ["server { %s location / { } }", "server { location / { %s } }",
                                   "server { location / { if ($uri) { %s } } }",
                                   "http { %s server { location / { } } }"])
def test_directives_with_missing_arguments_never_crash_the_builder(directive, where):
    tree = parse_string(where % directive, "site.conf")
    if not directive.startswith(("add_header_inherit", "more_")):  # not known to crossplane
        assert tree.errors, "nginx -t refuses every one of these"
    build(tree)


def test_a_regex_python_cannot_compile_is_an_unknown_condition_not_a_crash():
    tree = parse_string('server { location / { if ($request_method ~ "(") { return 403; } } }',
                        "site.conf")
    config = build(tree)     # re.error in _condition before
    variant = [r for r in config.sites[0].routes if r.condition is not None][0]
    assert variant.condition.methods is None


# --- 2. numbers: ASCII digits only ----------------------------------------------------------

def test_listen_with_a_superscript_digit_is_refused_like_nginx_and_does_not_crash():
    tree = parse_string("server { listen 4²3; }", "site.conf")
    assert errors(tree) == [(1, 17, 'host not found in "4²3" of the "listen" directive')]
    [site] = build(tree).sites      # ValueError: int('4²3') before
    assert [(l.port, l.address) for l in site.listens] == [(80, "4²3")]


@pytest.mark.parametrize("text", [
    "server { listen [::1]:4²3; }", "server { listen *:4²3; }", "server { return 2²0; }",
    "server { location / { return 4²3 x; } }",
    'server { location / { more_set_headers -s "2²0 404" "X: y"; } }',
])
def test_superscript_digits_never_reach_int(text):
    build(parse_string(text, "site.conf"))


# --- 3. reading files: read_config, one budget per load --------------------------------------

def test_a_fifo_entry_or_include_is_refused_without_waiting(tmp_path):
    os.mkfifo(tmp_path / "pipe.conf")
    tree = load(str(tmp_path / "pipe.conf"))
    assert [e.message for e in tree.errors] == [
        f"refusing to read {tmp_path / 'pipe.conf'}: not a regular file (a FIFO)"]
    conf = write(tmp_path / "nginx.conf", "http {\n    include pipe.conf;\n}\n")
    assert [(e.path, e.line, e.column) for e in load(conf).errors] == [(conf, 2, 5)]


@pytest.mark.parametrize("target, message", [
    ("/dev/zero", "refusing to read /dev/zero: it is a system file (/dev/zero), not a configuration"),
    ("/proc/self/environ", "refusing to read /proc/self/environ: it is a system file"),
    ("/usr/", "cannot read /usr: it is a directory"),
])
def test_system_files_and_directories_named_by_an_include_are_errors_at_the_include(tmp_path, target,
                                                                                    message):
    conf = write(tmp_path / "site.conf", f"server {{\n  listen 80;\n  include {target};\n}}\n")
    tree = load(conf)
    [error] = tree.errors
    assert (error.path, error.line, error.column) == (conf, 3, 3)
    assert error.message.startswith(message)


def test_a_glob_matching_a_directory_is_an_error_like_nginx_and_the_files_are_included(tmp_path):
    # nginx: pread() "conf.d/old" failed (21: Is a directory)
    write(tmp_path / "conf.d" / "a.conf", "server { listen 8080; }\n")
    (tmp_path / "conf.d" / "old").mkdir()
    conf = write(tmp_path / "nginx.conf", "events {}\nhttp {\n    include conf.d/*;\n}\n")
    tree = load(conf)
    assert errors(tree) == [(3, 5, f"cannot read {tmp_path / 'conf.d' / 'old'}: it is a directory")]
    assert [d.name for d in walk(tree.directives)].count("listen") == 1


def test_binary_and_utf16_includes_are_errors_at_the_include_naming_the_file(tmp_path):
    nul = write(tmp_path / "nul.conf", b"root /x;\n\0\n", "wb")
    utf16 = write(tmp_path / "u16.conf", "root /x;\n".encode("utf-16"), "wb")
    conf = write(tmp_path / "site.conf", "server {\n  include nul.conf;\n  include u16.conf;\n}\n")
    tree = load(conf)
    assert errors(tree) == [
        (2, 3, f"{nul}:2: binary data (a NUL byte): this is not a configuration file"),
        (3, 3, f"{utf16} is UTF-16 text; the server reads configuration as UTF-8 or ASCII: "
               f"save it as UTF-8"),
    ]


def test_size_limits_come_from_the_load_options(tmp_path):
    write(tmp_path / "big.conf", "# padding\n" * 200)
    conf = write(tmp_path / "site.conf", "server {\n  include big.conf;\n}\n")
    tree = load(conf, load_options=LoadOptions(max_file_bytes=1000))
    assert errors(tree) == [(2, 3, f"{tmp_path / 'big.conf'} is 2000 bytes, over the 1000 bytes "
                                   f"limit for one file (--max-file-size)")]
    tree = load(conf, load_options=LoadOptions(max_total_bytes=1500))
    assert [e.line for e in tree.errors] == [2]
    assert "would take this configuration over" in tree.errors[0].message
    assert load(conf).errors == []   # no options: the defaults (4 MiB, 8 MiB)


def test_an_include_repeated_exponentially_is_bounded_by_the_total_budget(tmp_path):
    # Each file includes the next twice, 40 deep: 2**40 inclusions (nginx never finishes).
    for i in range(40):
        write(tmp_path / f"f{i}.conf", f"include f{i + 1}.conf; include f{i + 1}.conf;\n")
    write(tmp_path / "f40.conf", "add_header X y;\n")
    conf = write(tmp_path / "nginx.conf", "http { server { location / { include f0.conf; } } }\n")
    tree = load(conf, load_options=LoadOptions(max_total_bytes=64 * 1024))
    [error] = tree.errors
    assert "once more would take this configuration over" in error.message
    assert error.path.endswith(".conf") and error.line == 1


# --- 4. blocks and values nginx refuses that crossplane does not see -------------------------

REFUSED = [
    # (text in an http block, our message, line, column); nginx's message is the same.
    ("map $uri $b { x { } }", 'unexpected "{"', 1, 17),
    ("map $uri $b {\n  default 0;\n  include;\n}", "invalid number of the map parameters", 3, 3),
    ("map $uri $b { x; }", "invalid number of the map parameters", 1, 15),
    ("types { text/html html; x { } }", 'unexpected "{"', 1, 27),
    ("types { include; }", 'invalid number of arguments in "include" directive', 1, 9),
    ("geo $a { x { } }", 'unexpected "{"', 1, 12),
    ("geo $a { default; }", "invalid number of the geo parameters", 1, 10),
    ("split_clients $remote_addr $b { 50% x { } }", 'unexpected "{"', 1, 39),
    ("charset_map a b { 41; }", "invalid parameters number", 1, 19),
    ("server { listen 4²3; }", 'host not found in "4²3" of the "listen" directive', 1, 17),
    ("server { listen 99999; }", 'invalid port in "99999" of the "listen" directive', 1, 17),
    ("server { listen 127.0.0.1:; }", 'invalid port in "127.0.0.1:" of the "listen" directive', 1, 17),
    ("server { listen [::1]:0; }", 'invalid port in "[::1]:0" of the "listen" directive', 1, 17),
    ("server { listen [zz]:80; }", 'invalid IPv6 address in "[zz]:80" of the "listen" directive', 1, 17),
    ("server { listen :80; }", 'no host in ":80" of the "listen" directive', 1, 17),
    ("server { listen unix:; }", 'no path in the unix domain socket in "unix:" of the "listen" '
                                 "directive", 1, 17),
    ("server { location / { if $uri { } } }", 'invalid condition "$uri"', 1, 26),
    ("server { location / { if ($uri { } } }", 'invalid condition "$uri"', 1, 26),
    ("server { location / { if (1) { } } }", 'invalid condition "1"', 1, 27),
    ("server { location / { if ($uri x) { } } }", 'invalid condition "$uri"', 1, 27),
    ("server { location / { if ($uri == x) { } } }", 'unexpected "==" in condition', 1, 32),
    ("server { location / { if (-z $uri) { } } }", 'invalid condition "-z"', 1, 27),
    ('server { location / { if ("$uri") { } } }', 'invalid condition ""$uri""', 1, 27),
    ("server { return /x; }", 'invalid return code "/x"', 1, 17),
    ("server { return 1000; }", 'invalid return code "1000"', 1, 17),
    ("server { location foo /x { } }", 'invalid location modifier "foo"', 1, 19),
    ("server { location /a { location /b { } } }", 'location "/b" is outside location "/a"', 1, 24),
    ("server { location = /a { location /a { } } }",
     'location "/a" cannot be inside the exact location "/a"', 1, 26),
    ("server { location @a { location /b { } } }",
     'location "/b" cannot be inside the named location "@a"', 1, 24),
    ("server { location / { location @n { } } }",
     'named location "@n" can be on the server level only', 1, 23),
    ("server { location / { if ($uri) { if ($uri) { } } } }", '"if" directive is not allowed here',
     1, 35),
]


@pytest.mark.parametrize("text, message, line, column", REFUSED)
def test_what_nginx_refuses_is_an_error_at_its_position(text, message, line, column):
    tree = parse_string(text, "case.conf")
    assert (line, column, message) in errors(tree), errors(tree)
    build(tree)


@pytest.mark.parametrize("text", [
    "map $uri $b { hostnames; volatile; default 1; include maps.conf; }",
    "types { text/html html htm; text/plain; }", "geo $a { ranges; default 1; }",
    "split_clients $remote_addr $b { 50% a; * b; }",
    "server { listen 80; listen [::]:443 ssl; listen *:8448; listen localhost:8008; listen 65535; }",
    "server { listen unix:/run/nginx.sock; listen 08080; }",
    "server { location / { if ($uri) { } if ( $uri ) { } if ($a = b) { } if ($a !~* \"x y\") { } "
    "if (-f $uri) { } if (!-e $uri) { } if \"($uri)\" { } } }",
    "server { return 0200 x; return https://example.org; return $scheme://x; return 444; }",
    "server { location /a { location /a/b { } location ~ x { } location = /ab { } } "
    "location ^~ /c { location ^~ /c/d { } } location @n { } location =/x { } }",
    "server { listen ${PORT}; location / { return ${CODE}; } }",   # an envsubst template
])
def test_what_nginx_accepts_is_not_refused(text):
    assert parse_string(text, "case.conf").errors == []


@pytest.mark.skipif(NGINX is None, reason="no nginx binary to compare with")
@pytest.mark.parametrize("text, message, line, column", REFUSED)
def test_nginx_itself_refuses_each_case_with_the_same_message(tmp_path, text, message, line, column):
    refusal = nginx_refuses(tmp_path, text)
    assert message in refusal


# --- 5. deep nesting: bounded everywhere ----------------------------------------------------

def test_ten_thousand_location_openers(tmp_path):
    conf = write(tmp_path / "deep.conf", "server { " + "location / { " * 10_000 + "\n")
    tree = load(conf)
    assert [m for _, _, m in errors(tree)] == [
        f"blocks are nested more than {MAX_NESTING} deep; the contents of this one are ignored",
        'unexpected end of file: the "location" block opened here is never closed (missing "}")',
    ]
    assert depth(tree.directives) == MAX_NESTING + 1
    assert sum(1 for _ in walk(tree.directives)) == MAX_NESTING + 1
    build(tree)
    report = lint([conf], server="nginx")
    assert report.errors


def test_ten_thousand_nested_ifs_are_refused_like_nginx():
    text = "server { location / { " + "if ($uri) { " * 10_000 + "}" * 10_000 + " } }"
    tree = parse_string(text, "deep.conf")
    # nginx: "if" directive is not allowed here (the second `if`)
    assert errors(tree)[0] == (1, 35, '"if" directive is not allowed here')
    assert depth(tree.directives) <= MAX_NESTING + 1
    build(tree)


def test_nesting_through_includes_is_bounded_in_the_expanded_tree(tmp_path):
    # 20 files, each 90 blocks deep around an include of the next: 1,800 levels once expanded
    # (RecursionError in Expander._expand before).
    for i in range(20):
        write(tmp_path / f"f{i}.conf",
              "location / { " * 90 + f"include f{i + 1}.conf;" + " }" * 90 + "\n")
    write(tmp_path / "f20.conf", "root /x;\n")
    conf = write(tmp_path / "nginx.conf", "http { server { include f0.conf; } }\n")
    tree = load(conf)
    [error] = tree.errors
    assert error.message.startswith(f"blocks are nested more than {MAX_NESTING} deep (counting")
    assert (error.path, error.line) == (str(tmp_path / "f1.conf"), 1)
    assert depth(tree.directives) <= MAX_NESTING + 1
    build(tree)
    lint([conf], server="nginx")


# --- 6. templates ---------------------------------------------------------------------------

JINJA = """server {
    listen {{ port }} ssl;
    server_name {{ server_name }};
    location /static {
        root {{ nginx_root }};
    }
    location /_matrix {
        {% for h in headers %}add_header {{ h.name }} {{ h.value }};{% endfor %}
        proxy_pass http://{{ upstream }}:8008;
    }
}
"""


def test_a_jinja_template_gives_errors_or_a_model_never_an_exception(tmp_path):
    path = write(tmp_path / "templates" / "matrix.conf.j2", JINJA)
    tree = load(path)
    assert tree.errors
    build(tree)                                   # IndexError (root with no argument) before
    assert lint([path], server="nginx").errors
    lint([str(tmp_path / "templates")])           # a directory of templates: no exception
    lint([str(tmp_path / "templates")], server="nginx")


# --- 7. huge input: linear time and memory --------------------------------------------------

UNIT = "server { listen 443 ssl; location /_matrix { proxy_pass http://127.0.0.1:8008/x; } } "


def test_a_one_megabyte_one_line_configuration_loads_and_builds(tmp_path):
    conf = write(tmp_path / "one-line.conf", UNIT * (1_000_000 // len(UNIT) + 1) + "\n")
    tree = load(conf)
    assert tree.errors == []
    assert len(build(tree).sites) == 1_000_000 // len(UNIT) + 1


@pytest.mark.parametrize("text,too_long", [
    ("a " + "x" * 1_000_000 + ";", True),                          # one word
    ('a "' + "x" * 1_000_000 + '";', True),                        # one quoted string
    ('a "' + "\\\\" * 500_000 + '";', True),                       # a string of escapes
    ("a " + "\\x" * 500_000 + ";", True),                          # a word of escapes
    ("a " + " " * 1_000_000 + ";", False),
], ids=["word", "string", "string-of-escapes", "word-of-escapes", "spaces"])
def test_lexing_a_megabyte_token_takes_linear_memory(text, too_long):
    # Python's re kept ~300 bytes of backtracking state per character of a word or string.
    tracemalloc.start()
    try:
        lexed = tokenize(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The token is lexed whole (so positions after it stay right), and refused as nginx does.
    long_ones = [e for e in lexed.errors if e.message.startswith("too long parameter")]
    assert [(e.line, e.column) for e in long_ones] == ([(1, 3)] if too_long else [])
    assert long_ones == lexed.errors
    assert peak < 20 * len(text)


def test_a_huge_word_is_not_copied_into_error_messages():
    tree = parse_string("x" * 1_000_000, "word.conf")
    assert all(len(e.message) < 200 for e in tree.errors)


def test_a_lua_body_full_of_broken_strings_is_lexed():
    # Every `"` starts a string that never closes: each was rescanned to the end of the line (34 s
    # for 64 KB). No timed assertion here (speed belongs to bench/): a regression shows as a hang
    # in the fuzzer's 10 s limit.
    for body in ('"\\' * 100_000, "'\\" * 100_000):
        lexed = tokenize("location / { content_by_lua_block { x = " + body + " } }")
        assert [t.kind for t in lexed.tokens][-2:] == ["lua", "}"]


@pytest.mark.parametrize("text", [
    "location" + " " * 100_000 + "x\n",                    # 37 s at 4,000 spaces before
    "Abc" + "a" * 100_000 + "\n",
    "if (" + ")" * 100_000 + "\n",
], ids=["location-and-spaces", "capitalised", "if-parentheses"])
def test_sniffing_pathological_lines_answers(text):
    # These were cubic and quadratic (37 s at 4,000 spaces). None is nginx: no directive ends
    # with `;` or opens a block.
    assert looks_like_nginx(text, "x.conf") is False


def test_syntax_errors_are_capped_per_file():
    # A file of 100,000 `;` was 100,000 errors for the engine to sort, deduplicate and print.
    tree = parse_string(";" * 100_000, "semicolons.conf")
    assert len(tree.errors) == MAX_ERRORS_PER_FILE + 1
    last = tree.errors[-1]
    assert last.message == (f"{100_000 - MAX_ERRORS_PER_FILE} more errors in this file "
                            f"(only the first {MAX_ERRORS_PER_FILE} are reported)")
    assert (last.line, last.column) == (1, MAX_ERRORS_PER_FILE + 1)
