"""The pre-commit hook, end to end: the real pre-commit installs this checkout's hook definition
(.pre-commit-hooks.yaml) and runs it in a throwaway git repository.

The repository (tests/data/hook/repo) has two nginx sites that include one snippet, and two files
that are no proxy config (redis.conf, setup.cfg). Committing a defective snippet must fail and
name the finding in the snippet, seen through both sites; committing the other two must pass.

pre-commit builds the hook's environment with pip (from the package index) once per run:
PRE_COMMIT_HOME is shared by the tests and by the pytest-xdist workers. The hook is installed
from a snapshot of this checkout's files (uncommitted changes included) committed in a temporary
repository, so what is tested is the working tree, not the last commit. The tests without
pre-commit run the hook's entry (`check --hook`) on the same files, in-process.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from linter.cli import main

ROOT = Path(__file__).resolve().parent.parent          # this checkout: the hook's repository
DATA = Path(__file__).resolve().parent / "data" / "hook"
SNIPPET = "snippets/matrix-proxy.conf"


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


DEFECTIVE = (DATA / "repo" / SNIPPET).read_text()
CORS_LINE = line_of(DEFECTIVE, "add_header Access-Control-Allow-Origin")
PROXY_LINE = line_of(DEFECTIVE, "proxy_pass")
TWO_SITES = "(in 2 of 2 configurations that include this file)"


def git(cwd, *args, env=None):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=env)


def clean_env(**extra) -> dict:
    """The environment for git and pre-commit: none of an enclosing git hook's variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    # Nor the user's git configuration (hooks, signing, templates): only what the tests set.
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, NO_COLOR="1", **extra)
    return env


def new_repository(path: Path, env: dict) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", env=env)
    git(path, "config", "user.name", "Hook Test", env=env)
    git(path, "config", "user.email", "hook-test@example.org", env=env)
    git(path, "config", "commit.gpgsign", "false", env=env)
    return path


# -- without pre-commit: what the hook's entry does with the files pre-commit passes ------------

@pytest.fixture
def repo_copy(tmp_path, monkeypatch):
    """The hook data as a repository (a `.git` is all `check` looks for), as the working dir."""
    repo = tmp_path / "repo"
    shutil.copytree(DATA / "repo", repo)
    (repo / ".git").mkdir()
    monkeypatch.chdir(repo)
    return repo


def check(*args):
    result = CliRunner().invoke(main, ["check", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_hook_entry_reports_the_snippet_finding_once_through_both_sites(repo_copy):
    r = check("--hook", SNIPPET)
    assert r.exit_code == 1, r.output
    assert f"{SNIPPET}:{CORS_LINE}:1: MPL101 [warning]" in r.output
    assert f"{SNIPPET}:{PROXY_LINE}:12: MPL201 [error]" in r.output
    for code in ("MPL101", "MPL201"):
        heads = [line for line in r.output.splitlines() if f": {code} [" in line]
        assert len(heads) == 1 and heads[0].endswith(TWO_SITES), heads
    # The sites themselves are outside the change: nothing is reported in them.
    assert not [line for line in r.output.splitlines() if line.startswith("sites-enabled/")]


def test_hook_entry_skips_files_that_are_no_proxy_config(repo_copy):
    r = check("--hook", "redis.conf", "setup.cfg")
    assert r.exit_code == 0, r.output
    assert "note: skipped 2 files" in r.output and "redis.conf" in r.output and "setup.cfg" in r.output
    # Named on the command line without --hook, they stay what they were: an error.
    assert check("redis.conf").exit_code == 2


def test_hook_entry_with_everything_staged_reports_each_finding_once(repo_copy):
    r = check("--hook", "sites-enabled/a.conf", "sites-enabled/b.conf", SNIPPET, "redis.conf", "setup.cfg")
    assert r.exit_code == 1
    heads = [line for line in r.output.splitlines() if ": MPL201 [" in line]
    assert heads == [heads[0]] and heads[0].startswith(f"{SNIPPET}:{PROXY_LINE}:") and heads[0].endswith(TWO_SITES)


def test_hook_definition_and_readme_agree():
    yaml = pytest.importorskip("yaml")
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["entry"] == "matrix-proxy-lint check --hook"
    assert hook["require_serial"] is True and hook["language"] == "python"
    import re

    readme = (ROOT / "README.md").read_text().split("## pre-commit", 1)[1]
    config = yaml.safe_load(re.search(r"```yaml\n(.*?)```", readme, re.S).group(1))
    assert [h["id"] for r in config["repos"] for h in r["hooks"]] == [hook["id"]]
    # The README's rev exists in this repository and gives today's hook definition.
    (repo,) = config["repos"]
    at_rev = subprocess.run(["git", "-C", str(ROOT), "show", f"{repo['rev']}:.pre-commit-hooks.yaml"],
                            capture_output=True, text=True)
    assert at_rev.returncode == 0, at_rev.stderr
    assert yaml.safe_load(at_rev.stdout) == [hook]
    # Broad on purpose: pre-commit hands the hook these, and the hook skips what is no config.
    files = re.compile(hook["files"])
    for name in (SNIPPET, "sites-enabled/a.conf", "redis.conf", "setup.cfg", "Caddyfile", "haproxy/haproxy.cfg"):
        assert files.search(name), name


# -- the real pre-commit -----------------------------------------------------------------------

def _shared_dir(tmp_path_factory) -> Path:
    """One directory for every pytest-xdist worker of this run (each worker has its own basetemp
    below a common root), so the hook environment is built once."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def hook_repository(tmp_path_factory):
    """(pre-commit home, snapshot repository, its commit): this checkout's files committed in a
    temporary repository, built once per run."""
    pytest.importorskip("pre_commit")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the hook is installed from one")
    import fcntl

    shared = _shared_dir(tmp_path_factory) / "mpl-pre-commit"
    shared.mkdir(exist_ok=True)
    env = clean_env()
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        snapshot, done = shared / "hook-repo", shared / "hook-repo.commit"
        if not done.exists():
            shutil.rmtree(snapshot, ignore_errors=True)      # a run that stopped half-way
            listed = git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard", env=env).stdout
            new_repository(snapshot, env)
            for name in filter(None, listed.split("\0")):
                source = ROOT / name
                if source.is_file():
                    (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, snapshot / name)
            git(snapshot, "add", "-A", env=env)
            git(snapshot, "commit", "-q", "-m", "snapshot of the working tree", env=env)
            done.write_text(git(snapshot, "rev-parse", "HEAD", env=env).stdout.strip())
    return shared / "home", snapshot, done.read_text()


@pytest.fixture
def user_repository(tmp_path, hook_repository):
    """A project that uses the hook, as the README says: its .pre-commit-config.yaml, the two
    sites and a clean snippet are already committed."""
    home, snapshot, commit = hook_repository
    env = clean_env(PRE_COMMIT_HOME=str(home))
    repo = new_repository(tmp_path / "project", env)
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {snapshot}\n    rev: {commit}\n    hooks:\n      - id: matrix-proxy-lint\n")
    shutil.copytree(DATA / "repo" / "sites-enabled", repo / "sites-enabled")
    (repo / "snippets").mkdir()
    shutil.copy(DATA / "clean-matrix-proxy.conf", repo / SNIPPET)
    git(repo, "add", "-A", env=env)
    git(repo, "commit", "-q", "-m", "two sites", env=env)
    return repo, env


def pre_commit(repo: Path, env: dict, *args) -> subprocess.CompletedProcess:
    """`pre-commit run` on the staged files (not try-repo: it ignores PRE_COMMIT_HOME and would
    build the hook's environment on every call)."""
    return subprocess.run([sys.executable, "-m", "pre_commit", "run", "--color", "never", *args],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=900)


def test_pre_commit_fails_on_a_defective_snippet_and_names_it(user_repository):
    repo, env = user_repository
    shutil.copy(DATA / "repo" / SNIPPET, repo / SNIPPET)
    git(repo, "add", SNIPPET, env=env)
    p = pre_commit(repo, env)
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    assert "matrix-proxy-lint" in out and "Failed" in out
    assert f"{SNIPPET}:{CORS_LINE}:1: MPL101 [warning]" in out, out
    assert f"{SNIPPET}:{PROXY_LINE}:12: MPL201 [error]" in out, out
    assert out.count(TWO_SITES) >= 2, out
    # The fourth is MPL406: the snippet appends to the client's X-Forwarded-For.
    assert "Found 4 findings" in out and "in 1 file." in out


def test_pre_commit_passes_files_that_are_no_proxy_config(user_repository):
    repo, env = user_repository
    shutil.copy(DATA / "repo" / "redis.conf", repo / "redis.conf")
    shutil.copy(DATA / "repo" / "setup.cfg", repo / "setup.cfg")
    git(repo, "add", "redis.conf", "setup.cfg", env=env)
    p = pre_commit(repo, env, "--verbose")
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert "Passed" in out
    # Both files were handed to the hook (its `files` pattern is broad) and skipped by it.
    assert "note: skipped 2 files" in out and "redis.conf" in out and "setup.cfg" in out, out
