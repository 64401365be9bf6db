"""The README stays true: its rule table is generated from the rules, its commands are the ones CI runs."""
import re
from pathlib import Path

from linter.docs import BEGIN, END, rule_table

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_rule_table_is_generated_from_the_rules():
    table = README.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert table == rule_table(), "run: python -m linter.docs --write README.md"


def test_ci_runs_the_readme_test_command():
    commands = re.findall(r"```sh\n(.*?)\n```", README, re.S)
    test_command = next(c for c in commands if "pytest" in c)
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci.splitlines()


def test_every_rule_has_its_page_and_the_pages_are_current():
    from linter.docs import rule_page
    from linter.rule import load_rules

    pages = ROOT / "docs" / "rules"
    builtin = load_rules(plugins=False)
    assert sorted(p.stem for p in pages.glob("*.md")) == sorted(r.code for r in builtin), \
        "run: python -m linter.docs --write-pages docs/rules"
    for r in builtin:
        assert (pages / f"{r.code}.md").read_text(encoding="utf-8") == rule_page(r), \
            f"{r.code}: run python -m linter.docs --write-pages docs/rules"
