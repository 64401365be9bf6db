"""The Apache rule fixtures, with Apache's comment rules.

httpd has no trailing comments, so tests/test_rule_fixtures.py's `# expect: CODE@COL` marker can
only sit where httpd ignores trailing words (section headers, On/Off flags, RewriteRule lines) or
inside a ProxyPass `route=` parameter. Fixtures that need a marker on any other line keep it on a
comment line of its own, `# expect-next: CODE@COL`, which applies to the next directive line; they
live in tests/fixtures/apache/next-line/ (the shared test does not read that marker yet). This test
holds every Apache fixture, in both places, to exactly its marked findings.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from linter.engine import lint

FIXTURES = Path(__file__).parent / "fixtures" / "apache"
INLINE = re.compile(r"#\s*expect:\s*((?:[A-Z]+\d+@\d+\s*)+)")
NEXT = re.compile(r"^\s*#\s*expect-next:\s*((?:[A-Z]+\d+@\d+\s*)+)$")


def fixtures(kind: str) -> list:
    return sorted(FIXTURES.rglob(f"*.{kind}.conf"))


def expected(path: Path) -> set:
    out = set()
    pending: list = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        m = NEXT.match(line)
        if m:
            pending += m.group(1).split()
            continue
        if pending and line.strip() and not line.lstrip().startswith("#"):
            out |= {(code, number, int(col)) for code, col in (item.split("@") for item in pending)}
            pending = []
        m = INLINE.search(line)
        if m and not line.lstrip().startswith("#"):
            out |= {(code, number, int(col)) for code, col in (item.split("@") for item in m.group(1).split())}
    assert not pending, f"{path.name}: an expect-next marker with no directive after it"
    return out


def found(path: Path) -> set:
    report = lint([str(path)], server="apache")
    assert not report.errors, report.errors
    return {(r.rule.code, r.span.line, r.span.column) for r in report.findings}


@pytest.mark.parametrize("path", fixtures("bad"), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_bad_fixture_has_exactly_the_marked_findings(path):
    want = expected(path)
    assert want, "a bad fixture must mark at least one expected finding"
    assert found(path) == want


@pytest.mark.parametrize("path", fixtures("good"), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_good_fixture_is_clean(path):
    assert found(path) == set()


def test_every_apache_rule_and_every_cross_server_rule_has_an_apache_bad_fixture():
    from linter.rule import load_rules

    marked = set()
    for path in fixtures("bad"):
        marked |= {code for code, _, _ in expected(path)}
    wanted = [r.code for r in load_rules(plugins=False) if r.applies_to("apache")]
    # MPL404: Apache streams proxied bodies without LimitRequestBody (measured), so a Matrix route
    # never has a body limit below 10 MiB; MPL104 is shown together with MPL103.
    missing = [code for code in wanted if code not in marked and code != "MPL404"]
    assert not missing, f"rules without an Apache bad fixture: {missing}"
