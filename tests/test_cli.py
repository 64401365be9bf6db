"""The command line: exit codes, the text format, the JSON contract, errors without tracebacks."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from linter.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "nginx"


def run(*args, **kw):
    result = CliRunner().invoke(main, list(args), **kw)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_clean_config_exits_0():
    r = run("check", str(EXAMPLES / "clean.conf"))
    assert r.exit_code == 0
    assert r.output.strip() == "No findings in 1 file."


def test_findings_exit_1_and_text_shows_position_code_severity_and_frame(tmp_path):
    conf = tmp_path / "site.conf"
    conf.write_text("server {\n    listen 443 ssl;\n    location /_matrix {\n"
                    "        proxy_pass http://127.0.0.1:8008/;\n    }\n}\n")
    r = run("check", "--select", "MPL201", str(conf))
    assert r.exit_code == 1
    lines = r.output.splitlines()
    assert lines[0].startswith(f"{conf}:4:20: MPL201 [error] proxy_pass has a URI part")
    assert lines[2] == "4 |         proxy_pass http://127.0.0.1:8008/;"
    assert lines[3] == "  |                    " + "^" * len("http://127.0.0.1:8008/")
    assert lines[-1] == "Found 1 finding (1 error) in 1 file."


def test_fail_on_threshold():
    broken = str(EXAMPLES / "broken.conf")
    assert run("check", "--select", "MPL404", broken).exit_code == 0        # only info findings
    assert run("check", "--select", "MPL404", "--fail-on", "info", broken).exit_code == 1
    assert run("check", "--select", "MPL101", "--fail-on", "error", broken).exit_code == 0


def test_json_has_exactly_the_documented_shape():
    r = run("check", "--format", "json", str(EXAMPLES / "broken.conf"), str(EXAMPLES / "clean.conf"))
    doc = json.loads(r.output)
    assert set(doc) == {"version", "findings", "errors", "summary", "notes", "internal_errors"}
    assert doc["notes"] == [] and doc["internal_errors"] == []
    assert doc["version"] == 1
    assert doc["summary"] == {"files": 2, "findings": len(doc["findings"]), "errors": 0}
    f = doc["findings"][0]
    assert set(f) == {"rule", "name", "severity", "message", "path", "line", "column", "end_line",
                      "end_column", "server", "depends_on"}
    assert f["depends_on"] == []
    assert (f["rule"], f["name"], f["severity"], f["line"], f["column"], f["server"]) == \
        ("MPL101", "cors-header-without-always", "warning", 11, 5, "nginx")
    assert f["end_line"] == 11 and f["end_column"] == 5 + len("add_header Access-Control-Allow-Origin *;")


def test_one_finding_per_occurrence_never_merged(tmp_path):
    blocks = "".join(f"server {{ listen 443 ssl; server_name s{i}; location /_matrix {{ "
                     f"proxy_pass http://127.0.0.1:8008/; }} }}\n" for i in range(5))
    conf = tmp_path / "many.conf"
    conf.write_text(blocks)
    doc = json.loads(run("check", "--format", "json", "--select", "MPL201", str(conf)).output)
    column = blocks.splitlines()[0].index("http://") + 1
    assert [(f["line"], f["column"]) for f in doc["findings"]] == [(i, column) for i in range(1, 6)]


def test_truncated_file_is_an_error_with_position_never_clean(tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text("http {\n    server {\n        listen 80;\n")
    r = run("check", "--format", "json", str(conf))
    assert r.exit_code == 2
    doc = json.loads(r.output)
    assert doc["errors"] and doc["errors"][0]["path"] == str(conf)
    assert doc["errors"][0]["line"] >= 1


def test_other_files_are_still_linted_after_an_error(tmp_path):
    (tmp_path / "bad.conf").write_text("server {\n    listen 80\n}\n")
    (tmp_path / "good.conf").write_text("server {\n    listen 443 ssl;\n    location /_matrix {\n"
                                        "        proxy_pass http://127.0.0.1:8008/;\n    }\n}\n")
    r = run("check", "--format", "json", "--select", "MPL201", str(tmp_path))
    doc = json.loads(r.output)
    assert r.exit_code == 2
    assert [e["path"] for e in doc["errors"]] == [str(tmp_path / "bad.conf")]
    assert [(f["path"], f["line"]) for f in doc["findings"]] == [(str(tmp_path / "good.conf"), 4)]


def test_missing_path_and_unknown_file_are_errors(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    r = run("check", str(tmp_path / "nope.conf"), str(notes))
    assert r.exit_code == 2
    assert "nope.conf: error: no such file or directory" in r.output
    assert "cannot tell which server this file is for" in r.output


def test_usage_errors_exit_2():
    assert run("check").exit_code == 2
    assert run("check", "--nginx-version", "banana", str(EXAMPLES)).exit_code == 2
    assert run("check", "--select", "XYZ999", str(EXAMPLES)).exit_code == 2


def test_nginx_version_gates_add_header_inherit(tmp_path):
    conf = tmp_path / "s.conf"
    conf.write_text("server {\n    add_header_inherit merge;\n}\n")
    assert run("check", "--select", "MPL502", str(conf)).exit_code == 0
    r = run("check", "--select", "MPL502", "--nginx-version", "1.24.0", str(conf))
    assert r.exit_code == 1 and f"{conf}:2:5: MPL502 [error]" in r.output


def test_rules_lists_every_rule_and_shows_docs():
    from linter.rule import load_rules

    r = run("rules")
    assert r.exit_code == 0
    listed = [line.split()[0] for line in r.output.splitlines()]
    assert listed == [rule.code for rule in load_rules()]
    doc = run("rules", "MPL201").output
    assert "## Why is this bad?" in doc and "proxy_pass http://127.0.0.1:8008/;" in doc


def test_version():
    from linter import __version__

    assert run("--version").output.strip() == f"matrix-proxy-lint {__version__}"


def test_no_colour_unless_a_tty_and_never_with_no_color(monkeypatch):
    from linter import cli

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert cli.colour_wanted()
    monkeypatch.setenv("NO_COLOR", "1")
    assert not cli.colour_wanted()
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    monkeypatch.delenv("NO_COLOR")
    assert not cli.colour_wanted()


def test_colour_output_highlights_the_frame():
    from linter.engine import lint
    from linter.output import to_text

    text = to_text(lint([str(EXAMPLES / "broken.conf")], select=("MPL201",)), colour=True)
    assert "\033[" in text and "proxy_pass" in text


def test_other_servers_are_reported_as_unsupported_until_their_front_end_exists(tmp_path):
    from linter.engine import front_end

    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text("frontend fe\n    bind :443\n")
    parse, build = front_end("haproxy")
    r = run("check", str(cfg))
    if parse is None or build is None:
        assert r.exit_code == 2 and "HAProxy configurations are not supported yet" in r.output
    else:
        assert "not supported yet" not in r.output


def test_console_script_runs_without_traceback_on_garbage(tmp_path):
    bad = tmp_path / "nginx.conf"
    bad.write_bytes(b"http {\n  server { listen 80; \xff\xfe location / { return 200 '; }\n")
    p = subprocess.run([sys.executable, "-m", "linter.cli", "check", str(bad)], capture_output=True, text=True)
    assert "Traceback" not in p.stderr
    assert p.returncode == 2


def test_github_annotations(tmp_path):
    conf = tmp_path / "a,b.conf"
    conf.write_text("server {\n    listen 443 ssl;\n    location /_matrix {\n"
                    "        proxy_pass http://127.0.0.1:8008/;\n    }\n}\n")
    r = run("check", "--format", "github", "--select", "MPL201", str(conf))
    assert r.exit_code == 1
    path = str(conf).replace(",", "%2C")
    end = 20 + len("http://127.0.0.1:8008/")
    assert r.output.splitlines()[0].startswith(
        f"::error file={path},line=4,col=20,endLine=4,endColumn={end},title=MPL201 uri-canonicalised::proxy_pass has")
    assert run("check", "--format", "github", str(EXAMPLES / "clean.conf")).output == ""


EXAMPLE_FILES = sorted(p for p in EXAMPLES.parent.rglob("*") if p.is_file())


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_bundled_examples_clean_ones_are_clean_and_broken_ones_are_not(path):
    from linter.engine import lint

    report = lint([str(path)])
    assert not report.errors
    servers = {r.server for r in report.findings}
    if "clean" in path.name:
        assert report.findings == []
    else:
        assert servers == {path.parent.name}
        assert any(r.severity == "error" for r in report.findings)


def test_trace_without_a_request_shows_an_example():
    result = CliRunner().invoke(main, ["trace", str(ROOT / "examples" / "nginx" / "clean.conf")])
    assert result.exit_code == 2
    assert "GET https://matrix.example.org/_matrix/client/versions" in result.output


def test_server_versions_and_plugin_directives_reach_the_model(monkeypatch, tmp_path):
    from linter import engine

    seen = []
    original = engine.load_config

    def spy(path, server, options, report, *args, **kwargs):
        config = original(path, server, options, report, *args, **kwargs)
        seen.append(config.options if config is not None else None)
        return config

    monkeypatch.setattr(engine, "load_config", spy)
    conf = tmp_path / "haproxy.cfg"
    conf.write_text("frontend f\n  mode http\n  bind :80\n  default_backend b\nbackend b\n  server s 127.0.0.1:8008\n")
    CliRunner().invoke(main, ["check", "--haproxy-version", "2.8", "--caddy-directive", "crowdsec,rate_limit",
                              str(conf)])
    assert seen and seen[0]["haproxy_version"] == (2, 8, 0)
    assert seen[0]["caddy_directives"] == ("crowdsec", "rate_limit")


def test_rules_by_prefix_and_as_json():
    from linter.rule import load_rules

    cors = [r.code for r in load_rules() if r.code.startswith("MPL1")]
    listed = [line.split()[0] for line in CliRunner().invoke(main, ["rules", "MPL1"]).output.splitlines()]
    assert listed == cors and len(cors) > 1
    doc = json.loads(CliRunner().invoke(main, ["rules", "--format", "json", "MPL2"]).output)
    assert [d["code"] for d in doc] == [r.code for r in load_rules() if r.code.startswith("MPL2")]
    assert all(d["url"].endswith(f"/docs/rules/{d['code']}.md") and "## What it does" in d["docs"] for d in doc)
    assert CliRunner().invoke(main, ["rules", "MPL9999"]).exit_code == 2


def test_github_step_summary_and_hidden_annotations(tmp_path, monkeypatch):
    conf = tmp_path / "site.conf"
    conf.write_text("server {\n    listen 443 ssl;\n" + "".join(
        f"    location /_matrix/x{i} {{ proxy_pass http://127.0.0.1:8008/_matrix/x{i}; }}\n" for i in range(12))
        + "}\n")
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = CliRunner().invoke(main, ["check", "--isolated", "--format", "github", "--select", "MPL201", str(conf)])
    assert result.output.count("::error ") == 12
    assert "2 of these will not be shown" in result.output
    table = summary.read_text()
    assert "| [MPL201](" in table and "| 12 (12 error) |" in table
    assert "2 of this run's are not shown" in table
