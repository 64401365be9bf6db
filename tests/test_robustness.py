"""Hostile and broken input: every case exits 0, 1 or 2 with a clear message, never a traceback.

Each case here is a crash signature that was found by fuzzing or by hand, kept as a regression
test at the place it was fixed.
"""
import json

from click.testing import CliRunner

from linter.cli import main


def check(path, *args):
    return CliRunner().invoke(main, ["check", "--format", "json", *args, str(path)])


def runner() -> CliRunner:
    """stdout and stderr apart (Click 8.2+ always keeps them apart; 8.1 needs asking)."""
    import inspect

    if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters:
        return runner()
    return CliRunner()


def test_wellknown_base_url_that_urlsplit_refuses_is_a_finding_not_a_crash(tmp_path):
    doc = '{"m.homeserver": {"base_url": "https://x]"}}'
    conf = tmp_path / "wk.conf"
    conf.write_text("server { listen 443 ssl; location = /.well-known/matrix/client { default_type application/json; "
                    f"add_header Access-Control-Allow-Origin * always; return 200 '{doc}'; }} }}\n")
    result = check(conf)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 1
    (finding,) = json.loads(result.output)["findings"]
    assert finding["rule"] == "MPL303" and "not a valid URL" in finding["message"]


# --- a crash is the linter's bug: reported per file, exit 3, the other files still linted -------

import pytest

from linter import engine
from linter.rule import Finding, load_rules, rule


@rule("ZZZ999", "always-crashes-on-caddy", "warning")
def _crashing_rule(config):
    """Raises on Caddy configurations only: stands for a bug in a rule."""
    if config.server == "caddy":
        raise IndexError("list index out of range")
    return ()


@pytest.fixture
def crashing_rule(monkeypatch):
    rules = load_rules() + [_crashing_rule]
    monkeypatch.setattr(engine, "load_rules", lambda: rules)


BROKEN_NGINX = ("server { listen 443 ssl; location /_matrix { proxy_pass http://127.0.0.1:8008/_matrix/; "
                "proxy_set_header Host $host; proxy_set_header X-Forwarded-For $remote_addr; "
                "proxy_set_header X-Forwarded-Proto $scheme; client_max_body_size 50m; } }\n")


def test_a_crashing_rule_is_an_internal_error_for_that_file_and_the_rest_is_reported(tmp_path, crashing_rule):
    (tmp_path / "Caddyfile").write_text("example.org {\n    reverse_proxy /_matrix/* localhost:8008\n}\n")
    (tmp_path / "site.conf").write_text(BROKEN_NGINX)
    result = runner().invoke(main, ["check", "--format", "json", str(tmp_path)])
    assert result.exit_code == 3
    doc = json.loads(result.stdout)
    (crash,) = doc["internal_errors"]
    assert crash["path"].endswith("Caddyfile") and crash["stage"] == "rule ZZZ999"
    assert crash["message"].startswith("IndexError: list index out of range (test_robustness.py:")
    assert [f["rule"] for f in doc["findings"]] == ["MPL201"], "the nginx file is still linted"
    assert "Traceback" not in result.stderr
    assert "internal error:" in result.stderr and "please report it" in result.stderr


def test_debug_prints_the_traceback(tmp_path, crashing_rule):
    (tmp_path / "Caddyfile").write_text("example.org {\n    reverse_proxy /_matrix/* localhost:8008\n}\n")
    result = runner().invoke(main, ["--debug", "check", str(tmp_path / "Caddyfile")])
    assert result.exit_code == 3
    assert "Traceback (most recent call last)" in result.stderr and "_crashing_rule" in result.stderr


def test_a_front_end_crash_is_an_internal_error_not_exit_1(tmp_path, monkeypatch):
    from linter.nginx import build

    def broken_build(tree, options=None):
        raise AttributeError("'NoneType' object has no attribute 'args'")

    monkeypatch.setattr(build, "build", broken_build)
    (tmp_path / "a.conf").write_text(BROKEN_NGINX)
    (tmp_path / "Caddyfile").write_text("example.org {\n    handle_path /_matrix/* {\n"
                                        "        reverse_proxy localhost:8008\n    }\n}\n")
    result = runner().invoke(main, ["check", str(tmp_path)])
    assert result.exit_code == 3
    assert "a.conf: while building the model: AttributeError" in result.stderr
    assert "Caddyfile:2:17: MPL702" in result.stdout, "the Caddy file is still linted and reported"


def test_an_escaped_bug_in_a_command_exits_3_with_one_line(tmp_path, monkeypatch):
    import linter.engine

    monkeypatch.setattr(linter.engine, "lint", lambda *a, **k: 1 / 0)
    (tmp_path / "a.conf").write_text(BROKEN_NGINX)
    result = runner().invoke(main, ["check", str(tmp_path / "a.conf")])
    assert result.exit_code == 3
    assert result.stderr.splitlines()[0] == "internal error: ZeroDivisionError: division by zero"


# --- output hygiene --------------------------------------------------------------------------

HOSTILE = "\x1b]0;pwned\x07\x1b[31m\u202e\x9b"


def test_no_control_character_or_bidi_override_reaches_the_terminal(tmp_path):
    conf = tmp_path / "site.conf"
    conf.write_text(f"server {{ listen 443 ssl; location /_matrix {{ add_header Access-Control-Allow-Origin "
                    f"\"{HOSTILE}\"; proxy_pass http://127.0.0.1:8008/_matrix/; }} }}\n")
    for fmt in ("text", "json", "github"):
        result = runner().invoke(main, ["check", "--format", fmt, str(conf)])
        assert result.exit_code == 1, result.output
        for ch in "\x1b\x07\u202e\x9b":
            assert ch not in result.stdout + result.stderr, (fmt, ch)
    text = CliRunner().invoke(main, ["check", str(conf)]).output
    assert "\\x1b]0;pwned\\x07" in text, "shown escaped, so the reader still sees it"


def test_a_long_line_is_cut_around_the_span_in_the_code_frame(tmp_path):
    servers = "".join(f"server {{ listen 443 ssl; server_name s{i}; location /_matrix {{ "
                      f"proxy_pass http://127.0.0.1:8008/_matrix/; }} }} " for i in range(400))
    conf = tmp_path / "one-line.conf"
    conf.write_text(servers + "\n")
    result = CliRunner().invoke(main, ["check", "--select", "MPL201", str(conf)])
    frames = [line for line in result.output.splitlines() if line.startswith("1 | ")]
    assert len(frames) == 400
    assert all(len(line) < 200 for line in frames)
    assert all("http://127.0.0.1:8008/_matrix/" in line for line in frames)


def test_no_line_of_a_file_outside_the_checked_tree_is_quoted(tmp_path):
    secret = tmp_path / "elsewhere" / "secret.conf"
    secret.parent.mkdir()
    secret.write_text("root:$6$hash-that-must-not-leak:19000:0:99999:7:::\n")
    tree = tmp_path / "repo"
    tree.mkdir()
    (tree / "site.conf").write_text(f"server {{ listen 443 ssl; include {secret}; }}\n")
    result = runner().invoke(main, ["check", str(tree)])
    assert result.exit_code == 2, result.output
    assert "hash-that-must-not-leak" not in result.stdout + result.stderr
    assert str(secret) in result.stdout + result.stderr, "the error still names the file and position"


# --- signatures bench/fuzz.py found, each fixed where it arose ---------------------------------

from linter.engine import lint as lint_files


@pytest.mark.parametrize("server,name,text", [
    ("nginx", "regex.conf", "location ~ " + "(" * 500 + "a" + ")" * 500 + " { proxy_pass http://127.0.0.1:8008; }\n"),
    ("nginx", "nested.conf", "server { listen 443 ssl; location / { location ~ ^" + "(" * 500 + "a" + ")" * 500
     + " { return 200; } } }\n"),
    ("apache", "regex.conf", "<LocationMatch ^/" + "(" * 500 + "a" + ")" * 500 + ">\n</LocationMatch>\n"),
], ids=["nginx-regex", "nginx-nested-regex", "apache-regex"])
def test_a_regex_python_cannot_compile_leaves_the_match_undecided(tmp_path, server, name, text):
    conf = tmp_path / name
    conf.write_text(text)
    report = lint_files([str(conf)], server=server)
    assert report.internal == []


@pytest.mark.parametrize("text,message", [
    ("return " + "4" * 5000 + ";\n", 'invalid return code "'),
    ("server { listen " + "8" * 5000 + "; }\n", "invalid port"),
    ("proxy_buffering %00;\n", 'invalid value in "proxy_buffering" directive'),
    ("include " + "*/" * 3000 + "*.conf;\n", "include path has more than 128 components"),
], ids=["return-5000-digits", "listen-5000-digits", "percent-in-value", "deep-glob"])
def test_nginx_values_that_crashed_are_errors(tmp_path, text, message):
    conf = tmp_path / "site.conf"
    conf.write_text(text)
    report = lint_files([str(conf)], server="nginx")
    assert report.internal == []
    assert any(message in e.message for e in report.errors), report.errors


@pytest.mark.parametrize("length,refused", [(4095, False), (4096, True)])
def test_nginx_refuses_a_token_or_comment_of_4096_bytes_as_nginx_does(tmp_path, length, refused):
    """nginx -t (1.22): `too long parameter "..." started` from 4096 bytes on (NGX_CONF_BUFFER)."""
    conf = tmp_path / "site.conf"
    conf.write_text("add_header X " + "a" * length + ";\n#" + "b" * (length - 1) + "\n")
    report = lint_files([str(conf)], server="nginx")
    got = [(e.line, e.column) for e in report.errors if "too long parameter" in e.message]
    assert got == ([(1, 14), (2, 1)] if refused else [])


def test_system_trees_are_refused_but_a_config_on_dev_shm_is_read(tmp_path):
    import os

    from linter.inputs import Budget, read_config
    from linter.syntax import ConfigError

    for path in ("/proc/self/environ", "/dev/zero", "/sys/kernel/hostname" if os.path.exists("/sys/kernel") else "/dev/null"):
        with pytest.raises(ConfigError) as refused:
            read_config(path, Budget())
        assert "refusing to read" in refused.value.message
    shm = f"/dev/shm/mpl-test-{os.getpid()}.conf"
    with open(shm, "w") as f:
        f.write("server { listen 443 ssl; }\n")
    try:
        assert read_config(shm, Budget()) == "server { listen 443 ssl; }\n"
    finally:
        os.unlink(shm)


# A pattern that backtracks catastrophically on every sample path: Python's re would search for
# hours. The model gives up on it (as PCRE does at its match limit) and the request matches nothing.
CATASTROPHIC = "(" + ".*" * 40 + ")\\.gif$"


def test_a_backtracking_regex_gives_up_instead_of_hanging():
    from linter.model import BoundedPattern, compile_regex

    rx = compile_regex(CATASTROPHIC)
    assert isinstance(rx, BoundedPattern)
    assert rx.search("/_matrix/client/v3/rooms/abcdef/messages") is None
    assert rx.gave_up
    plain = compile_regex("^/_matrix/client/.*/rooms/.*/messages$")
    assert plain.search("/_matrix/client/v3/rooms/x/messages") is not None, "a bounded search still matches"
    assert not plain.gave_up
    assert compile_regex("^/_matrix/.*\\.gif$").search("/_matrix/a.gif") is not None


@pytest.mark.parametrize("server,name,text", [
    ("apache", "matrix.conf", f'RedirectMatch "{CATASTROPHIC}" http://example.org/\n'),
    ("nginx", "matrix.conf", f"server {{ listen 443 ssl; location ~ {CATASTROPHIC} {{ return 403; }} "
                             "location /_matrix { proxy_pass http://127.0.0.1:8008; } }\n"),
    ("caddy", "Caddyfile", f"example.org {{\n  @gif path_regexp {CATASTROPHIC}\n  respond @gif 403\n"
                           "  reverse_proxy /_matrix/* 127.0.0.1:8008\n}\n"),
    ("haproxy", "haproxy.cfg", "frontend f\n  mode http\n  bind :443 ssl crt /x.pem\n"
                               f"  http-request deny if {{ path_reg {CATASTROPHIC} }}\n"
                               "  default_backend b\nbackend b\n  server s 127.0.0.1:8008\n"),
], ids=["apache-RedirectMatch", "nginx-location", "caddy-path_regexp", "haproxy-path_reg"])
def test_a_backtracking_regex_in_a_config_is_linted_to_the_end(tmp_path, server, name, text):
    conf = tmp_path / name
    conf.write_text(text)
    report = lint_files([str(conf)], server=server)
    assert report.internal == [] and report.errors == [], report.errors


def test_a_column_past_a_carriage_return_is_framed_on_its_own_line(tmp_path):
    """Front ends count lines at \\n only; the code frame must too, or a 100 kB line split at a
    \\r gets a caret line 100,000 spaces long."""
    conf = tmp_path / "Caddyfile"
    conf.write_text("a.example\r" + " b.example" * 2000 + " :bad\n")
    result = runner().invoke(main, ["check", "--server", "caddy", str(conf)])
    assert result.exit_code == 2, result.output
    assert max(len(line) for line in result.output.splitlines()) < 400


def test_a_copied_well_known_document_wins_over_this_machines(tmp_path):
    """Like includes: with --prefix, the document under the copy is read, not the host's file at
    the same absolute path (which may not be this deployment's, or may be private)."""
    served = tmp_path / "host" / "www"
    (served / ".well-known" / "matrix").mkdir(parents=True)
    (served / ".well-known" / "matrix" / "server").write_text("{not json")
    copy = tmp_path / "copy"
    mirrored = copy / served.relative_to("/") / ".well-known" / "matrix"
    mirrored.mkdir(parents=True)
    (mirrored / "server").write_text('{"m.server": "matrix.example.org:443"}')
    conf = copy / "site.conf"
    conf.write_text(f"server {{ listen 443 ssl; location = /.well-known/matrix/server {{ root {served}; "
                    "default_type application/json; add_header Access-Control-Allow-Origin * always; } }\n")
    report = lint_files([str(conf)], server="nginx", prefix=str(copy))
    assert [f.rule.code for f in report.findings if f.rule.code == "MPL301"] == []
    elsewhere = tmp_path / "elsewhere" / "site.conf"
    elsewhere.parent.mkdir()
    elsewhere.write_text(conf.read_text())
    report = lint_files([str(elsewhere)], server="nginx")
    assert "MPL301" in [f.rule.code for f in report.findings], "not in the tree: the host's file is read"
