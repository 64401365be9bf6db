"""The distribution: one top-level package, rules and grammars inside it, a working console script.

Builds the wheel, installs it into a fresh venv, and runs the CLI from outside the checkout, so
nothing can leak in from the source tree.
"""
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
                   check=True)
    (path,) = out.glob("matrix_proxy_lint-*.whl")
    return path


def test_wheel_has_exactly_one_top_level_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"linter"}
    assert "linter/rules/cors.py" in names
    assert any(n.startswith("linter/grammars/") for n in names)


def test_installed_wheel_runs_from_outside_the_checkout(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)], check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    conf = elsewhere / "matrix.conf"
    conf.write_text((ROOT / "examples" / "nginx" / "broken.conf").read_text())
    p = subprocess.run([str(bin_dir / "matrix-proxy-lint"), "check", "--format", "json", "matrix.conf"],
                       cwd=elsewhere, capture_output=True, text=True)
    assert p.returncode == 1, p.stderr
    assert '"rule": "MPL201"' in p.stdout
    p = subprocess.run([str(bin_dir / "matrix-proxy-lint"), "rules"], cwd=elsewhere, capture_output=True, text=True)
    assert p.returncode == 0 and "MPL101" in p.stdout
    # The module must come from the venv, not from the source tree.
    p = subprocess.run([str(bin_dir / "python"), "-c", "import linter; print(linter.__file__)"],
                       cwd=elsewhere, capture_output=True, text=True)
    assert str(env_dir) in p.stdout
