"""The project configuration (.matrix-proxy-lint.toml, [tool.matrix-proxy-lint]) and the output
options CI users expect (--quiet, --statistics, --output-file, colour variables)."""
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from linter import cli
from linter.cli import main

BROKEN = ("server {\n    listen 443 ssl;\n    server_name m.example.org;\n"
          "    location /_matrix {\n        proxy_pass http://127.0.0.1:8008/_matrix;\n"
          "        add_header Access-Control-Allow-Origin *;\n    }\n}\n")


def runner() -> CliRunner:
    import inspect

    if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters:
        return CliRunner(mix_stderr=False)
    return CliRunner()


@pytest.fixture
def project(tmp_path):
    """A repository with a site in deploy/nginx and a vendored copy in vendor/."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "deploy" / "nginx").mkdir(parents=True)
    (tmp_path / "deploy" / "nginx" / "site.conf").write_text(BROKEN)
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "upstream.conf").write_text(BROKEN)
    return tmp_path


def codes(result) -> list:
    return sorted({f["rule"] for f in json.loads(result.stdout)["findings"]})


def files(result) -> list:
    """The files with findings."""
    return sorted({f["path"] for f in json.loads(result.stdout)["findings"]})


def run_in(directory, args):
    old = os.getcwd()
    os.chdir(directory)
    try:
        return runner().invoke(main, args)
    finally:
        os.chdir(old)


def test_the_project_configuration_is_found_from_a_subdirectory(project):
    (project / ".matrix-proxy-lint.toml").write_text('select = ["MPL201"]\nexclude = ["vendor/"]\n')
    result = run_in(project / "deploy", ["check", "--format", "json", str(project)])
    assert result.exit_code == 1, result.output
    assert codes(result) == ["MPL201"]
    assert files(result) == [str(project / "deploy" / "nginx" / "site.conf")], "vendor/ is excluded"


def test_pyproject_table_is_read_and_the_search_stops_at_the_repository_root(project):
    (project / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.matrix-proxy-lint]\nignore = ["MPL1"]\n')
    result = runner().invoke(main, ["check", "--format", "json", str(project / "deploy")])
    assert "MPL101" not in codes(result) and "MPL201" in codes(result)
    # Above the repository root: not this project's configuration.
    (project.parent / ".matrix-proxy-lint.toml").write_text('select = ["MPL101"]\n')
    (project / "pyproject.toml").unlink()
    try:
        result = runner().invoke(main, ["check", "--format", "json", str(project / "deploy")])
        assert {"MPL101", "MPL201"} <= set(codes(result))
    finally:
        (project.parent / ".matrix-proxy-lint.toml").unlink()


def test_the_command_line_wins_and_isolated_ignores_the_file(project):
    (project / ".matrix-proxy-lint.toml").write_text('select = ["MPL201"]\nfail-on = "info"\n')
    site = str(project / "deploy")
    assert codes(runner().invoke(main, ["check", "--format", "json", "--select", "MPL101", site])) == ["MPL101"]
    assert len(codes(runner().invoke(main, ["check", "--format", "json", "--isolated", site]))) > 1
    other = project / "other.toml"
    other.write_text('select = ["MPL101"]\n')
    assert codes(runner().invoke(main, ["check", "--format", "json", "--config", str(other), site])) == ["MPL101"]


@pytest.mark.parametrize("text,position,words", [
    ('select = ["MPL201"]\nfail-on-error = true\n', ":2:1:", "unknown key 'fail-on-error'"),
    ('fail-on = "loud"\n', ":1:1:", "fail-on: expected one of error, warning, info"),
    ('[severity]\nMPL999 = "error"\n', ":2:1:", "no rule matches 'MPL999'"),
    ('[[paths]]\ninclude = ["x/**"]\nselect = ["MPL1"]\n', ":3:1:", "unknown key 'select' in [[paths]]"),
    ('select = [\n', ":2:1:", "not valid TOML"),
], ids=["unknown-key", "bad-value", "unknown-rule", "run-option-in-paths", "broken-toml"])
def test_a_wrong_key_or_value_is_an_error_at_its_position(project, text, position, words):
    config = project / ".matrix-proxy-lint.toml"
    config.write_text(text)
    result = runner().invoke(main, ["check", str(project / "deploy")])
    assert result.exit_code == 2
    assert f"{config}{position} error: {words}" in result.stderr, result.stderr


def test_pyproject_errors_point_into_the_tool_table(project):
    config = project / "pyproject.toml"
    config.write_text('[project]\nname = "x"\nselekt = 1\n\n[tool.matrix-proxy-lint]\nselekt = ["MPL1"]\n')
    result = runner().invoke(main, ["check", str(project / "deploy")])
    assert result.exit_code == 2
    assert f"{config}:6:1: error: unknown key 'selekt'" in result.stderr


def test_per_path_settings_and_severity_overrides(project):
    (project / "deploy" / "haproxy").mkdir()
    cfg = project / "deploy" / "haproxy" / "edge.conf"     # a name detection cannot place
    cfg.write_text("frontend f\n  mode http\n  bind :443 ssl crt /x.pem\n  default_backend b\n"
                   "backend b\n  server s 127.0.0.1:8008\n")
    (project / ".matrix-proxy-lint.toml").write_text(
        'exclude = ["vendor/"]\n\n[severity]\nMPL201 = "info"\nMPL1 = "error"\n\n'
        '[[paths]]\ninclude = ["deploy/haproxy/"]\nserver = "haproxy"\n')
    result = runner().invoke(main, ["check", "--format", "json", str(project / "deploy")])
    report = json.loads(result.stdout)
    assert report["errors"] == [], "edge.conf is read as HAProxy, as the project says"
    assert report["summary"]["files"] == 2
    severity = {f["rule"]: f["severity"] for f in report["findings"]}
    assert severity["MPL201"] == "info" and severity["MPL101"] == "error"
    # --fail-on error: MPL201 (now info) no longer fails the run on its own.
    only_uri = runner().invoke(main, ["check", "--fail-on", "error", "--select", "MPL201", str(project / "deploy")])
    assert only_uri.exit_code == 0, only_uri.output


def test_quiet_statistics_and_output_file(project, tmp_path):
    site = str(project / "deploy")
    quiet = runner().invoke(main, ["check", "--quiet", "--isolated", site])
    assert quiet.exit_code == 1
    assert "Found" not in quiet.stdout and "MPL201" in quiet.stdout
    stats = runner().invoke(main, ["check", "--statistics", "--isolated", site])
    lines = [l for l in stats.stdout.splitlines() if "MPL" in l]
    assert any(l.split() [:3] == ["1", "MPL201", "uri-canonicalised"] for l in lines), stats.stdout
    assert "proxy_pass http" not in stats.stdout, "no code frames in statistics"
    out = tmp_path / "report.json"
    written = runner().invoke(main, ["check", "--isolated", "--format", "json", "-o", str(out), site])
    assert written.exit_code == 1 and written.stdout == ""
    assert "MPL201" in [f["rule"] for f in json.loads(out.read_text())["findings"]]


@pytest.mark.parametrize("env,tty,wanted", [
    ({}, True, True),
    ({}, False, False),
    ({"NO_COLOR": "1"}, True, False),
    ({"NO_COLOR": ""}, True, True),                   # no-color.org: an empty value does not count
    ({"FORCE_COLOR": "1"}, False, True),
    ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False, False),
    ({"CLICOLOR_FORCE": "1"}, False, True),
    ({"CLICOLOR_FORCE": "0"}, False, False),
    ({"CLICOLOR": "0"}, True, False),
])
def test_colour_follows_the_environment_conventions(monkeypatch, env, tty, wanted):
    for name in ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "CLICOLOR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: tty, raising=False)
    assert cli.colour_wanted() is wanted


def test_force_color_colours_a_piped_report(project):
    env = {**os.environ, "FORCE_COLOR": "1"}
    env.pop("NO_COLOR", None)
    done = subprocess.run([sys.executable, "-m", "linter.cli", "check", "--isolated", str(project / "deploy")],
                          capture_output=True, text=True, env=env)
    assert "\033[" in done.stdout
