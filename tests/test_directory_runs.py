"""`check DIR` and `check FILE` on trees whose files include each other.

A directory run lints the entry points only (the configs nothing else in the tree includes), so
a snippet is linted where it is used, and a finding in a snippet that several configurations use
is reported once, saying in how many. A file run lints the file inside the configs of its
repository that include it. Walks survive symlink loops, and files that are no proxy config are
skipped with a note, never an error.
"""
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import linter.engine as engine
from linter.cli import main

SNIPPET = """\
# The Matrix location body, shared by the sites.
proxy_set_header Host $host;
proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
proxy_set_header X-Forwarded-Proto $scheme;
client_max_body_size 50M;
proxy_pass http://127.0.0.1:8008/_matrix/;
"""
PROXY_LINE = 6

NGINX_CONF = """\
events {}
http {
    include conf.d/*.conf;
}
"""


def site(name: str) -> str:
    return (f"server {{\n    listen 443 ssl;\n    server_name {name};\n"
            f"    location /_matrix {{\n        include snippets/matrix.conf;\n    }}\n}}\n")


def write(root: Path, files: dict) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def run(*args):
    try:
        runner = CliRunner(mix_stderr=False)       # click 8.1
    except TypeError:
        runner = CliRunner()                       # click 8.2+: stdout and stderr are apart
    result = runner.invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


@pytest.fixture
def tree(tmp_path):
    return write(tmp_path / "etc-nginx", {
        "nginx.conf": NGINX_CONF,
        "conf.d/one.conf": site("one.example.org"),
        "conf.d/two.conf": site("two.example.org"),
        "snippets/matrix.conf": SNIPPET,
    })


@pytest.fixture
def loads(monkeypatch):
    """The entry files the engine builds a configuration from, in order."""
    seen = []
    real = engine.load_config

    def spy(path, *args, **kwargs):
        seen.append(os.path.basename(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(engine, "load_config", spy)
    return seen


def findings(result) -> list:
    return [(Path(f["path"]).name, f["rule"], f["line"], f["message"]) for f in json.loads(result.stdout)["findings"]]


def test_directory_lints_the_entry_point_once_and_the_snippet_finding_once(tree, loads):
    r = run("check", "--format", "json", "--select", "MPL201", str(tree))
    assert r.exit_code == 1, r.output
    assert loads == ["nginx.conf"]
    (found,) = findings(r)
    assert found[:3] == ("matrix.conf", "MPL201", PROXY_LINE)
    assert "configurations that include" not in found[3]     # one configuration: nothing to count
    doc = json.loads(r.stdout)
    assert doc["summary"]["files"] == 4 and doc["notes"] == []


def test_snippet_of_thirty_sites_is_reported_once_with_the_count(tmp_path, loads):
    files = {f"sites-enabled/site{i:02}.conf": site(f"s{i}.example.org") for i in range(30)}
    files["snippets/matrix.conf"] = SNIPPET
    root = write(tmp_path / "etc-nginx", files)
    r = run("check", "--format", "json", "--select", "MPL201", str(root))
    assert r.exit_code == 1
    assert sorted(loads) == sorted(Path(name).name for name in files if name.startswith("sites-enabled/"))
    (found,) = findings(r)
    assert found[:3] == ("matrix.conf", "MPL201", PROXY_LINE)
    assert found[3].endswith(" (in 30 of 30 configurations that include this file)")


def test_a_finding_some_includers_show_says_in_how_many(tmp_path):
    root = write(tmp_path / "conf", {
        "sites-enabled/a.conf": site("a.example.org"),
        "sites-enabled/b.conf": site("b.example.org"),
        "sites-enabled/c.conf": site("c.example.org").replace(
            "    location /_matrix {", "    add_header X-Frame-Options DENY;\n    location /_matrix {"),
        "snippets/matrix.conf": SNIPPET.replace("client_max_body_size 50M;\n",
                                                "client_max_body_size 50M;\nadd_header X-Robots-Tag none;\n"),
    })
    r = run("check", "--format", "json", "--select", "MPL501", str(root))
    # Only c.conf has a server-level add_header for the snippet's add_header to drop.
    assert [(name, line, msg.endswith("(in 1 of 3 configurations that include this file)"))
            for name, _, line, msg in findings(r)] == [("matrix.conf", 6, True)]


def test_file_run_lints_the_snippet_in_its_includers_and_reports_only_the_snippet(tree, loads, monkeypatch):
    (tree / ".git").mkdir()
    monkeypatch.chdir(tree)
    r = run("check", "--format", "json", "snippets/matrix.conf")
    assert r.exit_code == 1
    assert loads == ["nginx.conf"]        # the outermost includer, not conf.d/one.conf and two.conf
    assert {f["path"] for f in json.loads(r.stdout)["findings"]} == {"snippets/matrix.conf"}
    assert json.loads(r.stdout)["summary"]["files"] == 1


def test_file_run_finds_includers_under_root(tree, loads):
    r = run("check", "--format", "json", "--select", "MPL201", "--root", str(tree), str(tree / "snippets/matrix.conf"))
    assert loads == ["nginx.conf"] and [f[:3] for f in findings(r)] == [("matrix.conf", "MPL201", PROXY_LINE)]
    # Without a repository or --root, the file's directory is all there is: linted on its own.
    loads.clear()
    run("check", "--format", "json", str(tree / "snippets/matrix.conf"))
    assert loads == ["matrix.conf"]


def test_configuration_errors_in_a_given_file_are_reported_once(tree):
    (tree / "snippets/matrix.conf").write_text(SNIPPET + "proxy_read_timeout 600s\n")   # no `;`
    # Three configurations read the snippet: both sites given, and both again as its includers.
    sites = [str(tree / "conf.d" / name) for name in ("one.conf", "two.conf")]
    r = run("check", "--format", "json", "--root", str(tree / "conf.d"), str(tree / "snippets/matrix.conf"), *sites)
    doc = json.loads(r.stdout)
    assert r.exit_code == 2
    assert [Path(e["path"]).name for e in doc["errors"]] == ["matrix.conf"]


def test_symlink_loop_in_the_tree_finishes(tree, loads):
    os.symlink("..", tree / "conf.d" / "loop")
    os.symlink(tree, tree / "snippets" / "again")
    r = run("check", "--format", "json", "--select", "MPL201", str(tree))
    assert r.exit_code == 1
    assert loads == ["nginx.conf"]
    assert len(findings(r)) == 1


def test_walk_depth_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "MAX_DEPTH", 3)
    deep = tmp_path / "a" / "b" / "c" / "d"
    write(tmp_path, {"a/b/site.conf": site("x.example.org").replace("include snippets/matrix.conf;", SNIPPET),
                     "a/b/c/d/site.conf": site("y.example.org").replace("include snippets/matrix.conf;", SNIPPET)})
    r = run("check", "--format", "json", "--select", "MPL201", str(tmp_path))
    assert [Path(f["path"]).parent for f in json.loads(r.stdout)["findings"]] == [tmp_path / "a" / "b"]
    assert deep.is_dir()


def test_files_that_are_no_proxy_config_are_skipped_with_a_note(tree):
    (tree / "redis.conf").write_text("bind 127.0.0.1 -::1\nport 6379\ndaemonize no\nsave 3600 1\n")
    (tree / "dhparam.der").write_bytes(bytes(range(256)) * 4)
    r = run("check", "--format", "json", "--select", "MPL201", str(tree))
    assert r.exit_code == 1                 # the snippet's finding; never 2 for the skipped files
    doc = json.loads(r.stdout)
    assert not doc["errors"]
    (note,) = doc["notes"]
    assert note.startswith("skipped 2 files that are not an nginx, Apache, Caddy or HAProxy configuration")
    assert "redis.conf (server not detected)" in note and "dhparam.der (binary)" in note
    # In text, notes go to stderr, never into the report on stdout.
    r = run("check", "--select", "MPL201", str(tree))
    assert "note: skipped 2 files" in r.stderr and "note:" not in r.stdout


def test_reading_outside_the_tree_is_said_once(tmp_path):
    elsewhere = write(tmp_path / "elsewhere", {"extra.conf": "proxy_set_header X-Forwarded-Proto $scheme;\n",
                                               "more.conf": "proxy_set_header Host $host;\n"})
    root = write(tmp_path / "tree", {
        f"sites-enabled/{name}.conf": site(f"{name}.example.org").replace(
            "include snippets/matrix.conf;",
            f"include {elsewhere}/extra.conf;\n        include {elsewhere}/more.conf;\n"
            "        proxy_pass http://127.0.0.1:8008;")
        for name in ("a", "b")})
    r = run("check", "--format", "json", str(root))
    notes = json.loads(r.stdout).get("notes", [])
    assert notes == [f"read 2 files from this machine outside the checked tree (first: {elsewhere}/extra.conf); "
                     "to audit a copied tree, pass --prefix DIR"]


def test_errors_in_the_includers_are_not_the_given_files_problem(tree, monkeypatch):
    (tree / ".git").mkdir()
    (tree / "conf.d" / "one.conf").write_text(site("one.example.org") + "}\n")      # one `}` too many
    monkeypatch.chdir(tree)
    r = run("check", "--format", "json", "--select", "MPL201", "snippets/matrix.conf")
    doc = json.loads(r.stdout)
    assert r.exit_code == 1 and not doc["errors"]
    assert [f["path"] for f in doc["findings"]] == ["snippets/matrix.conf"]
    (note,) = doc["notes"]
    assert note.startswith("1 configuration error in other files of the configurations that include the given files")
