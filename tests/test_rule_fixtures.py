"""Every rule against hand-written bad and good fixtures.

A bad fixture marks each expected finding on its line: `# expect: MPL101@9` (rule code and
column; several per line allowed). The test requires exactly those findings, no more, no fewer.
A good fixture must produce no finding at all. `# nginx-version: X.Y.Z` on the first line sets
the target nginx version.
"""
import re
from pathlib import Path

import pytest

from linter.engine import lint

FIXTURES = Path(__file__).parent / "fixtures"
EXPECT = re.compile(r"#\s*expect:\s*((?:[A-Z]+\d+@\d+\s*)+)")


def fixture_files(kind):
    return sorted(p for p in FIXTURES.glob(f"*/*.{kind}.*") if p.is_file())


def options_for(path: Path) -> dict:
    first = path.read_text().splitlines()[0]
    m = re.match(r"#\s*nginx-version:\s*([\d.]+)", first)
    return {"nginx_version": tuple(int(x) for x in m.group(1).split("."))} if m else {}


def expected(path: Path) -> set:
    out = set()
    for number, line in enumerate(path.read_text().splitlines(), 1):
        m = EXPECT.search(line)
        if m:
            for item in m.group(1).split():
                code, col = item.split("@")
                out.add((code, number, int(col)))
    return out


def found(path: Path) -> set:
    report = lint([str(path)], server=path.parent.name, **options_for(path))
    assert not report.errors, report.errors
    return {(r.rule.code, r.span.line, r.span.column) for r in report.findings}


@pytest.mark.parametrize("path", fixture_files("bad"), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_bad_fixture_has_exactly_the_marked_findings(path):
    want = expected(path)
    assert want, "a bad fixture must mark at least one expected finding"
    assert found(path) == want


@pytest.mark.parametrize("path", fixture_files("good"), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_good_fixture_is_clean(path):
    assert found(path) == set()


def test_every_rule_has_a_bad_fixture():
    from linter.rule import load_rules

    marked = set()
    for path in fixture_files("bad"):
        marked |= {code for code, _, _ in expected(path)}
    missing = [r.code for r in load_rules() if r.code not in marked]
    assert not missing, f"rules without a bad fixture: {missing}"
