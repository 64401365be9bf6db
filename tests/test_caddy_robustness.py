"""Hostile and broken Caddyfiles: a clear error with file:line:column, never a traceback, a hang or
unbounded memory, and never "clean" for a file `caddy adapt` refuses.

Each test is a signature found by hand or by fuzzing, kept at the place it was fixed. Where the
real server matters, `caddy adapt` (2.11) is asked too when it is installed.
"""
import os
import shutil
import subprocess
import textwrap
import time

import pytest

from linter.caddy import refusals
from linter.caddy.parse import MAX_NESTING, load, parse_string
from linter.engine import lint
from linter.syntax import LoadOptions

LINT = LoadOptions()
HAVE_CADDY = shutil.which("caddy") is not None


def write(path, text, mode="w"):
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def linted(path):
    """lint() in-process: no internal error (a crash) for this file, and its report."""
    report = lint([str(path)], server="caddy")
    assert report.internal == [], [i.summary for i in report.internal]
    return report


def where(error):
    return os.path.basename(error.path), error.line, error.column


def caddy_refuses(path) -> str:
    """The error `caddy adapt` gives for the file ('' when it adapts it)."""
    result = subprocess.run(["caddy", "adapt", "--config", str(path), "--adapter", "caddyfile"],
                            capture_output=True, text=True, timeout=60,
                            env={"PATH": os.environ.get("PATH", ""), "HOME": str(path.parent)})
    if result.returncode == 0:
        return ""
    return result.stderr


# ---- reading: the shared reader, for the entry file and every import ----------------------------

def test_import_of_dev_zero_is_refused_at_the_import(tmp_path):
    main = write(tmp_path / "Caddyfile", "a.example {\n\timport /dev/zero\n}\n")
    start = time.monotonic()
    tree = load(str(main), load_options=LINT)
    assert time.monotonic() - start < 5        # it read 1 GB a second, without end
    err, = tree.errors
    assert where(err) == ("Caddyfile", 2, 9)
    assert "/dev/zero" in err.message and "system file" in err.message


def test_import_of_a_fifo_is_refused_not_waited_for(tmp_path):
    write(tmp_path / "Caddyfile", "a.example {\n\timport pipe\n}\n")
    os.mkfifo(tmp_path / "pipe")
    err, = load(str(tmp_path / "Caddyfile"), load_options=LINT).errors
    assert where(err) == ("Caddyfile", 2, 9) and "FIFO" in err.message


def test_a_fifo_as_the_caddyfile_itself_is_refused(tmp_path):
    os.mkfifo(tmp_path / "Caddyfile")
    err, = load(str(tmp_path / "Caddyfile")).errors
    assert "FIFO" in err.message


def test_binary_utf16_and_oversize_imports_are_errors_at_the_import(tmp_path):
    write(tmp_path / "bin.caddy", b"respond 200\n\x00\x01\x02\n", "wb")
    write(tmp_path / "u16.caddy", "respond 200\n".encode("utf-16"), "wb")
    write(tmp_path / "big.caddy", "respond 200\n" * 100)
    main = write(tmp_path / "Caddyfile", """
        a.example {
        	import bin.caddy
        	import u16.caddy
        	import big.caddy
        }
        """)
    errors = load(str(main), load_options=LoadOptions(max_file_bytes=500)).errors
    assert [where(e) for e in errors] == [("Caddyfile", 2, 9), ("Caddyfile", 3, 9),
                                          ("Caddyfile", 4, 9)]
    assert "bin.caddy:2: binary data" in errors[0].message
    assert "UTF-16" in errors[1].message
    assert "--max-file-size" in errors[2].message


def test_one_budget_for_the_caddyfile_and_all_it_imports(tmp_path):
    for name in "abc":
        write(tmp_path / f"{name}.caddy", "respond 200\n" * 20)     # 240 bytes each
    main = write(tmp_path / "Caddyfile", "a.example {\n\timport *.caddy\n}\n")
    err, = load(str(main), load_options=LoadOptions(max_total_bytes=600)).errors
    assert where(err) == ("Caddyfile", 2, 9) and "--max-total-size" in err.message


@pytest.mark.parametrize("text", [b"a.example {\n\trespond 200\x00\n}\n",
                                  "a.example {\n\trespond 200\n}\n".encode("utf-16")])
def test_binary_or_utf16_caddyfile_is_an_error_not_clean(tmp_path, text):
    path = write(tmp_path / "Caddyfile", text, "wb")
    report = linted(path)
    assert report.errors and report.errors[0].path == str(path)
    if HAVE_CADDY and text.startswith(b"\xff\xfe"):
        assert caddy_refuses(path)


def test_a_file_outside_the_tree_that_is_no_caddyfile_is_an_error_and_not_quoted(tmp_path):
    secret = write(tmp_path / "etc" / "shadow", "root:$6$s3cr3th4sh:19000:0:99999:7:::\n"
                                                "daemon:*:19000:0:99999:7:::\n")
    main = write(tmp_path / "site" / "Caddyfile", f"a.example {{\n\timport {secret}\n}}\n")
    report = linted(main)
    assert report.errors, "a file Caddy refuses was reported clean"
    assert all("s3cr3t" not in str(e) for e in report.errors)
    for text in (f"a.example {{\n\timport {secret}\n}}\n", f"import {secret}\n"):
        tree = parse_string(text, str(main), env={})
        assert tree.errors and str(secret) in tree.outside
        assert all("s3cr3t" not in e.message for e in tree.errors)


@pytest.mark.skipif(not os.access("/etc/shadow", os.R_OK), reason="/etc/shadow not readable here")
def test_import_of_etc_shadow_is_not_clean(tmp_path):
    main = write(tmp_path / "Caddyfile", "a.example {\n\timport /etc/shadow\n}\n")
    assert linted(main).errors


def test_a_symlink_loop_under_a_glob_is_a_cycle_not_an_endless_walk(tmp_path):
    write(tmp_path / "inc" / "x.caddy", "respond 200\nimport loop/*.caddy\n")
    os.symlink(".", tmp_path / "inc" / "loop")
    main = write(tmp_path / "Caddyfile", "a.example {\n\timport inc/*.caddy\n}\n")
    err, = load(str(main), load_options=LINT).errors
    assert "cycle" in err.message and where(err) == ("x.caddy", 2, 8)


# ---- crashes ----------------------------------------------------------------------------------

def test_two_php_fastcgi_in_one_site_are_sorted_like_caddy_not_a_crash(tmp_path):
    # order.py compared a php_fastcgi value (a list of routes) as a route: AttributeError
    main = write(tmp_path / "Caddyfile", """
        example.com {
        	php_fastcgi localhost:9000
        	php_fastcgi localhost:9001
        	php_fastcgi /x* localhost:9002
        }
        """)
    assert linted(main).errors == []
    if HAVE_CADDY:
        assert caddy_refuses(main) == ""


NESTINGS = {
    "route": lambda n: "example.com {\n" + "route {\n" * n + "respond 200\n" + "}\n" * n + "}\n",
    "handle": lambda n: "example.com {\n" + "handle /a* {\n" * n + "reverse_proxy x:1\n" + "}\n" * n + "}\n",
    "unclosed": lambda n: "example.com {\n" + "route {\n" * n,
    "global": lambda n: "{\n" + "servers {\n" * n + "}\n" * n + "}\nexample.com {\n}\n",
    "matcher": lambda n: "example.com {\n@m {\n" + "not {\n" * n + "path /x\n" + "}\n" * n + "}\nrespond @m 200\n}\n",
    "reverse_proxy": lambda n: ("example.com {\n" + "reverse_proxy x {\nhandle_response {\n" * n
                                + "respond 200\n" + "}\n}\n" * n + "}\n"),
}


@pytest.mark.parametrize("kind", sorted(NESTINGS))
def test_ten_thousand_nested_blocks_are_one_clear_error(tmp_path, kind):
    main = write(tmp_path / "Caddyfile", NESTINGS[kind](10_000))
    report = linted(main)                      # RecursionError at 400 levels before
    err, = report.errors
    assert f"nested more than {MAX_NESTING} deep" in err.message
    assert err.path == str(main) and err.line == MAX_NESTING + 1 and err.column > 0


def test_blocks_as_deep_as_allowed_still_lint(tmp_path):
    main = write(tmp_path / "Caddyfile", NESTINGS["route"](MAX_NESTING - 1))
    assert linted(main).errors == []


def test_a_loose_caddy1_tree_nested_ten_thousand_deep_is_no_recursion(tmp_path):
    # the grammar refuses it; the Caddy 1 check walks a forgiving tree of it, recursively before
    main = write(tmp_path / "Caddyfile", "example.com\n" + "route {\n" * 10_000 + "transparent\n")
    err, = linted(main).errors
    assert err.path == str(main) and err.line > 0


def test_snippets_importing_each_other_ten_thousand_deep(tmp_path):
    text = "(s0) {\n\trespond 200\n}\n" + "".join(
        f"(s{i}) {{\n\timport s{i - 1}\n}}\n" for i in range(1, 10_000)) + "example.com {\n\timport s9999\n}\n"
    main = write(tmp_path / "Caddyfile", text)
    start = time.monotonic()
    err, = linted(main).errors
    assert time.monotonic() - start < 30       # 15 s before (the chain was rebuilt per import)
    assert "imports nested more than 100 deep" in err.message and err.line > 0


def test_snippets_that_double_at_every_level_stop_early(tmp_path):
    text = "(s0) {\n\theader X 1\n}\n" + "".join(
        f"(s{i}) {{\n\timport s{i - 1}\n\timport s{i - 1}\n\timport s{i - 1}\n}}\n" for i in range(1, 30))
    main = write(tmp_path / "Caddyfile", text + "example.com {\n\timport s29\n}\n")
    start = time.monotonic()
    err, = linted(main).errors
    assert time.monotonic() - start < 30       # minutes before: 3**29 imports
    assert "imports" in err.message and err.path == str(main)


def test_many_imports_of_a_snippet_take_linear_time(tmp_path):
    # each import spliced its tokens into one list: 20,000 imports took 12 s, and 100 imports in
    # a snippet imported 1,000 times (100,000 splices of 300,000 tokens) 528 s
    main = write(tmp_path / "Caddyfile", "(s) {\n\trespond 200\n}\nexample.com {\n"
                 + "\timport s\n" * 15_000 + "}\n")
    start = time.monotonic()
    tree = load(str(main), load_options=LINT)
    assert tree.errors == [] and len(tree.directives[0].block) == 15_000
    main = write(tmp_path / "Caddyfile", "(s) {\n\theader a b\n}\n(t) {\n" + "\timport s\n" * 100
                 + "}\nexample.com {\n" + "\timport t\n" * 1000 + "}\n")
    err, = load(str(main), load_options=LINT).errors
    assert "imports in all" in err.message and where(err) == ("Caddyfile", 6, 2)
    assert time.monotonic() - start < 30


def test_a_thousand_php_fastcgi_lines_do_not_take_minutes(tmp_path):
    # every undecided matcher was compared with every other one (dataclass ==) on each walk
    main = write(tmp_path / "Caddyfile", "example.com {\n" + "\tphp_fastcgi unix//run/php.sock\n" * 1000 + "}\n")
    start = time.monotonic()
    linted(main)
    assert time.monotonic() - start < 60


@pytest.mark.parametrize("text", [
    "{\n\thttp_port 4²3\n\thttps_port ①\n}\nexample.com {\n\trespond 200\n}\n",
    "example.com:4²3 {\n\trespond 4²3\n}\n",
    "example.com {\n\trespond \"x\" 4²3\n\terror 4²3\n\tredir /x 4²3\n}\n",
    "example.com {\n\treverse_proxy x:1\n\thandle_errors 4²3 5²xx {\n\t\trespond 200\n\t}\n}\n",
    "example.com {\n\treverse_proxy x:1 {\n\t\t@e status 4²3\n\t\thandle_response @e {\n\t\t\trespond 1\n\t\t}\n\t}\n}\n",
    "example.com {\n\trequest_body {\n\t\tmax_size 1²MB\n\t}\n\treverse_proxy x:1\n}\n",
    "example.com {\n\trespond 99999999999999999999999999 999999999999999999999999\n}\n",
    "{\n\thttp_port HUGE\n}\nexample.com {\n\trespond HUGE\n\terror HUGE\n\tredir /x HUGE\n}\n",
    "example.com {\n\trequest_body {\n\t\tmax_size HUGEMB\n\t}\n\treverse_proxy x:1 {\n\t\t@e status HUGE\n"
    "\t\thandle_response @e {\n\t\t\trespond 1\n\t\t}\n\t}\n\thandle_errors HUGE {\n\t\trespond 1 HUGE\n\t}\n}\n",
    "(s) {\n\trespond {args[HUGE]} {args[HUGE:]}\n}\nexample.com {\n\timport s a b\n}\n",
])
def test_unicode_digits_and_huge_numbers_are_no_crash(tmp_path, text):
    # str.isdigit() takes "²" and "①", which int() refuses; int() refuses over 4300 digits
    linted(write(tmp_path / "Caddyfile", text.replace("HUGE", "9" * 5000)))


def test_a_port_past_64_bits_is_out_of_range_not_a_crash(tmp_path):
    main = write(tmp_path / "Caddyfile", f"example.com:{'9' * 5000} {{\n\trespond 200\n}}\n")
    err, = linted(main).errors
    assert (err.line, err.column) == (1, 1) and "out of range" in err.message


# ---- fail-open: what caddy adapt refuses is never clean -----------------------------------------

FAIL_OPEN = {
    "site written twice": ("example.com {\n\trespond 1\n}\nexample.com {\n\trespond 2\n}\n",
                           (4, 1), "ambiguous site definition: example.com"),
    "same address, overlapping binds": (
        "a.example, example.com {\n\tbind 127.0.0.1 127.0.0.2\n}\nexample.com {\n\tbind 127.0.0.2\n}\n",
        (4, 1), "ambiguous site definition: example.com"),
    "handle never closed before the next site": (
        "a.example.com {\n\thandle /a {\n\t\trespond 200\n}\nb.example.com {\n\trespond 201\n}\n",
        (5, 1), "unrecognized directive: b.example.com"),
    "global options never closed": ("{\n\temail a@b.c\n\nexample.com {\n\trespond 200\n}\n",
                                    (4, 1), "unrecognized global option: example.com"),
    "handle_response at site level": (
        "example.com {\n\thandle_response {\n\t\trespond 200\n\t}\n}\n", (2, 2),
        "unrecognized directive: handle_response"),
    "unknown directive": ("example.com {\n\trespond 200\n\tfoo_bar x\n}\n", (3, 2),
                          "unrecognized directive: foo_bar"),
    "unknown directive in handle": ("example.com {\n\thandle {\n\t\tfoo\n\t}\n}\n", (3, 3),
                                    "unrecognized directive: foo"),
    "unknown directive in handle_response": (
        "example.com {\n\treverse_proxy x {\n\t\thandle_response {\n\t\t\tfoo\n\t\t}\n\t}\n}\n",
        (4, 4), "unrecognized directive: foo"),
    "unknown directive in a named route": ("&(r) {\n\tfoo\n}\nexample.com {\n\tinvoke r\n}\n",
                                           (2, 2), "unrecognized directive: foo"),
    "wrong case": ("example.com {\n\tRespond 200\n}\n", (2, 2), "unrecognized directive: Respond"),
    "order of a plugin directive": ("{\n\torder webdav last\n}\nexample.com {\n\trespond 200\n}\n",
                                    (2, 8), "order: webdav is not a registered directive"),
    "unknown global option": ("{\n\tlayer4 {\n\t}\n}\nexample.com {\n}\n", (2, 2),
                              "unrecognized global option: layer4"),
    "nested block left open in a site without braces": (
        ":8884\nreverse_proxy x {\n\thealth_headers {\n\t}\n", (2, 17), "never closed"),
    "an unset {$ spanning lines and braces": ("*.example.com {\n\ttls {$ {\n}\n", (1, 15),
                                              "never closed"),
}


@pytest.mark.parametrize("case", sorted(FAIL_OPEN))
def test_what_caddy_refuses_is_an_error(tmp_path, case):
    text, (line, column), message = FAIL_OPEN[case]
    main = write(tmp_path / "Caddyfile", text)
    report = linted(main)
    assert report.errors, "reported clean"
    err = report.errors[0]
    assert (err.path, err.line, err.column) == (str(main), line, column)
    assert message in err.message
    if HAVE_CADDY:
        assert caddy_refuses(main), "caddy adapt accepts it: the case is wrong"


def test_what_caddy_accepts_stays_clean(tmp_path):
    for text in ("example.com {\n\tbind 127.0.0.1\n}\nexample.com {\n\tbind 127.0.0.2\n}\n",
                 "example.com {\n\trespond 1\n}\nexample.com:443 {\n\trespond 2\n}\n",
                 "example.com example.com {\n\trespond 1\n}\n",
                 "example.com {\n\thandle /a {\n\t\trespond 200\n\t}\n",     # last '}' closes both
                 "{\n\torder respond first\n}\nexample.com {\n\trespond 200\n}\n",
                 "example.com {\n\treverse_proxy x {\n\t\thandle_response {\n\t\t\tcopy_response\n"
                 "\t\t}\n\t}\n}\n"):
        main = write(tmp_path / "Caddyfile", text)
        assert linted(main).errors == [], text
        if HAVE_CADDY:
            assert caddy_refuses(main) == "", text


def test_every_standard_directive_and_global_option_is_known():
    body = "".join(f"\t{name}\n" for name in sorted(refusals.STANDARD_DIRECTIVES))
    options = "".join(f"\t{name}\n" for name in sorted(refusals.GLOBAL_OPTIONS) if name != "order")
    tree = parse_string("{\n" + options + "}\nexample.com {\n" + body + "}\n", env={})
    assert tree.errors == []


def test_plugin_directives_can_be_declared(monkeypatch):
    text = "{\n\torder webdav last\n\tlayer4 {\n\t}\n}\nexample.com {\n\twebdav\n}\n"
    assert len(parse_string(text, env={}).errors) == 3
    monkeypatch.setattr(refusals, "PLUGIN_DIRECTIVES", frozenset({"webdav"}))
    monkeypatch.setattr(refusals, "PLUGIN_GLOBAL_OPTIONS", frozenset({"layer4"}))
    assert parse_string(text, env={}).errors == []


def test_a_fragment_is_not_held_to_site_directives():
    # a *.caddy-d.Caddyfile is the body of a block we do not see, maybe a reverse_proxy's
    tree = parse_string("header_up Host {host}\nhandle {\n\tfoo\n}\n", "/x/a.caddy-d.Caddyfile", env={})
    assert [e.message.split(" inside")[0] for e in tree.errors] == ["unrecognized directive: foo"]


def test_caddy1_in_a_file_the_grammar_rejects_names_the_file(tmp_path):
    # the loose tree was lexed as "<text>", and the engine dropped the error: reported clean
    main = write(tmp_path / "Caddyfile", "example.com {\n    gzip php_server\n")
    err, = linted(main).errors
    assert (err.path, err.line) == (str(main), 2) and err.message.startswith("Caddy v1 syntax")
