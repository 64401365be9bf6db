"""`check -`: a configuration (or `nginx -T` output) on standard input, as editors and pipes use it."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BROKEN = (ROOT / "examples" / "nginx" / "broken.conf").read_bytes()


def run(args, data: bytes, cwd=None):
    return subprocess.run([sys.executable, "-m", "linter.cli", "check", *args], input=data,
                          capture_output=True, cwd=cwd, env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"})


def test_stdin_is_linted_like_the_same_file_on_disk(tmp_path):
    from_disk = run(["--isolated", "--format", "json", str(ROOT / "examples" / "nginx" / "broken.conf")], b"")
    from_stdin = run(["--isolated", "--format", "json", "-"], BROKEN)
    assert from_stdin.returncode == from_disk.returncode == 1
    key = lambda f: (f["rule"], f["line"], f["column"])   # noqa: E731
    disk = sorted(map(key, json.loads(from_disk.stdout)["findings"]))
    assert sorted(map(key, json.loads(from_stdin.stdout)["findings"])) == disk
    assert {f["path"] for f in json.loads(from_stdin.stdout)["findings"]} == {"<stdin>"}


def test_stdin_filename_names_the_file_and_picks_its_project_configuration(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".matrix-proxy-lint.toml").write_text('select = ["MPL201"]\n')
    (tmp_path / "sites").mkdir()
    done = run(["--format", "json", "--stdin-filename", "sites/matrix.conf", "-"], BROKEN, cwd=tmp_path)
    findings = json.loads(done.stdout)["findings"]
    assert findings and {f["rule"] for f in findings} == {"MPL201"}
    assert {f["path"] for f in findings} == {"sites/matrix.conf"}
    text = run(["--stdin-filename", "sites/matrix.conf", "-"], BROKEN, cwd=tmp_path).stdout.decode()
    assert "proxy_pass http://127.0.0.1:8008/_matrix" in text, "code frames come from the text on stdin"


def test_nginx_dump_on_stdin(tmp_path):
    dump = (ROOT / "tests" / "data" / "nginx" / "dump" / "nginx-T.txt").read_bytes()
    done = run(["--isolated", "--format", "json", "-"], dump)
    assert done.returncode == 1, done.stderr
    assert {f["rule"] for f in json.loads(done.stdout)["findings"]} >= {"MPL304"}


def test_broken_text_on_stdin_is_an_error_with_its_position():
    done = run(["--isolated", "--server", "nginx", "-"], b"server {\n  listen 443 ssl;\n")
    assert done.returncode == 2
    assert done.stdout.decode().startswith("<stdin>:")


def test_stdin_filename_without_dash_is_a_usage_error():
    assert run(["--stdin-filename", "x.conf", str(ROOT / "examples" / "nginx" / "clean.conf")], b"").returncode == 2
