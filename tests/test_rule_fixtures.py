"""Every rule against hand-written bad and good fixtures.

A bad fixture marks each expected finding on its line: `# expect: MPL101@9` (rule code and
column; several per line allowed). Where the server allows no trailing comment (httpd), the
marker sits on a comment line of its own, `# expect-next: MPL601@5`, and applies to the next
directive line. The test requires exactly those findings, no more, no fewer. A good fixture must
produce no finding at all. `# nginx-version: X.Y.Z` on the first line sets the target nginx
version. Fixtures live in tests/fixtures/<server>/ (subdirectories allowed).
"""
import re
from pathlib import Path

import pytest

from linter.engine import lint

FIXTURES = Path(__file__).parent / "fixtures"
EXPECT = re.compile(r"#\s*expect:\s*((?:[A-Z]+\d+@\d+\s*)+)")
EXPECT_NEXT = re.compile(r"^\s*#\s*expect-next:\s*((?:[A-Z]+\d+@\d+\s*)+)$")


def fixture_files(kind):
    return sorted(p for p in FIXTURES.rglob(f"*.{kind}.*") if p.is_file())


def server_of(path: Path) -> str:
    return path.relative_to(FIXTURES).parts[0]


def options_for(path: Path) -> dict:
    """From the fixture's leading comment lines: `# nginx-version: X.Y.Z`, and `# homeserver-config:
    FILE` (beside the fixture) for the rules that check the proxy against the homeserver."""
    out = {}
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        m = re.match(r"#\s*nginx-version:\s*([\d.]+)", line)
        if m:
            out["nginx_version"] = tuple(int(x) for x in m.group(1).split("."))
        m = re.match(r"#\s*homeserver-config:\s*(\S+)", line)
        if m:
            out["homeserver_config"] = str(path.parent / m.group(1))
    return out


def expected(path: Path) -> set:
    out = set()
    pending: list = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        m = EXPECT_NEXT.match(line)
        if m:
            pending += m.group(1).split()
            continue
        items = []
        if pending and line.strip() and not line.lstrip().startswith("#"):
            items, pending = pending, []
        m = EXPECT.search(line)
        if m and not line.lstrip().startswith("#"):
            items += m.group(1).split()
        for item in items:
            code, col = item.split("@")
            out.add((code, number, int(col)))
    return out


def found(path: Path) -> set:
    report = lint([str(path)], server=server_of(path), **options_for(path))
    assert not report.errors, report.errors
    return {(r.rule.code, r.span.line, r.span.column) for r in report.findings}


@pytest.mark.parametrize("path", fixture_files("bad"), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_bad_fixture_has_exactly_the_marked_findings(path):
    want = expected(path)
    assert want, "a bad fixture must mark at least one expected finding"
    assert found(path) == want


@pytest.mark.parametrize("path", fixture_files("good"), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_good_fixture_is_clean(path):
    assert found(path) == set()


def test_every_rule_has_a_bad_fixture():
    from linter.rule import load_rules

    marked = set()
    for path in fixture_files("bad"):
        marked |= {code for code, _, _ in expected(path)}
    # MPL952's finding is in the homeserver's file, which a fixture cannot mark: tests/test_homeserver.py.
    missing = [r.code for r in load_rules() if r.code not in marked and r.code != "MPL952"]
    assert not missing, f"rules without a bad fixture: {missing}"
