"""Hostile and broken HAProxy configurations: a clear error with file:line:column, never a
traceback, a hang or unbounded memory, and never "clean" for a file `haproxy -c` refuses.

Each test is a signature found by hand or by fuzzing, kept at the place it was fixed. Where the
real server matters, `haproxy -c` (2.6) is asked too when it is installed.
"""
import os
import shutil
import subprocess
import time

import pytest

from linter.engine import lint
from linter.haproxy.conditionals import MAX_NESTED_IF
from linter.haproxy.parse import load, parse_string
from linter.syntax import LoadOptions

HAVE_HAPROXY = shutil.which("haproxy") is not None
HEAD = ("global\ndefaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n"
        "    timeout connect 1s\n")
TAIL = "    default_backend be\nbackend be\n    server s 127.0.0.1:8008\n"


def frontend(*lines) -> str:
    """A whole configuration: the lines are those of `frontend fe` (line 9 is the first)."""
    return HEAD + "frontend fe\n    bind :80\n" + "".join(f"    {line}\n" for line in lines) + TAIL


def write(path, content):
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def linted(path):
    """lint() in-process: no internal error (a crash) for this file, and its report."""
    report = lint([str(path)], server="haproxy")
    assert report.internal == [], [i.summary for i in report.internal]
    return report


def haproxy_refuses(path) -> str:
    """haproxy's alerts for the file ('' when `haproxy -c` accepts it)."""
    result = subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True,
                            errors="replace", timeout=60)
    alerts = [line for line in (result.stdout + result.stderr).splitlines() if "ALERT" in line]
    return "\n".join(alerts)


# ---- crashes -----------------------------------------------------------------------------------

@pytest.mark.parametrize("rule, column, message", [
    ("http-request return status 200 hdr", 36, "'hdr' expects <name> and <value>"),
    ("http-request return status 200 hdr X-A", 36, "'hdr' expects <name> and <value>"),
    ("http-request return hdr a b hdr", 33, "'hdr' expects <name> and <value>"),
    ("http-request deny deny_status", 23, "'deny_status' expects a status code"),
    ("http-request return status 200 content-type", 36, "'content-type' expects"),
    ("http-request return status 200 content-type text/plain string", 60, "'string' expects"),
    ("http-request return status 200 lf-file", 36, "'lf-file' expects"),
    ("http-response return status 200 hdr", 37, "'hdr' expects"),
    ("http-request tarpit deny_status if { path /x }", 25, "'deny_status' expects"),
    ("http-request auth realm", 23, "'realm' needs a value"),
    ("http-request set-header X-A", 18, "takes exactly 2 arguments"),
    ("http-response set-header", 19, "takes exactly 2 arguments"),
    ("http-after-response add-header X if { path /x }", 25, "takes exactly 2 arguments"),
    ("http-request del-header", 18, "needs at least the name"),
    ("http-request redirect", 18, "expects 'location', 'prefix' or 'scheme'"),
    ("http-request redirect location", 27, "'location' needs a value"),
    ("http-request redirect location /x code", 39, "'code' needs a value"),
    ("http-request redirect location /x code 4²3", 44, "unsupported HTTP code '4²3'"),
    ("redirect location /x code 999", 31, "unsupported HTTP code '999'"),
    ("redirect prefix", 14, "'prefix' needs a value"),
])
def test_rules_without_their_values_are_errors_not_crashes(tmp_path, rule, column, message):
    # `hdr` without its name and value made the option list a bool: TypeError in actions.py
    cfg = write(tmp_path / "haproxy.cfg", frontend(rule))
    err, = linted(cfg).errors
    assert (err.path, err.line, err.column) == (str(cfg), 9, column), err
    assert message in err.message
    if HAVE_HAPROXY:
        assert haproxy_refuses(cfg), "haproxy accepts it: the case is wrong"


@pytest.mark.parametrize("rule", [
    "http-request redirect code 301 location /x",
    "http-request redirect scheme https code 308 if !{ ssl_fc }",
    "redirect prefix /x code 302 drop-query",
    "http-request return status 200 content-type text/plain string ok hdr A b",
    "http-request deny deny_status 403 hdr X-A b",
    "http-request set-header X-A \"a b\" if { path /x }",
])
def test_well_formed_rules_stay_clean(tmp_path, rule):
    cfg = write(tmp_path / "haproxy.cfg", frontend(rule))
    assert linted(cfg).errors == []
    if HAVE_HAPROXY:
        assert haproxy_refuses(cfg) == ""


def test_redirect_options_in_any_order_are_modelled():
    from linter.haproxy.actions import final_action
    tree = parse_string(frontend("http-request redirect code 301 location /x"), "t.cfg", env={})
    rule = next(d for d in tree.directives[2].block if d.name == "http-request")
    action, _ = final_action(rule, lambda status: "text/html", ".")
    assert (action.status, action.location) == (301, "/x")


@pytest.mark.parametrize("lines", [
    ["http-request return status 4²3 content-type text/plain string x"],
    ["http-request deny deny_status ①"],
    ["http-request redirect location /x code ²"],
    ["errorfile 4²3 /etc/haproxy/errors/403.http"],
    ["http-error status 5²3 content-type text/plain string x"],
    ["timeout client 4²s", "timeout server 99999999999999999999999s"],
    ["acl a dst_port eq 4²3", "acl b status 4²3:5²0", "use_backend be if a || b"],
    ["http-request return status 99999999999999999999999 content-type a/b string x"],
    ["timeout client HUGE", "http-request return status HUGE content-type a/b string x",
     "http-request deny deny_status HUGE", "errorfile HUGE /x", "acl a dst_port eq HUGE",
     "acl b status HUGE:HUGE", "http-error status HUGE content-type a/b string x",
     "use_backend be if a || b"],
])
def test_unicode_digits_and_huge_numbers_are_no_crash(tmp_path, lines):
    # str.isdigit() takes "²" and "①", which int() refuses; int() refuses over 4300 digits
    text = frontend(*lines).replace("bind :80", "bind :4²3").replace("HUGE", "9" * 5000)
    linted(write(tmp_path / "haproxy.cfg", text))
    text = text.replace("bind :4²3", "bind :" + "9" * 5000)
    linted(write(tmp_path / "haproxy.cfg", text))


@pytest.mark.parametrize("condition", ["9" * 5000, "0x" + "f" * 5000, "0" * 5000,
                                       f"version_atleast({'9' * 5000})"])
def test_huge_numbers_in_if_conditions(tmp_path, condition):
    cfg = write(tmp_path / "haproxy.cfg", f"global\n.if {condition}\n    daemon\n.endif\n")
    report = linted(cfg)
    if HAVE_HAPROXY and "version" not in condition:
        assert (haproxy_refuses(cfg) == "") == (report.errors == [])


def test_a_payload_file_that_never_ends_or_blocks_is_not_read(tmp_path):
    os.mkfifo(tmp_path / "pipe.http")
    cfg = write(tmp_path / "haproxy.cfg", frontend(
        "errorfile 503 pipe.http", "errorfile 403 /dev/zero",
        "http-request return status 200 content-type text/plain file /dev/zero if { path /z }",
        "http-request return status 200 content-type text/plain file pipe.http if { path /p }",
        "http-request deny if { path /d }"))
    start = time.monotonic()
    linted(cfg)
    assert time.monotonic() - start < 20


# ---- .if blocks --------------------------------------------------------------------------------

def test_ten_thousand_nested_ifs_are_haproxys_error_at_the_hundredth(tmp_path):
    cfg = write(tmp_path / "haproxy.cfg", "global\n" + ".if 1\n" * 10_000 + ".endif\n" * 10_000)
    start = time.monotonic()
    err, = linted(cfg).errors
    assert time.monotonic() - start < 20
    assert (err.path, err.line, err.column) == (str(cfg), MAX_NESTED_IF + 1, 1)
    assert "too many nested '.if'" in err.message
    if HAVE_HAPROXY:
        assert "too many nested '.if', max is 100" in haproxy_refuses(cfg)


def test_ninety_nine_nested_ifs_are_fine(tmp_path):
    cfg = write(tmp_path / "haproxy.cfg", "global\n" + ".if 1\n" * 99 + ".endif\n" * 99)
    assert linted(cfg).errors == []


@pytest.mark.parametrize("condition, accepted", [
    ("(" * 340 + "1" + ")" * 340, True),
    ("(" * 341 + "1" + ")" * 341, False),          # haproxy's MAX_CFG_RECURSION
    ("&&".join(["1"] * 1022), True),               # one word: haproxy reads 64 words a line
    ("&&".join(["1"] * 1023), False),
    ("!(" * 10_000 + "1" + ")" * 10_000, False),    # a RecursionError before
    ("(" * 10_000, False),
])
def test_deep_if_conditions_are_read_without_recursion_as_haproxy_reads_them(tmp_path, condition,
                                                                          accepted):
    cfg = write(tmp_path / "haproxy.cfg", f"global\n.if {condition}\n.endif\n")
    errors = linted(cfg).errors
    assert (errors == []) == accepted
    if HAVE_HAPROXY:
        assert (haproxy_refuses(cfg) == "") == accepted


# ---- reading -----------------------------------------------------------------------------------

@pytest.mark.parametrize("content", [b"global\n    daemon\x00\n", "global\n    daemon\n".encode("utf-16")])
def test_binary_or_utf16_file_is_an_error(tmp_path, content):
    cfg = write(tmp_path / "haproxy.cfg", content)
    err, = linted(cfg).errors
    assert err.path == str(cfg)
    if HAVE_HAPROXY:
        assert haproxy_refuses(cfg)


def test_a_fifo_or_device_as_a_configuration_file_is_refused(tmp_path):
    os.mkfifo(tmp_path / "pipe.cfg")
    tree = load([str(tmp_path / "pipe.cfg"), "/dev/zero"])
    assert ["FIFO" in e.message or "system file" in e.message for e in tree.errors] == [True, True]
    # haproxy skips what is not a regular file in a directory; so do we
    write(tmp_path / "a.cfg", "global\n")
    assert load(str(tmp_path)).errors == []


def test_one_budget_for_all_the_files_of_a_load(tmp_path):
    for name in "abc":
        write(tmp_path / f"{name}.cfg", "global\n" + "    # filler\n" * 20)
    tree = load(str(tmp_path), load_options=LoadOptions(max_total_bytes=600))
    assert [os.path.basename(e.path) for e in tree.errors] == ["c.cfg"]
    assert "--max-total-size" in tree.errors[0].message


def test_a_line_longer_than_all_before_with_an_env_default_is_refused_like_haproxy(tmp_path):
    # haproxy parses such a line twice and its first pass cut the default's '}' (a fuzzer find)
    line = '    description "${X-' + "b" * 1100 + '}"\n'
    cfg = write(tmp_path / "haproxy.cfg", "global\n" + line)
    err, = linted(cfg).errors
    assert (err.line, err.column) == (2, 19) and "unmatched brace" in err.message
    if HAVE_HAPROXY:
        assert "unmatched brace in environment variable name at position 19" in haproxy_refuses(cfg)
    # after a line at least as long, or when an unset variable may have been as long: fine
    for before in ("    description " + "a" * 1200 + "\n", '    description "${UNSET}"\n'):
        cfg = write(tmp_path / "haproxy.cfg", "global\n" + before + line)
        assert linted(cfg).errors == []
