"""--fix and --diff: each mechanical fix turns tests/data/fix/NAME.before.EXT into NAME.after.EXT
exactly (comments, layout and the rest of the file kept), leaves nothing of its rule behind, and
changes nothing when run again."""
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from linter.cli import main
from linter.engine import lint

DATA = Path(__file__).parent / "data" / "fix"
CASES = sorted(p for p in DATA.glob("*.before.*"))
SERVERS = {"nginx", "apache", "caddy", "haproxy"}


def server_of(path: Path) -> str:
    return next(part for part in path.name.split(".")[0].split("-") if part in SERVERS)


@pytest.mark.parametrize("before", CASES, ids=lambda p: p.name.split(".")[0])
def test_fix_gives_the_expected_file_and_is_idempotent(before, tmp_path):
    code = before.name.split("-")[0]
    after = before.with_name(before.name.replace(".before.", ".after."))
    target = tmp_path / before.name.replace(".before", "")
    shutil.copy(before, target)
    server = server_of(before)
    assert [f.rule.code for f in lint([str(target)], server=server, select=(code,)).findings], "nothing to fix"
    args = ["check", "--isolated", "--server", server, "--select", code]
    diff = CliRunner().invoke(main, [*args, "--diff", str(target)])
    assert diff.exit_code == 1 and diff.output.startswith("--- a/")
    assert target.read_text() == before.read_text(), "--diff changes nothing"
    fixed = CliRunner().invoke(main, [*args, "--fix", str(target)])
    assert target.read_text() == after.read_text()
    assert fixed.exit_code == 0, fixed.output
    assert lint([str(target)], server=server, select=(code,)).findings == []
    again = CliRunner().invoke(main, [*args, "--diff", str(target)])
    assert again.exit_code == 0 and again.output == ""


def test_every_fixer_has_a_case():
    from linter.fixes import FIXERS

    assert {f"{code}-{server}" for code, server in FIXERS} == {p.name.split(".")[0] for p in CASES}


def test_fix_keeps_crlf_line_endings(tmp_path):
    target = tmp_path / "site.conf"
    target.write_bytes((DATA / "MPL101-nginx.before.conf").read_bytes().replace(b"\n", b"\r\n"))
    CliRunner().invoke(main, ["check", "--isolated", "--select", "MPL101", "--fix", str(target)])
    assert target.read_bytes() == (DATA / "MPL101-nginx.after.conf").read_bytes().replace(b"\n", b"\r\n")


def test_a_file_outside_the_checked_tree_is_never_edited(tmp_path):
    outside = tmp_path / "elsewhere" / "cors.conf"
    outside.parent.mkdir()
    original = 'add_header Access-Control-Allow-Origin "https://app.example.org";\n'
    outside.write_text(original)
    tree = tmp_path / "repo"
    tree.mkdir()
    (tree / "site.conf").write_text("server {\n    listen 443 ssl;\n    location /_matrix {\n"
                                    f"        proxy_pass http://127.0.0.1:8008;\n        include {outside};\n    }}\n}}\n")
    CliRunner().invoke(main, ["check", "--isolated", "--fix", str(tree)])
    assert outside.read_text() == original


def test_a_file_with_errors_is_not_edited(tmp_path):
    target = tmp_path / "site.conf"
    text = (DATA / "MPL101-nginx.before.conf").read_text() + "server {\n"
    target.write_text(text)
    result = CliRunner().invoke(main, ["check", "--isolated", "--fix", str(target)])
    assert result.exit_code == 2 and target.read_text() == text
