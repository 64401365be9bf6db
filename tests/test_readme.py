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
